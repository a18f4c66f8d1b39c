"""Helpers for building test inputs: envelope lines from the provider samples, and landing them in a home."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from pipelines.storage.home import Home

FORMATS = Path(__file__).resolve().parent / "fixtures" / "formats"
"""Provider and gateway samples (copies of the project's format samples), read only from the repository."""


LITELLM_COLUMNS = [r["column"] for r in csv.DictReader((FORMATS.parent / "litellm" / "litellm_spendlogs_columns.csv").open())]
"""The columns of LiteLLM's LiteLLM_SpendLogs table, in order."""


def litellm_csv(*records: dict) -> bytes:
    """LiteLLM spend-log records as a CSV export of LiteLLM_SpendLogs: every column, JSON cells as JSON text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LITELLM_COLUMNS)
    for record in records:
        writer.writerow([json.dumps(record.get(c)) if isinstance(record.get(c), (dict, list)) else
                         ("" if record.get(c) is None else record.get(c)) for c in LITELLM_COLUMNS])
    return buffer.getvalue().encode()


def sample_usage(name: str) -> dict:
    """The `usage` object of a provider response sample under tests/fixtures/formats."""
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


def land(home: Home, name: str, lines: list[str]) -> Path:
    """Write envelope lines into landing/gateway/envelope/<name>."""
    path = home.gateway_landing("envelope") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def otel_line(span_attributes: dict, resource: dict) -> str:
    """One OTLP JSON traces line: a chat span of gpt-4o (10 input, 2 output tokens) with `span_attributes` on top, under a
    resource with `resource` attributes; every value a string."""
    attributes = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.id": "chatcmpl-1", "gen_ai.usage.input_tokens": "10", "gen_ai.usage.output_tokens": "2",
        **span_attributes,
    }
    span = {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
        "startTimeUnixNano": "1730419200000000000", "endTimeUnixNano": "1730419200812000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }
    res = {"attributes": [{"key": k, "value": {"stringValue": v}} for k, v in resource.items()]}
    return json.dumps({"resourceSpans": [{"resource": res, "scopeSpans": [{"spans": [span]}]}]})
