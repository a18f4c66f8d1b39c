"""The Helicone adapter: request_response_rmt JSON Lines → exact canonical buckets, and the exact reason for each rejection."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters import TOKEN_BUCKETS
from pipelines.adapters.attribution import AttributionConfig, AttributionConfigError, FieldKeys
from pipelines.adapters.helicone import SUFFIXES, parse_helicone
from pipelines.pricing.book import load_price_book

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "helicone"
SAMPLE = json.loads((FIXTURES / "helicone_request_response_rmt_row.json").read_text())
ALL = (*TOKEN_BUCKETS, "web_search_requests")


PROVIDERS = {
    "OPENAI": "openai",
    "ANTHROPIC": "anthropic",
    "AZURE": "azure_openai",
    "BEDROCK": "aws_bedrock",
    "AWS": "aws_bedrock",
    "GOOGLE": "google",
    "GEMINI": "google",
    "VERTEX": "google",
}
"""The provider values Helicone writes (upper-case) → ours: read through the one table of pipelines.adapters.providers."""


def row(**changes) -> dict:
    record = dict(SAMPLE, properties=dict(SAMPLE["properties"]))
    record.update(changes)
    return record


def _jsonl(*records: dict | str) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n").encode()


def _parse(*records, attribution=None):
    return parse_helicone(_jsonl(*records), "rmt.jsonl", attribution)


def _buckets(result, index: int = 0) -> dict:
    record = result.rows.slice(index, 1).to_pylist()[0]
    return {bucket: record[bucket] for bucket in ALL}


def _zero(**non_zero) -> dict:
    return {**{b: 0 for b in ALL}, **non_zero}


@functools.cache
def _book():
    return load_price_book()


def _list_price_usd(record: dict) -> Decimal:
    """Dollars for one canonical row at the price book's list prices (the entry core.request_costs would use)."""
    price = _book().lookup(record["provider"], record["model"], record["occurred_at"], record["service_tier"])
    assert price is not None, record["model"]
    total = Decimal(0)
    for bucket in TOKEN_BUCKETS:
        if record[bucket]:
            total += record[bucket] * price[f"{bucket.removesuffix('_tokens')}_per_mtok"]
    return total / 1_000_000


def test_shared_sample_ingests_with_exact_buckets():
    # tests/fixtures/helicone/helicone_request_response_rmt_row.json, one line. Helicone's prompt_tokens is the uncached
    # input only (cache reads and writes have their own columns), so the buckets are the columns as they stand.
    result = parse_helicone(_jsonl(SAMPLE), "rmt.jsonl")
    assert result.rejected.num_rows == 0
    assert _buckets(result) == _zero(input_tokens=120, cache_read_tokens=8000, cache_write_5m_tokens=2000, output_tokens=350)
    (r,) = result.rows.to_pylist()
    assert (r["source"], r["source_row"], r["request_id"]) == ("helicone", 1, SAMPLE["request_id"])
    assert (r["provider"], r["model"], r["service_tier"]) == ("anthropic", "claude-3-5-sonnet-20241022", "standard")
    assert r["occurred_at"].isoformat() == "2024-11-01T00:00:00+00:00" and r["latency_ms"] == 1850 and r["status"] == "200"
    # feature from properties, user from the user_id column (raw here: ingestion pseudonymizes it)
    assert (r["feature"], r["user_id"], r["user_segment"], r["customer_id"], r["conversation_id"]) == (
        "search", "customer-123", None, None, None)
    assert json.loads(r["tags"]) == {"feature": "search", "env": "prod"}


def test_shared_sample_dollars_at_our_list_prices():
    # claude-3-5-sonnet-20241022, standard tier, list prices per 1M tokens (pricing/list, entry
    # anthropic/claude-3-5-sonnet-20241022@2024-10-22/standard):
    #   input            120 × 3.00  =    360
    #   cache_read      8000 × 0.30  =  2,400
    #   cache_write_5m  2000 × 3.75  =  7,500
    #   output           350 × 15.00 =  5,250
    #                                  15,510 per 1M  →  $0.015510
    # Helicone's own cost column says 16635000 (USD × 1e9 = $0.016635). The difference, $0.001125, is
    # 500 × (6.00 − 3.75) per 1M: Helicone priced 500 of the 2000 writes at the 1-hour rate, a TTL split the
    # table does not carry, so here every write is a 5-minute write. Helicone's cost is never used.
    (r,) = parse_helicone(_jsonl(SAMPLE), "rmt.jsonl").rows.to_pylist()
    assert _list_price_usd(r) == Decimal("0.015510")
    assert Decimal(SAMPLE["cost"]) / 10**9 - _list_price_usd(r) == Decimal("0.001125")


