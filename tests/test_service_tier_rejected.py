"""A request whose service tier is none the price book could know (`turbo`, a hostile string) is rejected by every
adapter that reads a tier, named by file, row and field and kept in audit.rejected_rows, while the rest of its file
loads and the run goes on. Before, it reached staging and its blocking contract stopped every run until someone
edited the provider's log."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
from helpers import envelope, land, otel_line, sample_usage

from pipelines.adapters.envelope import parse_envelope
from pipelines.adapters.litellm import parse_litellm
from pipelines.adapters.otel import parse_otel
from pipelines.adapters.providers import SERVICE_TIERS
from pipelines.runner import run_pipeline

OPENAI = sample_usage("openai_chat_completions_usage.json")
LITELLM = json.loads((Path(__file__).resolve().parent / "fixtures" / "litellm" / "litellm_spendlogs_row.json").read_text())
EXPECTED = "(expected one of standard, batch, flex, priority, scale, provisioned_throughput, on_demand_flex, on_demand_priority, fast)"


def _lines() -> list[str]:
    return [
        envelope("ok-1", "openai", "gpt-4o-2024-08-06", OPENAI),
        envelope("turbo", "openai", "gpt-4o-2024-08-06", OPENAI, service_tier="Turbo"),
        envelope("ok-2", "openai", "gpt-4o-2024-08-06", OPENAI, service_tier="batch"),
        envelope("hostile", "openai", "gpt-4o-2024-08-06", OPENAI, service_tier="x'); drop table t; --" + "y" * 500),
        envelope("json-like", "openai", "gpt-4o-2024-08-06", OPENAI, service_tier="[flex]"),  # a string, not an array
    ]


def _warehouse(home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_an_unknown_tier_is_rejected_named_and_the_run_prices_the_rest(home):
    land(home, "2026-11-27/plain.jsonl", _lines())
    gz = home.gateway_landing("envelope") / "2026-11-27" / "whole.jsonl.gz"  # a gzip file is read whole first
    gz.write_bytes(gzip.compress(("\n".join(line.replace('"ok-', '"gz-').replace('"turbo"', '"gz-turbo"').replace('"hostile"', '"gz-h"').replace('"json-like"', '"gz-j"')
                                            for line in _lines()) + "\n").encode()))

    summary = run_pipeline(home, progress=lambda _: None)

    assert summary.ingest["rows_loaded"] == 4 and summary.ingest["rows_rejected"] == 6
    assert _warehouse(home, "select request_id, service_tier, is_priced from core.request_costs order by request_id") == [
        ("gz-1", "standard", True), ("gz-2", "batch", True), ("ok-1", "standard", True), ("ok-2", "batch", True),
    ]
    # the first 40 characters of the tier as read (lower-cased), whatever it holds
    rejected = _warehouse(home, "select source_file, row_number, field, reason from audit.rejected_rows order by source_file, row_number")
    assert rejected == [
        ("gateway/envelope/2026-11-27/plain.jsonl", 2, "service_tier", f"unknown service tier 'turbo' {EXPECTED}"),
        ("gateway/envelope/2026-11-27/plain.jsonl", 4, "service_tier", f"unknown service tier 'x'); drop table t; --{'y' * 19}' {EXPECTED}"),
        ("gateway/envelope/2026-11-27/plain.jsonl", 5, "service_tier", f"unknown service tier '[flex]' {EXPECTED}"),
        ("gateway/envelope/2026-11-27/whole.jsonl.gz", 2, "service_tier", f"unknown service tier 'turbo' {EXPECTED}"),
        ("gateway/envelope/2026-11-27/whole.jsonl.gz", 4, "service_tier", f"unknown service tier 'x'); drop table t; --{'y' * 19}' {EXPECTED}"),
        ("gateway/envelope/2026-11-27/whole.jsonl.gz", 5, "service_tier", f"unknown service tier '[flex]' {EXPECTED}"),
    ]


def test_a_tier_object_copied_whole_is_rejected_not_priced_as_standard():
    """Bedrock's Converse response names its tier in an object outside usage (`"serviceTier": {"type": "priority"}`,
    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ServiceTier.html); a gateway that copies
    the object into the envelope's `service_tier` has its record rejected, named, rather than billed at 1/1.75 of
    the Priority price."""
    nova = {"inputTokens": 100, "outputTokens": 10, "totalTokens": 110}
    lines = [envelope(f"n{i}", "aws_bedrock", "us.amazon.nova-pro-v1:0", nova, service_tier=tier)
             for i, tier in enumerate(({"type": "priority"}, ["flex"], "priority"))]
    result = parse_envelope(("\n".join(lines) + "\n").encode(), "bedrock.jsonl")
    assert [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        (1, "service_tier", "not a string (found object)"), (2, "service_tier", "not a string (found array)"),
    ]
    assert result.rows["service_tier"].to_pylist() == ["priority"]


def test_litellm_and_otel_reject_an_unknown_tier_and_keep_the_known_ones():
    records = [dict(LITELLM, request_id=f"r-{tier}", metadata=dict(LITELLM["metadata"], service_tier=tier)) for tier in ("priority", "Turbo")]
    result = parse_litellm(("\n".join(json.dumps(r) for r in records) + "\n").encode(), "spend.jsonl")
    assert result.rows["service_tier"].to_pylist() == ["priority"]
    (reason,) = result.rejected.to_pylist()
    assert (reason["row_number"], reason["field"], reason["reason"]) == (2, "metadata.service_tier", f"unknown service tier 'turbo' {EXPECTED}")

    lines = [otel_line({"openai.response.service_tier": tier, "gen_ai.response.id": f"c-{tier}"}, {}) for tier in ("flex", "warp")]
    spans = parse_otel(("\n".join(lines) + "\n").encode(), "traces.jsonl")
    assert spans.rows["service_tier"].to_pylist() == ["flex"]
    (reason,) = spans.rejected.to_pylist()
    assert (reason["field"], reason["reason"]) == ("openai.response.service_tier", f"unknown service tier 'warp' {EXPECTED}")


def test_every_tier_ingestion_lets_in_is_one_the_staging_contract_accepts():
    from pipelines.warehouse.contracts import STAGING

    (tiers,) = [e.kwargs["value_set"] for e in STAGING.expectations if e.column == "service_tier"]
    assert tiers == list(SERVICE_TIERS)
