"""Shared fixtures: a temporary home with a key. Helpers that build inputs are in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.ingest.privacy import create_key
from pipelines.storage.home import Home


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """An empty home folder with a pseudonymization key."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    return home