def test_landed_fixture_with_quoted_64bit_integers_and_a_failed_request():
    # ClickHouse's JSONEachRow quotes 64-bit integers by default ("350"); both spellings read the same.
    result = parse_helicone((FIXTURES / "request_response_rmt.jsonl").read_bytes(), "request_response_rmt.jsonl")
    assert result.rejected.num_rows == 0 and result.rows.num_rows == 3
    assert _buckets(result, 0) == _zero(input_tokens=120, cache_read_tokens=8000, cache_write_5m_tokens=2000, output_tokens=350)
    # OpenAI through Helicone: prompt_tokens is already the uncached part (86 of 2006), cached reads apart.
    assert _buckets(result, 1) == _zero(input_tokens=86, cache_read_tokens=1920, output_tokens=300)
    openai, failed = result.rows.to_pylist()[1:]
    assert (openai["provider"], openai["feature"], openai["customer_id"], openai["conversation_id"], openai["user_id"]) == (
        "openai", "support_chat", "acme", "sess-1", None)
    assert openai["occurred_at"].isoformat() == "2024-11-01T09:30:00.250000+00:00"
    # A non-2xx status is loaded with the status kept (here with no tokens, so it costs nothing).
    assert failed["status"] == "429" and _buckets(result, 2) == _zero()


def test_gzip_and_truncated_gzip():
    data = gzip.compress(_jsonl(row(request_id="a"), row(request_id="b")))
    assert parse_helicone(data, "rmt.jsonl.gz").rows["request_id"].to_pylist() == ["a", "b"]
    truncated = parse_helicone(data[:-12], "rmt.jsonl.gz")
    assert [r["reason"] for r in truncated.rejected.to_pylist()][-1].startswith("gzip stream is truncated or corrupt after")
    assert SUFFIXES == (".jsonl", ".jsonl.gz")


def test_provider_names_map_to_ours_case_insensitively():
    names = sorted(PROVIDERS)
    result = _parse(*(row(request_id=n, provider=n) for n in names), row(request_id="lower", provider="anthropic"))
    assert result.rows["provider"].to_pylist() == [PROVIDERS[n] for n in names] + ["anthropic"]
    assert set(PROVIDERS.values()) == {"openai", "azure_openai", "anthropic", "aws_bedrock", "google"}
    assert {n: PROVIDERS[n] for n in ("AZURE", "BEDROCK", "AWS", "GOOGLE", "GEMINI", "VERTEX")} == {
        "AZURE": "azure_openai", "BEDROCK": "aws_bedrock", "AWS": "aws_bedrock",
        "GOOGLE": "google", "GEMINI": "google", "VERTEX": "google"}
    # names come from the one provider table every format shares: Helicone's MISTRAL and XAI rows are read too
    shared = _parse(row(request_id="m", provider="MISTRAL"), row(request_id="x", provider="XAI"), row(request_id="c", provider="COHERE"))
    assert shared.rows["provider"].to_pylist() == ["mistral", "xai"]
    assert [r["field"] for r in shared.rejected.to_pylist()] == ["provider"]


def test_naive_times_are_utc_by_schema_and_offsets_convert():
    result = _parse(
        row(request_id="a", request_created_at="2024-11-01 00:00:00.123"),  # DateTime64(3), stored in UTC
        row(request_id="b", request_created_at="2024-11-01T00:00:00.123Z"),  # date_time_output_format='iso'
        row(request_id="c", request_created_at="2024-11-01 02:00:00+02:00"),
        row(request_id="d", request_created_at="2024-11-01 00:00:00"),
        row(request_id="e", request_created_at="2024-11-01 00:00:00+31:00"),  # no clock's offset: not read as 3 Nov
    )
    assert [t.isoformat() for t in result.rows["occurred_at"].to_pylist()] == [
        "2024-11-01T00:00:00.123000+00:00", "2024-11-01T00:00:00.123000+00:00",
        "2024-11-01T00:00:00+00:00", "2024-11-01T00:00:00+00:00"]
    assert [(r["row_number"], r["field"]) for r in result.rejected.to_pylist()] == [(5, "request_created_at")]


