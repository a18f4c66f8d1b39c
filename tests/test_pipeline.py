"""End to end through Dagster on a temporary home: exact money, audit, idempotence, unpriced models."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from helpers import envelope, land, sample_usage

from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

CONTRACT = {
    "core.request_costs": {
        "request_id", "occurred_at", "event_date", "provider", "model", "service_tier", "feature", "user_id",
        "user_segment", "customer_id", "conversation_id", "input_tokens", "cache_read_tokens",
        "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens", "reasoning_tokens", "price_id",
        "cost_usd", "is_priced", "unpriced_reason",
    },
    "marts.daily_spend": {
        "event_date", "feature", "user_segment", "provider", "model", "service_tier", "requests", "input_tokens",
        "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens", "reasoning_tokens",
        "cost_usd", "unpriced_requests",
    },
    "marts.price_coverage": {"provider", "model", "requests", "tokens", "first_seen", "last_seen"},
    "audit.ingested_files": {
        "path", "sha256", "format", "rows_read", "rows_loaded", "rows_rejected", "rows_duplicate", "ingested_at",
    },
    "audit.rejected_rows": {"source_file", "row_number", "field", "reason", "record", "byte_offset", "byte_length", "record_sha256"},
}


def _query(home: Home, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _samples() -> list[str]:
    return [
        envelope("req_openai", "openai", "gpt-4o-2024-08-06", sample_usage("openai_chat_completions_usage.json")),
        envelope("req_anthropic", "anthropic", "claude-3-5-sonnet-20241022", sample_usage("anthropic_messages_usage.json"), service_tier="standard"),
    ]


def _quiet(_: str) -> None:
    return None


def test_shared_samples_price_to_the_cent(home):
    land(home, "samples.jsonl", _samples())
    run_pipeline(home, progress=_quiet)
    costs = dict(_query(home, "select request_id, cost_usd from core.request_costs"))
    assert costs == {"req_openai": Decimal("0.005615"), "req_anthropic": Decimal("0.016635")}
    price_ids = dict(_query(home, "select request_id, price_id from core.request_costs"))
    assert price_ids == {
        "req_openai": "openai/gpt-4o-2024-08-06@2024-10-01/standard",
        "req_anthropic": "anthropic/claude-3-5-sonnet-20241022@2024-10-22/standard",
    }
    buckets = _query(
        home,
        "select input_cost_usd, cache_read_cost_usd, cache_write_5m_cost_usd, cache_write_1h_cost_usd, output_cost_usd "
        "from core.request_costs where request_id = 'req_anthropic'",
    )
    assert buckets == [(Decimal("0.00036"), Decimal("0.0024"), Decimal("0.005625"), Decimal("0.003"), Decimal("0.00525"))]


def test_json_documents_land_as_delivered(home):
    """A `.json` file of a JSON Lines format is one document: a record (the shared Helicone, LiteLLM and Portkey samples,
    pretty-printed, as delivered: they failed as 'unsupported file type') or an array of records, row n its record n.
    Dollars as the one-line forms give them (test_helicone/litellm/portkey_adapter: $0.015510, $0.029610, $0.008015)."""
    fixtures = Path(__file__).resolve().parent / "fixtures"
    for fmt, name in (("helicone", "helicone_request_response_rmt_row.json"), ("litellm", "litellm_spendlogs_row.json"),
                      ("portkey", "portkey_log_export_row.json")):
        folder = home.gateway_landing(fmt)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes((fixtures / fmt / name).read_bytes())
    records = [json.loads(envelope(f"arr{i}", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 100}))
               for i in range(2)]
    records += [[1, 2], json.loads(envelope("neg", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": -1, "completion_tokens": 1}))]
    envelopes = home.gateway_landing("envelope")
    envelopes.mkdir(parents=True, exist_ok=True)
    (envelopes / "array.json").write_text(json.dumps(records, indent=2))
    (envelopes / "one.json.gz").write_bytes(gzip.compress(json.dumps({**records[0], "request_id": "gz"}, indent=1).encode()))
    (envelopes / "broken.json").write_text('{"request_id": ')
    # a record DuckDB's parser refuses (a lone surrogate) is that record's rejection, not the document's failure
    lone = [json.loads(envelope("ok", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 100})),
            json.loads(envelope("lone", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1, "completion_tokens": 1}, feature="x\ud800"))]
    (envelopes / "lone.json").write_text(json.dumps(lone, indent=1))
    run_pipeline(home, progress=_quiet)
    costs = dict(_query(home, "select request_id, cost_usd from core.request_costs"))
    assert costs == {
        "6f1d9d2c-0000-4000-8000-000000000001": Decimal("0.01551"),  # Helicone
        "chatcmpl-9f2c1a7e-1b2d-4c3e-8f4a-000000000001": Decimal("0.02961"),  # LiteLLM
        "3c90c3cc-0d44-4b50-8888-8dd25736052a": Decimal("0.008015"),  # Portkey
        "arr0": Decimal("0.0035"), "arr1": Decimal("0.0035"), "gz": Decimal("0.0035"), "ok": Decimal("0.0035"),  # 1000 x $2.50 + 100 x $10 per 1M
    }
    rejected = _query(home, "select source_file, row_number, byte_offset, field, reason from audit.rejected_rows order by all")
    assert rejected == [
        ("gateway/envelope/array.json", 3, None, "", "record is not a JSON object (found array)"),
        ("gateway/envelope/array.json", 4, None, "usage.prompt_tokens", "negative token count"),
        ("gateway/envelope/lone.json", 2, None, "feature", "invalid JSON: a string holds a lone surrogate escape (\\ud800), not a Unicode character"),
    ]
    files = {path: (status, error) for path, status, error in _query(home, "select path, status, error from audit.ingested_files")}
    assert files["gateway/envelope/broken.json"] == (
        "failed", "not one JSON document (Invalid Input Error: Malformed JSON at byte 15 of input: unexpected end of data.)")
    assert {status for path, (status, _) in files.items() if path != "gateway/envelope/broken.json"} == {"loaded"}


def test_warehouse_holds_the_contract_tables(home):
    land(home, "samples.jsonl", _samples())
    run_pipeline(home, progress=_quiet)
    for table, columns in CONTRACT.items():
        schema, name = table.split(".")
        found = {row[0] for row in _query(home, "select column_name from information_schema.columns where table_schema = ? and table_name = ?", [schema, name])}
        assert columns <= found, f"{table} lacks {sorted(columns - found)}"
    money = _query(home, "select data_type from information_schema.columns where table_name = 'request_costs' and column_name = 'cost_usd'")
    assert money == [("DECIMAL(38,15)",)]


def test_bad_lines_are_rejected_with_reasons_and_the_rest_loads(home):
    lines = _samples() + [
        '{"request_id": "cut", "timestamp": ',
        envelope("neg", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": -5, "completion_tokens": 3}),
        envelope("naive", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 5, "completion_tokens": 3}, timestamp="2026-11-27T10:00:00"),
        envelope("", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 5, "completion_tokens": 3}),
        envelope("frac", "anthropic", "claude-3-5-sonnet-20241022", {"input_tokens": 2.5, "output_tokens": 3}),
    ]
    land(home, "mixed.jsonl", lines)
    run_pipeline(home, progress=_quiet)
    rejected = _query(home, "select row_number, field, reason from audit.rejected_rows order by row_number")
    assert rejected == [
        (3, "", "invalid JSON"),
        (4, "usage.prompt_tokens", "negative token count"),
        (5, "timestamp", "timestamp has no UTC offset: '2026-11-27T10:00:00'"),
        (6, "request_id", "missing required field"),
        (7, "usage.input_tokens", "token count is not a whole number"),
    ]
    unparsed = _query(home, "select record, byte_offset, byte_length, record_sha256 from audit.rejected_rows where row_number = 3")
    record, offset, length, digest = unparsed[0]
    raw = lines[2].encode()
    assert record is None and length == len(raw) and digest == hashlib.sha256(raw).hexdigest()
    assert offset == len(lines[0].encode()) + len(lines[1].encode()) + 2
    files = _query(home, "select rows_read, rows_loaded, rows_rejected, rows_duplicate from audit.ingested_files")
    assert files == [(7, 2, 5, 0)]
    assert _query(home, "select count(*) from core.request_costs") == [(2,)]


def test_rejected_records_keep_no_raw_user_id(home):
    land(home, "bad.jsonl", [envelope("neg", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": -5, "completion_tokens": 3}, messages=[{"role": "user", "content": "SENTINEL-PROMPT"}])])
    run_pipeline(home, progress=_quiet)
    (record,) = _query(home, "select record from audit.rejected_rows")[0]
    assert "u_1842" not in record and "SENTINEL-PROMPT" not in record and '"user_id":"p_' in record.replace(" ", "")
    assert _query(home, "select count(*) from core.request_costs") == [(0,)]


def test_duplicate_request_is_counted_not_billed_twice(home):
    samples = _samples()
    land(home, "a.jsonl", samples + [samples[0]])
    land(home, "b.jsonl", [samples[1]])
    run_pipeline(home, progress=_quiet)
    # inside a file: written once, counted in rows_duplicate; across files: each file writes its record, the
    # final one counts (the same time: the later file name) and the other is in audit.duplicate_requests
    assert _query(home, "select path, rows_loaded, rows_duplicate from audit.ingested_files order by path") == [
        ("gateway/envelope/a.jsonl", 2, 1),
        ("gateway/envelope/b.jsonl", 1, 0),
    ]
    assert _query(home, "select request_id, source_file, reason, kept_source_file from audit.duplicate_requests") == [
        (json.loads(samples[1])["request_id"], "gateway/envelope/a.jsonl", "superseded", "gateway/envelope/b.jsonl")
    ]
    assert _query(home, "select count(*), sum(cost_usd) from core.request_costs") == [(2, Decimal("0.022250"))]


def test_unknown_model_is_flagged_and_counted_never_zero(home):
    land(home, "unknown.jsonl", _samples() + [envelope("mystery", "openai", "gpt-9-preview", {"prompt_tokens": 1000, "completion_tokens": 10})])
    summary = run_pipeline(home, progress=_quiet)
    assert summary.warnings == ["marts/price_coverage every_model_priced: 1 of 3 requests have no price: openai/gpt-9-preview (1)"]
    assert _query(home, "select is_priced, unpriced_reason, cost_usd, price_id from core.request_costs where request_id = 'mystery'") == [
        (False, "unknown_model", None, None)
    ]
    assert _query(home, "select provider, model, requests, tokens from marts.price_coverage") == [("openai", "gpt-9-preview", 1, 1010)]
    assert _query(home, "select sum(unpriced_requests), sum(cost_usd) from marts.daily_spend") == [(1, Decimal("0.022250"))]


def test_price_in_effect_at_the_request_time_is_used(home):
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    land(home, "o3.jsonl", [
        envelope("before", "openai", "o3-2025-04-16", usage, timestamp="2025-06-09T23:59:59Z"),
        envelope("after", "openai", "o3-2025-04-16", usage, timestamp="2025-06-10T00:00:00Z"),
        envelope("batch", "anthropic", "claude-3-5-sonnet-20241022", usage, service_tier="batch"),
        envelope("flex", "openai", "gpt-4o-2024-08-06", usage, service_tier="flex"),
        # Anthropic's undated names take their snapshot's prices, batch tier and history included (the API's
        # "-latest" aliases; Message Batches are 50% of every rate: $0.40 / $2 per 1M after the Dec 2024 cut).
        envelope("haiku-latest", "anthropic", "claude-3-5-haiku-latest", usage, service_tier="batch", timestamp="2025-01-10T00:00:00Z"),
        envelope("sonnet-latest", "anthropic", "claude-3-5-sonnet-latest", usage, service_tier="batch", timestamp="2024-08-01T00:00:00Z"),
    ])
    run_pipeline(home, progress=_quiet)
    rows = dict((r[0], r[1:]) for r in _query(home, "select request_id, cost_usd, price_id, unpriced_reason from core.request_costs"))
    assert rows["before"] == (Decimal("50"), "openai/o3-2025-04-16@2025-04-16/standard", None)
    assert rows["after"] == (Decimal("10"), "openai/o3-2025-04-16@2025-06-10/standard", None)
    assert rows["batch"] == (Decimal("9"), "anthropic/claude-3-5-sonnet-20241022@2024-10-22/batch", None)
    assert rows["flex"] == (None, None, "unknown_tier")
    assert rows["haiku-latest"] == (Decimal("2.4"), "anthropic/claude-3-5-haiku-20241022@2024-12-01/batch", None)
    assert rows["sonnet-latest"] == (Decimal("9"), "anthropic/claude-3-5-sonnet-20240620@2024-06-20/batch", None)


def test_rerun_leaves_identical_marts(home):
    land(home, "samples.jsonl", _samples())
    run_pipeline(home, progress=_quiet)
    first = _fingerprint(home)
    run_pipeline(home, progress=_quiet)
    run_pipeline(home, start=dt.date(2026, 11, 27), end=dt.date(2026, 11, 27), progress=_quiet)
    assert _fingerprint(home) == first
    # a re-price of half a year around the one day with requests prices that day alone (each day of a range costs
    # Dagster's events of four assets: 190 days with one of data took 39 s, 20 s without the empty ones)
    lines: list[str] = []
    summary = run_pipeline(home, start=dt.date(2026, 6, 1), end=dt.date(2026, 12, 7), progress=lines.append)
    assert summary.dates == [dt.date(2026, 11, 27)]
    assert "189 of the 190 dates from 2026-06-01 to 2026-12-07 hold no request: nothing to re-price on them" in lines
    assert _fingerprint(home) == first
    assert _query(home, "select count(*) from audit.ingested_files") == [(1,)]


def test_slow_steps_show_their_progress_on_the_terminal(home, monkeypatch):
    """Each landed file and each daily table a run builds is a line under its stage once a step is slow: a day of
    ten million requests is a minute of ingesting and of pricing, never a minute of silence. Here every step counts
    as slow."""
    import pipelines.defs.console as console

    monkeypatch.setattr(console, "SLOW_SECONDS", 0.0)
    land(home, "samples.jsonl", _samples())
    lines: list[str] = []
    run_pipeline(home, progress=lines.append)
    assert "  [1/1] gateway/envelope/samples.jsonl: 2 loaded, 0 rejected, 0 duplicate" in lines
    built = [line for line in lines if line.startswith("  built ")]
    core = next(line for line in built if line.startswith("  built core.request_costs 2026-11-27: 2 rows in "))
    assert any(line.startswith("  built staging.stg_gateway_requests 2026-11-27: 2 rows in ") for line in built), lines
    assert lines.index("materializing 2026-11-27") < lines.index(core) < lines.index(next(x for x in lines if x.startswith("refreshing")))
    assert console._sinks == []  # the run's terminal is let go


def test_changed_file_replaces_the_rows_it_contributed(home):
    path = land(home, "samples.jsonl", _samples())
    run_pipeline(home, progress=_quiet)
    land(home, "samples.jsonl", _samples()[:1] + [envelope("moved", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 10, "completion_tokens": 1}, timestamp="2026-11-25T08:00:00Z")])
    summary = run_pipeline(home, progress=_quiet)
    assert summary.dates == [dt.date(2026, 11, 25), dt.date(2026, 11, 27)]
    assert _query(home, "select request_id from core.request_costs order by request_id") == [("moved",), ("req_openai",)]
    assert _query(home, "select event_date, sum(requests) from marts.daily_spend group by 1 order by 1") == [
        (dt.date(2026, 11, 25), 1),
        (dt.date(2026, 11, 27), 1),
    ]
    assert path.exists()


def test_gzip_files_ingest_and_user_ids_are_pseudonymized(home):
    import gzip

    path = home.gateway_landing("envelope") / "day.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(_samples()) + "\n").encode()))
    run_pipeline(home, progress=_quiet)
    users = _query(home, "select distinct user_id from core.request_costs")
    assert len(users) == 1 and users[0][0].startswith("p_") and users[0][0] != "u_1842"
    lake_text = b"".join(p.read_bytes() for p in home.lake.rglob("*.parquet"))
    assert b"u_1842" not in lake_text


def _fingerprint(home: Home) -> dict[str, str]:
    tables = ["core.request_costs", "marts.daily_spend", "marts.price_coverage", "staging.stg_gateway_requests", "marts.scenarios"]
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return {
            table: hashlib.sha256(repr(con.execute(f"select * from {table} order by all").fetchall()).encode()).hexdigest()
            for table in tables
        }


@pytest.mark.skipif(os.environ.get("TOKENLEDGER_PSEUDONYM_KEY") is not None, reason="key comes from the environment")
def test_missing_key_is_a_clear_error(tmp_path):
    from pipelines.ingest.privacy import MissingKeyError

    bare = Home.at(tmp_path / "bare").ensure()
    land(bare, "samples.jsonl", _samples())
    with pytest.raises(Exception) as caught:
        run_pipeline(bare, progress=_quiet)
    assert "no pseudonymization key" in str(caught.value) or isinstance(caught.value, MissingKeyError)


def test_cumulative_streaming_records_count_once_with_final_usage(home):
    partial = {"input_tokens": 100, "cache_read_input_tokens": 0, "output_tokens": 1}
    final = {"input_tokens": 100, "cache_read_input_tokens": 0, "output_tokens": 250}
    other = {"input_tokens": 50, "output_tokens": 300}
    land(home, "stream.jsonl", [
        envelope("s1", "anthropic", "claude-3-5-sonnet-20241022", partial, timestamp="2026-11-27T10:00:00.000Z"),
        envelope("s1", "anthropic", "claude-3-5-sonnet-20241022", final, timestamp="2026-11-27T10:00:02.000Z"),
        envelope("c1", "anthropic", "claude-3-5-sonnet-20241022", final),
        envelope("c1", "anthropic", "claude-3-5-sonnet-20241022", other),
    ])
    run_pipeline(home, progress=_quiet)
    tokens = dict((r[0], r[1:]) for r in _query(home, "select request_id, input_tokens, output_tokens from core.request_costs"))
    assert tokens == {"s1": (100, 250), "c1": (50, 300)}  # a conflict: the final record still counts
    assert _query(home, "select rows_read, rows_loaded, rows_duplicate, duplicate_conflicts from audit.ingested_files") == [(4, 2, 2, 1)]


def test_failed_contract_leaves_the_last_good_marts(home):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    from pipelines.runner import PipelineFailed

    land(home, "samples.jsonl", _samples())
    run_pipeline(home, progress=_quiet)
    good = _fingerprint(home)
    (lake_file,) = (home.lake / "gateway_requests" / "event_date=2026-11-27").glob("*.parquet")
    table = pq.read_table(lake_file)
    tampered = table.set_column(table.schema.get_field_index("output_tokens"), "output_tokens", pc.negate(table["output_tokens"]))
    pq.write_table(tampered, lake_file)
    with pytest.raises(PipelineFailed) as caught:
        run_pipeline(home, start=dt.date(2026, 11, 27), end=dt.date(2026, 11, 27), progress=_quiet)
    assert "lake_to_staging" in str(caught.value)
    assert "expect_column_values_to_be_between output_tokens (2 unexpected, e.g. -300, -350)" in str(caught.value)
    assert "expect_compound_columns_to_be_unique" not in str(caught.value)  # the breaking rows are in GX's sample once
    after = _fingerprint(home)
    assert after["marts.daily_spend"] == good["marts.daily_spend"]
    assert after["core.request_costs"] == good["core.request_costs"]
    # write-audit-publish: the rows that broke the contract never reached the lake's staging table either
    staging = DeltaTable(str(home.lake / "tables" / "staging" / "stg_gateway_requests"))
    assert staging.version() == 0
    assert min(staging.to_pyarrow_table(columns=["output_tokens"])["output_tokens"].to_pylist()) >= 0


def test_gemini_bedrock_cliffs_and_match_rules_price_by_hand(home):
    import json

    from helpers import FORMATS

    gemini = json.loads((FORMATS / "gemini_generate_content_usage_metadata.json").read_text())["usageMetadata"]
    land(home, "more.jsonl", [
        envelope("gemini", "google", "gemini-2.5-flash", gemini, service_tier=None),
        envelope("bedrock", "aws_bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", sample_usage("bedrock_converse_usage.json"), service_tier=None),
        envelope("long", "google", "gemini-2.5-pro", {"promptTokenCount": 250_000, "candidatesTokenCount": 1000}, service_tier=None),
        envelope("short", "google", "gemini-2.5-pro", {"promptTokenCount": 200_000, "candidatesTokenCount": 1000}, service_tier=None),
        envelope("latest", "anthropic", "claude-3-sonnet-20240229", {"input_tokens": 1_000_000, "output_tokens": 0}, service_tier=None),
        envelope("responses", "openai", "o4-mini-2025-04-16", sample_usage("openai_responses_usage.json")),
    ])
    run_pipeline(home, progress=_quiet)
    rows = {r[0]: r[1:] for r in _query(home, "select request_id, cost_usd, price_id from core.request_costs")}
    # Gemini: promptTokenCount includes the 8000 cached; thoughts (600) are billed as output beside 400 candidates.
    # 4000 x 0.30 + 8000 x 0.03 + (400 + 600) x 2.50 per 1M = 0.003940
    assert rows["gemini"] == (Decimal("0.003940"), "google/gemini-2.5-flash@2026-10-14/standard")
    # Bedrock Converse: inputTokens exclude the cache. 120 x 3 + 8000 x 0.30 + 2000 x 3.75 + 350 x 15 per 1M = 0.015510
    assert rows["bedrock"] == (Decimal("0.015510"), "aws_bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0@undated/standard")
    # Above 200K input tokens the whole request moves to the long-context rates: 250000 x 2.50 + 1000 x 15 per 1M.
    assert rows["long"] == (Decimal("0.640000"), "google/gemini-2.5-pro@2026-10-14/standard/input>200000")
    assert rows["short"] == (Decimal("0.260000"), "google/gemini-2.5-pro@2026-10-14/standard/input<=200000")
    # A name only a match rule knows is priced by the entry the rule names.
    assert rows["latest"] == (Decimal("3.000000"), "anthropic/claude-3-sonnet@undated/standard")
    # OpenAI Responses: input 5200 includes 4096 cached; output 1450 includes 1024 reasoning (billed at the output rate).
    # 1104 x 1.10 + 4096 x 0.275 + (426 + 1024) x 4.40 per 1M = 0.0087208
    assert rows["responses"] == (Decimal("0.0087208"), "openai/o4-mini-2025-04-16@2026-10-12/standard")


def test_claude_sonnet_batch_above_200k_input_stacks_long_context_with_the_batch_discount(home):
    """Anthropic's pricing page: long-context rates (input above 200K tokens) apply to every token of the request and
    stack with the Batch API's 50% discount. A Message Batches result's usage (`service_tier: batch`), on the dated
    ids of Claude Sonnet 4.5 and Claude Sonnet 4 and on Sonnet 4.5's alias, costs the same whichever name is logged."""
    usage = {"input_tokens": 250_000, "output_tokens": 1000, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "service_tier": "batch"}
    short = {**usage, "input_tokens": 150_000}
    land(home, "batch.jsonl", [
        envelope("s45-long", "anthropic", "claude-sonnet-4-5-20250929", usage, service_tier=None),
        envelope("s45-alias-long", "anthropic", "claude-sonnet-4-5", usage, service_tier=None),
        envelope("s4-long", "anthropic", "claude-sonnet-4-20250514", usage, service_tier=None),
        envelope("s45-short", "anthropic", "claude-sonnet-4-5-20250929", short, service_tier=None),
    ])
    run_pipeline(home, progress=_quiet)
    rows = {r[0]: r[1:] for r in _query(home, "select request_id, service_tier, cost_usd, price_id from core.request_costs")}
    # 250000 x 3.00 + 1000 x 11.25 per 1M (half of $6 / $22.50)
    assert rows["s45-long"] == ("batch", Decimal("0.76125"), "anthropic/claude-sonnet-4-5-20250929@2025-09-29/batch/input>200000")
    assert rows["s45-alias-long"][:2] == ("batch", Decimal("0.76125"))
    assert rows["s4-long"] == ("batch", Decimal("0.76125"), "anthropic/claude-sonnet-4-20250514@2025-05-22/batch/input>200000")
    # 150000 x 1.50 + 1000 x 7.50 per 1M
    assert rows["s45-short"] == ("batch", Decimal("0.2325"), "anthropic/claude-sonnet-4-5-20250929@2025-09-29/batch/input<=200000")


