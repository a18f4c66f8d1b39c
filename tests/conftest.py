"""Shared fixtures: a temporary home with a key, and envelope lines built from the shared samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.home import Home
from pipelines.privacy import create_key

FORMATS = Path(__file__).resolve().parents[1].parent / "shared" / "formats"
if not FORMATS.is_dir():
    FORMATS = Path(__file__).resolve().parent / "fixtures" / "formats"


def sample_usage(name: str) -> dict:
    """The `usage` object of a provider response sample in shared/formats (copied under tests/fixtures)."""
    return json.loads((FORMATS / name).read_text())["usage"]


def envelope(request_id: str, provider: str, model: str, usage: dict | int | None, **fields) -> str:
    record = {
        "request_id": request_id,
        "timestamp": "2026-11-27T10:15:02.120Z",
        "provider": provider,
        "model": model,
        "service_tier": "default",
        "feature": "support_chat",
        "user_id": "u_1842",
        "user_segment": "enterprise",
        "customer_id": "acme",
        "conversation_id": "c_77",
        "usage": usage,
    }
    record.update(fields)
    return json.dumps(record)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """An empty home folder with a pseudonymization key."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    return home


def land(home: Home, name: str, lines: list[str]) -> Path:
    """Write envelope lines into landing/gateway/envelope/<name>."""
    path = home.gateway_landing("envelope") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