def test_cost_is_never_used_and_absent_cache_columns_are_zero():
    cheap, dear = _parse(row(cost=0)).rows, _parse(row(cost=999_999_999_999)).rows
    assert cheap.equals(dear) and not any("cost" in name or "spend" in name for name in cheap.column_names)
    bare = {k: v for k, v in row().items() if not k.startswith("prompt_cache_")}
    assert _buckets(_parse(bare)) == _zero(input_tokens=120, output_tokens=350)
    assert _buckets(_parse(row(prompt_cache_read_tokens=None, prompt_cache_write_tokens=None))) == _zero(input_tokens=120, output_tokens=350)


def test_attribution_from_properties_and_columns():
    props = {"feature": "search", "user_segment": "enterprise", "customer_id": 42, "Helicone-Session-Id": "sess-9"}
    result = _parse(
        row(request_id="a", properties=props),
        row(request_id="b", properties=None, user_id=""),
        row(request_id="c", properties=json.dumps({"feature": "as_text"})),  # a map exported as a JSON string
        row(request_id="d", properties={"feature": "  "}),
    )
    a, b, c, d = result.rows.to_pylist()
    assert (a["feature"], a["user_segment"], a["customer_id"], a["conversation_id"]) == ("search", "enterprise", "42", "sess-9")
    assert (b["feature"], b["user_id"], b["tags"]) == ("unattributed", None, None)
    assert c["feature"] == "as_text" and d["feature"] == "unattributed"


def test_configured_keys_and_tags_never_carry_the_user_property():
    # attribution.py has no helicone section yet; an object with a `helicone` FieldKeys is honoured.
    keys = FieldKeys(feature=("properties.app",), user_id=("properties.uid", "user_id"), user_segment=(),
                     customer_id=("organization_id",), conversation_id=())
    custom = SimpleNamespace(helicone=keys)
    (r,) = _parse(row(properties={"app": "x", "uid": "u-1"}), attribution=custom).rows.to_pylist()
    assert (r["feature"], r["user_id"], r["customer_id"]) == ("x", "u-1", SAMPLE["organization_id"])
    assert json.loads(r["tags"]) == {"app": "x"}
    with pytest.raises(AttributionConfigError, match="unknown key 'cost'"):
        _parse(row(), attribution=SimpleNamespace(helicone=keys.replace(feature=("cost",))))
    # The project's AttributionConfig (no helicone section) gives the defaults.
    assert _parse(row(), attribution=AttributionConfig.default()).rows["feature"].to_pylist() == ["search"]


REJECTIONS = [
    ('{"request_id": "x"', "", "invalid JSON"),
    ("[1, 2]", "", "record is not a JSON object (found array)"),
    ('"just text"', "", "record is not a JSON object (found string)"),
    (row(request_id=""), "request_id", "missing required field"),
    (row(request_created_at=None), "request_created_at", "missing required field"),
    (row(provider=" "), "provider", "missing required field"),
    (row(model=""), "model", "missing required field"),
    (row(provider="COHERE"), "provider",
     "unknown provider 'COHERE' (expected one of openai, azure_openai, anthropic, google, aws_bedrock, mistral, deepseek, xai, or a name docs/formats/providers.md lists; map another under providers: in attribution.yaml)"),
    (row(request_created_at="yesterday"), "request_created_at", "invalid timestamp: 'yesterday'"),
    (row(request_created_at="2024-13-01 00:00:00.000"), "request_created_at", "invalid timestamp: '2024-13-01 00:00:00.000'"),
    (row(request_created_at="2999-01-01 00:00:00.000"), "request_created_at",
     "timestamp is more than a day in the future: '2999-01-01 00:00:00.000'"),
    (row(request_created_at="2019-12-31 23:59:59.999"), "request_created_at", "timestamp is before 2020-01-01: '2019-12-31 23:59:59.999'"),
    (row(properties=["feature", "search"]), "properties", "not a JSON object"),
    (row(prompt_tokens=-1), "prompt_tokens", "negative token count"),
    (row(completion_tokens=1.5), "completion_tokens", "token count is not a whole number"),
    (row(prompt_cache_read_tokens="many"), "prompt_cache_read_tokens", "token count is not a number: many"),
    (row(prompt_cache_write_tokens="NaN"), "prompt_cache_write_tokens", "token count is not a finite number"),
    (row(prompt_tokens="18446744073709551615"), "prompt_tokens", "token count exceeds the 64-bit integer range"),
    (row(prompt_tokens=None), "prompt_tokens", "missing required field"),
    (row(completion_tokens=None), "completion_tokens", "missing required field"),
]