def test_negotiated_override_beats_the_list_price_and_both_costs_are_kept(home):
    (home.root / "price_overrides.yaml").write_text(
        """
overrides:
  - id: openai-2026-agreement
    provider: openai
    effective_from: 2026-11-01
    discount_pct: 20
    note: 20% off every OpenAI list rate from November 2026
  - id: acme-sonnet
    provider: anthropic
    model: claude-3-5-sonnet-20241022
    account: acme-prod
    effective_from: 2026-01-01
    effective_to: 2027-01-01
    rates: {input: 2.00, output: 10.00}
"""
    )
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    land(home, "contract.jsonl", [
        envelope("discounted", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}),
        envelope("before", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}, timestamp="2026-10-31T23:00:00Z"),
        envelope("acme", "anthropic", "claude-3-5-sonnet-20241022", usage, tags={"account": "acme-prod"}),
        envelope("other", "anthropic", "claude-3-5-sonnet-20241022", usage, tags={"account": "beta"}),
    ])
    run_pipeline(home, progress=_quiet)
    rows = {r[0]: r[1:] for r in _query(home, "select request_id, cost_usd, list_cost_usd, override_id from core.request_costs")}
    assert rows["discounted"] == (Decimal("10.000000"), Decimal("12.500000"), "openai-2026-agreement")
    assert rows["before"] == (Decimal("12.500000"), Decimal("12.500000"), None)
    assert rows["acme"] == (Decimal("12.000000"), Decimal("18.000000"), "acme-sonnet")
    assert rows["other"] == (Decimal("18.000000"), Decimal("18.000000"), None)


def test_negotiated_rates_price_their_tier_below_the_long_context_band_and_not_batch_or_the_band(home):
    """Explicit rates are the standard tier's negotiated price (the override names no service_tier). Applied flat, they
    billed a batch request above its list price ($2 / $10 against Batch's $1.50 / $7.50) and a request above 200K input
    tokens at the base rates (the >200K surcharge gone). Now those pay their list rate less discount_pct (10%).
    Claude Sonnet 4 (list $3 / $15; batch $1.50 / $7.50; above 200K $6 / $22.50), 1M output tokens each:
    standard 100,000 in + 1M out: 0.1 x 2.50 + 1 x 12.00 = 12.25;
    batch 100,000 in + 1M out at 90% of Batch: 0.1 x 1.35 + 1 x 6.75 = 6.885 (list 7.65);
    250,000 in + 1M out above 200K at 90% of the band: 0.25 x 5.40 + 1 x 20.25 = 21.60 (list 24.00)."""
    (home.root / "price_overrides.yaml").write_text(
        """
overrides:
  - id: sonnet-4-contract
    provider: anthropic
    model: claude-sonnet-4-20250514
    effective_from: 2026-01-01
    discount_pct: 10
    rates: {input: 2.50, output: 12.00}
"""
    )
    small, large = {"input_tokens": 100_000, "output_tokens": 1_000_000}, {"input_tokens": 250_000, "output_tokens": 1_000_000}
    land(home, "contract.jsonl", [
        envelope("standard", "anthropic", "claude-sonnet-4-20250514", small),
        envelope("batch", "anthropic", "claude-sonnet-4-20250514", small, service_tier="batch"),
        envelope("long", "anthropic", "claude-sonnet-4-20250514", large),
    ])
    run_pipeline(home, progress=_quiet)
    rows = {r[0]: r[1:] for r in _query(home, "select request_id, cost_usd, list_cost_usd, override_id from core.request_costs")}
    assert rows == {
        "standard": (Decimal("12.25"), Decimal("15.3"), "sonnet-4-contract"),
        "batch": (Decimal("6.885"), Decimal("7.65"), "sonnet-4-contract"),
        "long": (Decimal("21.6"), Decimal("24"), "sonnet-4-contract"),
    }