def test_each_rejection_names_row_field_and_reason():
    result = _parse(row(request_id="good"), *(r for r, _, _ in REJECTIONS), row(request_id="good2"))
    assert result.rows["request_id"].to_pylist() == ["good", "good2"]
    got = [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()]
    assert got == [(i, field, reason) for i, (_, field, reason) in enumerate(REJECTIONS, start=2)]
    assert result.rows_read == len(REJECTIONS) + 2


def test_bodies_never_reach_any_output_and_records_hold_no_user_ids():
    content = {"request_body": "SENTINEL-PROMPT", "response_body": "SENTINEL-ANSWER",
               "request": {"messages": [{"content": "SENTINEL-REQ"}]}, "response": {"content": "SENTINEL-RESP"}}
    good, bad = row(request_id="good", **content), row(request_id="bad", prompt_tokens=-1, **content)
    result = parse_helicone(_jsonl(good, bad) + b"\xff not UTF-8 SENTINEL-LINE\n", "rmt.jsonl")
    assert result.rows.num_rows == 1 and result.rejected.num_rows == 2
    assert "SENTINEL" not in str(result.rows.to_pylist()) + str(result.rejected.to_pylist())
    rejected, unparsable = result.rejected.to_pylist()
    assert rejected["user_id"] == "customer-123" and "customer-123" not in rejected["record"]
    assert "16635000" not in rejected["record"] and json.loads(rejected["record"])["prompt_tokens"] == "-1"
    assert unparsable["record"] is None and len(unparsable["record_sha256"]) == 64


@st.composite
def _call(draw):
    """One request as Helicone stores it, and the tokens the provider billed."""
    n = st.integers(0, 10**12)
    tokens = {c: draw(n) for c in ("prompt_tokens", "prompt_cache_read_tokens", "prompt_cache_write_tokens", "completion_tokens")}
    quoted = draw(st.booleans())  # JSONEachRow with or without output_format_json_quote_64bit_integers
    record = row(provider=draw(st.sampled_from(sorted(PROVIDERS))), **{k: str(v) if quoted else v for k, v in tokens.items()})
    return record, sum(tokens.values())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(_call(), min_size=1, max_size=20))