def test_a_discount_rounds_each_bucket_to_15_decimals_and_the_cost_is_their_sum(home):
    (home.root / "price_overrides.yaml").write_text(
        """
overrides:
  - id: a-third-off
    provider: anthropic
    effective_from: 2026-01-01
    discount_pct: 33.333333333
"""
    )
    usage = {"input_tokens": 1_234_567, "output_tokens": 7, "server_tool_use": {"web_search_requests": 3}}
    land(home, "third.jsonl", [
        envelope("third", "anthropic", "claude-3-5-sonnet-20241022", usage),
        envelope("plain", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 3, "completion_tokens": 1}),
    ])
    run_pipeline(home, progress=_quiet)
    buckets = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "reasoning", "audio", "fees")
    rows = _query(home, f"select request_id, cost_usd, {', '.join(b + '_cost_usd' for b in buckets)}, override_id from core.request_costs order by 1")
    assert [(r[0], r[1] == sum(r[2:-1])) for r in rows] == [("plain", True), ("third", True)]
    third = dict(zip(("request_id", "cost", *buckets, "override"), rows[1]))
    # multiplier 1 - 0.33333333333 = 0.66666666667; effective prices keep 9 decimals: $3 -> $2.000000000, $15 -> $10.000000000
    assert third["input"] == Decimal("2.469134")  # 1,234,567 x $2 / 1M
    assert third["output"] == Decimal("0.00007")  # 7 x $10 / 1M
    assert third["fees"] == Decimal("0.0200000000001")  # 3 x $10 / 1k x 0.66666666667, exact at 15 decimals
    assert third["cost"] == Decimal("2.4892040000001")
    assert third["override"] == "a-third-off"