def test_buckets_conserve_the_billed_total(calls):
    result = _parse(*(dict(record, request_id=f"r{i}") for i, (record, _) in enumerate(calls)))
    assert result.rejected.num_rows == 0
    for i, (_, billed) in enumerate(calls):
        buckets = _buckets(result, i)
        assert all(v >= 0 for v in buckets.values())
        assert sum(buckets[b] for b in TOKEN_BUCKETS) == billed


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from(["ANTHROPIC", "openai", "2024-11-01 00:00:00.000", "2024-11-01T00:00:00Z", "9999-99-99", "-5", "1e3", " 7 "]),
)
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                     max_leaves=8)
_record = st.dictionaries(
    st.sampled_from(["request_id", "request_created_at", "provider", "model", "status", "latency", "user_id", "organization_id",
                     "prompt_tokens", "prompt_cache_write_tokens", "prompt_cache_read_tokens", "completion_tokens", "cost",
                     "properties", "request_body", "response_body"]),
    _json,
    max_size=10,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(st.one_of(_record.map(lambda r: dict(row(), **r)), _record, _json,
                                st.text(st.characters(min_codepoint=33, blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs")), min_size=1, max_size=10).map(lambda t: ("raw", t))),
                      min_size=1, max_size=8))
def test_fuzz_never_raises_and_accounts_for_every_line(lines):
    rendered = [line[1] if isinstance(line, tuple) else json.dumps(line) for line in lines]
    result = parse_helicone(("\n".join(rendered) + "\n").encode(), "fuzz.jsonl")
    assert result.rows.num_rows + result.rejected.num_rows == len(lines)
    assert sorted(result.rows["source_row"].to_pylist() + result.rejected["row_number"].to_pylist()) == list(range(1, len(lines) + 1))
    assert all(v is not None and v >= 0 for b in ALL for v in result.rows[b].to_pylist())
    assert all(t.date() >= dt.date(2020, 1, 1) for t in result.rows["occurred_at"].to_pylist())


@pytest.mark.parametrize(("value", "reasoning"), [("640", 640), (640, 640), (None, 0)])
def test_the_newer_reasoning_tokens_column_is_the_reasoning_bucket(value, reasoning):
    """Newer request_response_rmt rows carry `reasoning_tokens` apart from `completion_tokens` (as ClickHouse's
    JSONEachRow writes UInt64: quoted or bare); rows without the column have no reasoning split."""
    result = _parse(row(provider="OPENAI", model="o4-mini-2025-04-16", prompt_cache_write_tokens=0, reasoning_tokens=value))
    assert result.rejected.num_rows == 0
    assert _buckets(result) == _zero(input_tokens=120, cache_read_tokens=8000, output_tokens=350, reasoning_tokens=reasoning)


def test_a_reasoning_count_that_is_not_a_count_is_rejected_naming_the_column():
    result = _parse(row(reasoning_tokens="-5"))
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [("reasoning_tokens", "negative token count")]


def test_a_failed_request_without_token_counts_loads_with_its_status_and_no_tokens():
    """request_response_rmt's token columns are Nullable(Int64) (Helicone/helicone clickhouse/migrations/
    20200101000041_request_response_replacing_merge_tree.sql): a request that failed upstream (status 500) can
    carry none. It is loaded with its status and zero tokens, as helicone.md says; a successful one without them
    is still rejected."""
    failed = row(request_id="f-500", status="500", prompt_tokens=None, completion_tokens=None)
    broken = row(request_id="ok-null", status="200", prompt_tokens=None)
    result = _parse(failed, broken)
    assert [(r["request_id"], r["status"], r["input_tokens"], r["output_tokens"]) for r in result.rows.to_pylist()] == [("f-500", "500", 0, 0)]
    assert [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [(2, "prompt_tokens", "missing required field")]


def test_audio_columns_are_the_audio_buckets_beside_the_text_tokens():
    """request_response_rmt has `prompt_audio_tokens` / `completion_audio_tokens` (Helicone/helicone
    clickhouse/migrations/schema_44_audio_tokens.sql), apart from `prompt_tokens` / `completion_tokens`: Helicone's
    own cost adds them on top at the audio rate (packages/cost/index.ts `costOfPrompt`, commit 05a819cb), and its usage
    processors write prompt tokens less cached and audio ones. They were not read: an audio call was priced as its
    text tokens alone ($0.00075 for $0.16075)."""
    audio = row(provider="OPENAI", model="gpt-4o-audio-preview-2024-12-17", request_created_at="2025-01-15 10:00:00.000",
                prompt_tokens=100, prompt_cache_write_tokens=0, prompt_cache_read_tokens=0, completion_tokens=50,
                prompt_audio_tokens=2000, completion_audio_tokens="1000")
    result = _parse(audio, row(request_id="older-table"), row(request_id="bad", prompt_audio_tokens="-1"))
    assert _buckets(result) == _zero(input_tokens=100, audio_input_tokens=2000, output_tokens=50, audio_output_tokens=1000)
    # by hand, per 1M: 100 × $2.50 + 2000 × $40 + 50 × $10 + 1000 × $80 = $160,750
    assert _list_price_usd(result.rows.slice(0, 1).to_pylist()[0]) == Decimal("0.16075")
    assert _buckets(result, 1) == _zero(input_tokens=120, cache_read_tokens=8000, cache_write_5m_tokens=2000, output_tokens=350)
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [("prompt_audio_tokens", "negative token count")]