def test_an_unpriced_request_names_no_override_even_when_its_account_day_has_one(home):
    (home.root / "price_overrides.yaml").write_text(
        """
overrides:
  - id: openai-deal
    provider: openai
    effective_from: 2026-01-01
    discount_pct: 10
"""
    )
    audio = {"prompt_tokens": 1_000_000, "completion_tokens": 0, "prompt_tokens_details": {"audio_tokens": 10}}
    land(home, "deal.jsonl", [
        envelope("priced", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1_000_000, "completion_tokens": 0}),
        envelope("no_audio_price", "openai", "gpt-4o-2024-08-06", audio),
    ])
    run_pipeline(home, progress=_quiet)
    rows = _query(home, "select request_id, is_priced, unpriced_reason, override_id, cost_usd from core.request_costs order by 1")
    assert rows == [
        ("no_audio_price", False, "no_price_for_bucket:audio_input", None, None),
        ("priced", True, None, "openai-deal", Decimal("2.250000")),  # 1M x $2.50 x 0.9
    ]


def test_a_negotiated_audio_rate_is_applied_not_the_discounted_list_rate(home):
    """An override's rates for audio_input / audio_output were accepted and ignored: audio was billed at the list
    rates times the discount. gpt-audio lists text in $2.50, out $10, audio in $32, audio out $64 per 1M."""
    (home.root / "price_overrides.yaml").write_text(
        """
overrides:
  - id: audio-deal
    provider: openai
    model: gpt-audio
    effective_from: 2026-01-01
    discount_pct: 10
    rates: {audio_input: 20.00}
"""
    )
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000,
             "prompt_tokens_details": {"audio_tokens": 500_000}, "completion_tokens_details": {"audio_tokens": 250_000}}
    land(home, "audio.jsonl", [envelope("spoken", "openai", "gpt-audio", usage)])
    run_pipeline(home, progress=_quiet)
    ((input_cost, output_cost, audio_cost, cost, list_cost, override),) = _query(
        home, "select input_cost_usd, output_cost_usd, audio_cost_usd, cost_usd, list_cost_usd, override_id from core.request_costs")
    assert override == "audio-deal"
    assert input_cost == Decimal("1.125")  # 500,000 text in x $2.50 x 0.9
    assert output_cost == Decimal("6.75")  # 750,000 text out x $10 x 0.9
    # audio in at the negotiated $20 (not $32 x 0.9 = $28.80); audio out at $64 x 0.9 = $57.60
    assert audio_cost == Decimal("10") + Decimal("14.4")
    assert cost == Decimal("1.125") + Decimal("6.75") + Decimal("24.4")
    assert list_cost == Decimal("1.25") + Decimal("7.5") + Decimal("16") + Decimal("16")


def test_invalid_overrides_name_file_and_entry(home):
    from pipelines.pricing.book import PriceBookError
    from pipelines.pricing.overrides import load_overrides

    (home.root / "price_overrides.yaml").write_text(
        "overrides:\n  - id: x\n    provider: openai\n    effective_from: 2026-01-01\n    discount_pct: 120\n    rates: {cached: 1}\n"
    )
    with pytest.raises(PriceBookError) as caught:
        load_overrides(home.root)
    assert "price_overrides.yaml: override 'x': discount_pct must be a number from 0 to 100" in str(caught.value)
    assert "price_overrides.yaml: override 'x': unknown bucket key 'cached' in rates" in str(caught.value)


def test_otel_litellm_helicone_and_portkey_samples_price_by_hand(home):
    import json
    import shutil
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures"
    (home.landing / "gateway" / "otel").mkdir(parents=True)
    (home.landing / "gateway" / "litellm").mkdir(parents=True)
    shutil.copy(fixtures / "otel" / "anthropic_chat_span.jsonl", home.landing / "gateway" / "otel" / "spans.jsonl")
    shutil.copy(fixtures / "litellm" / "spendlogs_with_usage_detail.jsonl", home.landing / "gateway" / "litellm" / "detail.jsonl")
    shared_row = json.loads((fixtures / "litellm" / "litellm_spendlogs_row.json").read_text())
    (home.landing / "gateway" / "litellm" / "row.jsonl").write_text(json.dumps(shared_row) + "\n")
    for fmt, sample in (("helicone", "helicone_request_response_rmt_row.json"), ("portkey", "portkey_log_export_row.json")):
        (home.landing / "gateway" / fmt).mkdir(parents=True)
        row = json.loads((fixtures / fmt / sample).read_text())
        (home.landing / "gateway" / fmt / "export.jsonl").write_text(json.dumps(row) + "\n")
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select source, count(*) from core.request_costs group by 1 order by 1") == [
        ("helicone", 1), ("litellm", 2), ("otel", 1), ("portkey", 1)
    ]
    costs = {r[0]: r[1] for r in _query(home, "select request_id, cost_usd from core.request_costs")}
    # OTel: input_tokens 10120 include 8000 cache reads and 2000 cache writes (no TTL split in OTel: 5-minute).
    # 120 x 3 + 8000 x 0.30 + 2000 x 3.75 + 350 x 15 per 1M = 0.015510
    assert costs["msg_01XFDUDYJgAACzvnptvVoYEL"] == Decimal("0.015510")
    # LiteLLM with LiteLLM's own usage detail (prompt_tokens 8120 = 120 input + 8000 cache reads; writes 1500 5m + 500 1h):
    # 120 x 3 + 8000 x 0.30 + 1500 x 3.75 + 500 x 6 + 350 x 15 per 1M = 0.016635, the Anthropic sample's amount.
    assert costs["chatcmpl-9f2c1a7e-1b2d-4c3e-8f4a-000000000002"] == Decimal("0.016635")
    # The shared SpendLogs row carries no cache detail: all 8120 prompt tokens are uncached input.
    # 8120 x 3 + 350 x 15 per 1M = 0.029610
    assert costs["chatcmpl-9f2c1a7e-1b2d-4c3e-8f4a-000000000001"] == Decimal("0.029610")
    # Helicone: prompt_tokens (120) exclude the 8000 cache reads and 2000 cache writes (no TTL split: 5-minute).
    # 120 x 3 + 8000 x 0.30 + 2000 x 3.75 + 350 x 15 per 1M = 0.015510 (Helicone's own cost column is not used)
    assert costs["6f1d9d2c-0000-4000-8000-000000000001"] == Decimal("0.015510")
    # Portkey: req_units carry no cache split, so all 2006 are uncached. 2006 x 2.50 + 300 x 10 per 1M = 0.008015
    assert costs["3c90c3cc-0d44-4b50-8888-8dd25736052a"] == Decimal("0.008015")
    assert _query(home, "select distinct feature from core.request_costs where request_id like 'chatcmpl%'") == [("search",)]


def test_a_close_killed_after_it_committed_is_finished_by_the_next_close(home, monkeypatch):
    """A close killed between its commit and its publish (seen in a kill test) left readers seeing the month open,
    and the next close refused it as already closed. The next close now finishes it: it publishes the close, says
    so, and only then is the month refused. A publish killed mid-copy leaves a `.warehouse.publishing.<pid>` file,
    which the next publish removes."""
    import pipelines.finance.close as close
    from pipelines.storage.database import publish

    land(home, "samples.jsonl", _samples())
    run_pipeline(home, progress=_quiet)
    published = _query(home, "select count(*) from finance.closed_periods")

    def killed(_home):
        raise KeyboardInterrupt  # the moment the process died: committed in the working copy, not published

    monkeypatch.setattr(close, "publish", killed)
    with pytest.raises(KeyboardInterrupt):
        close.close_month(home, "2026-11")
    monkeypatch.undo()
    assert _query(home, "select count(*) from finance.closed_periods") == published == [(0,)]  # readers: still open
    left = home.root / ".warehouse.publishing.4242"
    left.write_bytes(b"half a copy")
    assert close.close_month(home, "2026-11") == {"month": "2026-11", "requests": 2, "cost_usd": Decimal("0.022250"), "finished": True}
    assert _query(home, "select month, requests from finance.closed_periods") == [("2026-11", 2)]
    assert _query(home, "select sum(cost_usd) from finance.daily_spend") == [(Decimal("0.022250"),)]
    assert not left.exists()
    with pytest.raises(close.CloseError, match="2026-11 was closed at"):
        close.close_month(home, "2026-11")
    assert publish(home) and _query(home, "select count(*) from finance.closed_periods") == [(1,)]


def test_closed_month_is_unchanged_after_a_price_edit_and_the_restatement_is_recorded(home):
    from pipelines.finance.close import CloseError, close_month

    land(home, "samples.jsonl", _samples())
    run_pipeline(home, progress=_quiet)
    assert close_month(home, "2026-11") == {"month": "2026-11", "requests": 2, "cost_usd": Decimal("0.022250"), "finished": False}
    with pytest.raises(CloseError, match="2026-11 was closed at"):
        close_month(home, "2026-11")

    (home.root / "price_overrides.yaml").write_text(
        "overrides:\n  - id: anthropic-deal\n    provider: anthropic\n    effective_from: 2026-11-01\n    discount_pct: 10\n"
    )
    run_pipeline(home, start=dt.date(2026, 11, 27), end=dt.date(2026, 11, 27), progress=_quiet)

    assert _query(home, "select sum(cost_usd) from finance.daily_spend where month = '2026-11'") == [(Decimal("0.022250"),)]
    assert _query(home, "select sum(cost_usd) from marts.daily_spend") == [(Decimal("0.0205865"),)]
    assert _query(home, "select month, provider, closed_cost_usd, current_cost_usd, delta_usd, reason from marts.restatements") == [
        ("2026-11", "anthropic", Decimal("0.016635"), Decimal("0.0149715"), Decimal("-0.0016635"), "repriced")
    ]

    # a late request of a model the book does not know: unpriced in the restatement and the reconciliation, never $0
    land(home, "late.jsonl", [envelope("late-unknown", "openai", "gpt-7-secret", {"prompt_tokens": 1000, "completion_tokens": 10},
                                       timestamp="2026-11-27T12:00:00Z")])
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select model, closed_cost_usd, current_cost_usd, delta_usd, reason, current_unpriced_requests "
                        "from marts.restatements where model = 'gpt-7-secret'") == [
        ("gpt-7-secret", Decimal("0"), None, None, "late or corrected usage", 1)  # an unknown change, not a $0 one
    ]
    assert _query(home, "select status, estimated_cost_usd, variance_usd, unpriced_requests from marts.billing_reconciliation "
                        "where model = 'gpt-7-secret'") == [("estimated_only", None, None, 1)]


def test_a_usage_record_corrected_after_the_close_is_restated_as_corrected_usage_not_a_reprice(home):
    """The same request sent again after the close with other tokens (the final record wins): as many requests as at
    the close, so the restatement said `repriced` though no price changed (README, "Closing a month")."""
    from pipelines.finance.close import close_month

    land(home, "samples.jsonl", _samples())
    run_pipeline(home, progress=_quiet)
    close_month(home, "2026-11")
    grown = {"prompt_tokens": 4012, "completion_tokens": 600, "prompt_tokens_details": {"cached_tokens": 3840}}  # the sample's, doubled
    land(home, "samples_resent.jsonl", [envelope("req_openai", "openai", "gpt-4o-2024-08-06", grown)])  # a later file name: final
    run_pipeline(home, progress=_quiet)
    # gpt-4o-2024-08-06: 172 x $2.50 + 3,840 cached x $1.25 + 600 x $10 per 1M = 0.01123
    assert _query(home, "select provider, closed_requests, current_requests, closed_cost_usd, current_cost_usd, reason from marts.restatements") == [
        ("openai", 1, 1, Decimal("0.005615"), Decimal("0.01123"), "late or corrected usage")
    ]


def test_reporting_currency_uses_the_latest_rate_and_records_it(home):
    (home.root / "settings.yaml").write_text("reporting_currency: EUR\n")
    (home.landing / "fx").mkdir(parents=True)
    (home.landing / "fx" / "rates.csv").write_text(
        "date,currency,rate\n2026-11-25,EUR,0.90\n2026-11-27,EUR,0.92\n2026-11-28,EUR,0.95\n2026-11-26,GBP,0.79\nyesterday,EUR,1\n2026-11-27,EUR,-1\n"
    )
    samples = _samples()
    land(home, "fx.jsonl", [samples[0], samples[1].replace("2026-11-27T10:15:02.120Z", "2026-11-26T10:00:00Z")])
    said: list[str] = []
    summary = run_pipeline(home, progress=said.append)
    # said once, as every other landed source's rejected rows are (the run said nothing of them)
    fx_warning = "landing/fx: 2 row(s) rejected (audit.rejected_fx_rows names file, row, field and reason)"
    assert [line for line in said if "landing/fx" in line] == [f"warning: {fx_warning}"] and fx_warning in summary.warnings
    rows = _query(home, "select event_date, cost_usd, reporting_currency, fx_rate, fx_rate_date, cost_reporting from marts.daily_spend order by 1")
    assert rows == [
        (dt.date(2026, 11, 26), Decimal("0.016635"), "EUR", Decimal("0.90"), dt.date(2026, 11, 25), Decimal("0.0149715")),
        (dt.date(2026, 11, 27), Decimal("0.005615"), "EUR", Decimal("0.92"), dt.date(2026, 11, 27), Decimal("0.0051658")),
    ]
    assert _query(home, "select row_number, field, reason from audit.rejected_fx_rows order by 1") == [
        (6, "date", "not a date (YYYY-MM-DD): 'yesterday'"),
        (7, "rate", "must be a positive number: '-1'"),
    ]


def test_a_large_day_in_a_currency_of_many_units_per_dollar_is_exact(home):
    """$10M in one mart row reported in IDR at 16,000 per USD is 1.6 x 10^11 rupiah: the product of the cost's 15
    places and the rate's 12 overflowed DECIMAL(38) and failed every run from then on."""
    (home.root / "settings.yaml").write_text("reporting_currency: IDR\n")
    (home.landing / "fx").mkdir(parents=True)
    (home.landing / "fx" / "rates.csv").write_text("date,currency,rate\n2026-11-01,IDR,16000.000000000001\n")
    big = envelope("big", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 0, "completion_tokens": 10**12})  # $10 per 1M output
    land(home, "big.jsonl", [big])
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select cost_usd, cost_reporting from marts.daily_spend") == [
        (Decimal("10000000"), Decimal("160000000000.000010000000000"))]


def test_a_reporting_currency_without_rates_warns_naming_the_days(home):
    """`reporting_currency: ZZZ` (or EUR before any EUR rate) made every reported amount null with no word."""
    (home.root / "settings.yaml").write_text("reporting_currency: EUR\n")
    land(home, "samples.jsonl", _samples())
    summary = run_pipeline(home, progress=_quiet)
    assert any("reported_in_the_reporting_currency: 1 day(s) have no EUR rate on or before them" in w and "2026-11-27" in w
               for w in summary.warnings), summary.warnings
    assert _query(home, "select distinct cost_reporting from marts.daily_spend") == [(None,)]


def test_a_new_reporting_currency_or_rate_rebuilds_the_days_it_changes(home):
    """Changing `reporting_currency` or landing a corrected rate is picked up by a plain run: the days reported
    otherwise are rebuilt (before, they stayed in the old currency until someone re-priced them by hand); a run with
    nothing changed rebuilds none."""
    samples = _samples()
    land(home, "fx.jsonl", [samples[0], samples[1].replace("2026-11-27T10:15:02.120Z", "2026-11-26T10:00:00Z")])
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select distinct reporting_currency, fx_rate from marts.daily_spend") == [("USD", Decimal(1))]
    (home.root / "settings.yaml").write_text("reporting_currency: EUR\n")
    (home.landing / "fx").mkdir(parents=True)
    (home.landing / "fx" / "rates.csv").write_text("date,currency,rate\n2026-11-25,EUR,0.90\n")
    summary = run_pipeline(home, progress=_quiet)
    assert summary.dates == [dt.date(2026, 11, 26), dt.date(2026, 11, 27)]
    rows = _query(home, "select event_date, reporting_currency, fx_rate, fx_rate_date, cost_reporting from marts.daily_spend order by 1")
    assert rows == [
        (dt.date(2026, 11, 26), "EUR", Decimal("0.90"), dt.date(2026, 11, 25), Decimal("0.0149715")),
        (dt.date(2026, 11, 27), "EUR", Decimal("0.90"), dt.date(2026, 11, 25), Decimal("0.0050535")),
    ]
    (home.landing / "fx" / "later.csv").write_text("date,currency,rate\n2026-11-27,EUR,0.92\n")  # only the 27th moves
    assert run_pipeline(home, progress=_quiet).dates == [dt.date(2026, 11, 27)]
    assert _query(home, "select cost_reporting from marts.daily_spend where event_date = '2026-11-27'") == [(Decimal("0.0051658"),)]
    assert run_pipeline(home, progress=_quiet).dates == []
