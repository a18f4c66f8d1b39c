"""The Portkey adapter: log export JSON Lines → exact canonical buckets, and the exact reason for each rejection."""

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
from pipelines.adapters.portkey import SUFFIXES, parse_portkey
from pipelines.pricing.book import load_price_book

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "portkey"
SAMPLE = json.loads((FIXTURES / "portkey_log_export_row.json").read_text())
ALL = (*TOKEN_BUCKETS, "web_search_requests")


PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure-openai": "azure_openai",
    "bedrock": "aws_bedrock",
    "google": "google",
    "vertex-ai": "google",
    "mistral-ai": "mistral",  # Portkey-AI/gateway src/globals.ts: MISTRAL_AI = 'mistral-ai'
    "x-ai": "xai",  # X_AI = 'x-ai'
}
"""The ai_org values Portkey writes → ours: read through the one table of pipelines.adapters.providers."""


def row(**changes) -> dict:
    record = dict(SAMPLE, metadata=dict(SAMPLE["metadata"]))
    record.update(changes)
    return record


def _jsonl(*records: dict | str) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n").encode()


def _parse(*records, attribution=None):
    return parse_portkey(_jsonl(*records), "logs.jsonl", attribution)


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
    # tests/fixtures/portkey/portkey_log_export_row.json, one line. The export has one input and one output count:
    # req_units is all input (no cache split), res_units all output (no reasoning split).
    result = parse_portkey(_jsonl(SAMPLE), "logs.jsonl")
    assert result.rejected.num_rows == 0
    assert _buckets(result) == _zero(input_tokens=2006, output_tokens=300)
    (r,) = result.rows.to_pylist()
    assert (r["source"], r["source_row"], r["request_id"]) == ("portkey", 1, SAMPLE["id"])
    assert (r["provider"], r["model"], r["service_tier"]) == ("openai", "gpt-4o-2024-08-06", "standard")
    assert r["occurred_at"].isoformat() == "2024-11-01T00:00:00+00:00" and r["latency_ms"] == 1850 and r["status"] == "200"
    # feature from metadata.team (no metadata.feature), user from metadata._user (raw: ingestion pseudonymizes),
    # conversation from trace_id (no better key)
    assert (r["feature"], r["user_id"], r["user_segment"], r["customer_id"], r["conversation_id"]) == (
        "search", "customer-123", None, None, "trace-abc")
    assert json.loads(r["tags"]) == {"team": "search"}  # _user is a user id: never a tag


def test_shared_sample_dollars_at_our_list_prices():
    # gpt-4o-2024-08-06, standard tier, list prices per 1M tokens (entry openai/gpt-4o-2024-08-06@2024-10-01/standard):
    #   input   2006 × 2.50  =  5,015
    #   output   300 × 10.00 =  3,000
    #                           8,015 per 1M  →  $0.008015
    # Portkey's own cost is 0.005615: 86 × 2.50 + 1920 × 1.25 + 300 × 10.00 = 5,615 per 1M. Portkey knew
    # that 1920 of the 2006 input tokens were cache reads; the export does not say so, so every input token
    # is priced as uncached here ($0.002400 more). Portkey's cost is never used.
    (r,) = parse_portkey(_jsonl(SAMPLE), "logs.jsonl").rows.to_pylist()
    assert _list_price_usd(r) == Decimal("0.008015")
    assert _list_price_usd(r) - Decimal(str(SAMPLE["cost"])) == Decimal("0.002400")


def test_landed_fixture_offsets_and_a_failed_request():
    result = parse_portkey((FIXTURES / "log_export.jsonl").read_bytes(), "log_export.jsonl")
    assert result.rejected.num_rows == 0 and result.rows.num_rows == 3
    sample, claude, failed = result.rows.to_pylist()
    assert _buckets(result, 1) == _zero(input_tokens=10120, output_tokens=350)
    assert claude["occurred_at"].isoformat() == "2024-11-01T08:00:00+00:00"  # +02:00 converted to UTC
    assert (claude["provider"], claude["feature"], claude["user_id"], claude["user_segment"], claude["customer_id"]) == (
        "anthropic", "summarize", "customer-456", "enterprise", "acme")
    assert json.loads(claude["tags"]) == {"feature": "summarize", "user_segment": "enterprise", "customer_id": "acme"}
    # A failed request is loaded with its status kept.
    assert failed["status"] == "500" and _buckets(result, 2) == _zero(input_tokens=2006)


def test_status_falls_back_to_is_success():
    result = _parse(row(id="x", response_status_code=None, is_success=False),
                    row(id="y", response_status_code=None, is_success=True),
                    row(id="z", response_status_code=None, is_success=None))
    assert result.rows["status"].to_pylist() == ["failure", "success", None]


def test_gzip_and_truncated_gzip():
    data = gzip.compress(_jsonl(row(id="a"), row(id="b")))
    assert parse_portkey(data, "logs.jsonl.gz").rows["request_id"].to_pylist() == ["a", "b"]
    truncated = parse_portkey(data[:-12], "logs.jsonl.gz")
    assert truncated.rejected.to_pylist()[-1]["reason"].startswith("gzip stream is truncated or corrupt after")
    assert SUFFIXES == (".jsonl", ".jsonl.gz")


def test_provider_names_map_to_ours():
    names = sorted(PROVIDERS)
    result = _parse(*(row(id=n, ai_org=n) for n in names), row(id="upper", ai_org="Azure-OpenAI"))
    assert result.rows["provider"].to_pylist() == [PROVIDERS[n] for n in names] + ["azure_openai"]
    assert PROVIDERS == {"openai": "openai", "anthropic": "anthropic", "azure-openai": "azure_openai",
                         "bedrock": "aws_bedrock", "google": "google", "vertex-ai": "google", "mistral-ai": "mistral", "x-ai": "xai"}
    # the one provider table every format shares: Portkey's deepseek and xai rows are read too
    shared = _parse(row(id="d", ai_org="deepseek"), row(id="x", ai_org="xai"), row(id="c", ai_org="cohere"),
                    row(id="f", ai_org="azure-ai"))  # Azure AI Foundry: other makers' models at Foundry's prices
    assert shared.rows["provider"].to_pylist() == ["deepseek", "xai"]
    assert [r["field"] for r in shared.rejected.to_pylist()] == ["ai_org", "ai_org"]


def test_timestamps_with_offsets_convert_to_utc():
    result = _parse(row(id="a", created_at="2024-11-01T00:00:00.123Z"), row(id="b", created_at="2024-10-31T20:00:00-04:00"),
                    row(id="c", created_at="2024-11-01 05:30:00+0530"))
    assert [t.isoformat() for t in result.rows["occurred_at"].to_pylist()] == [
        "2024-11-01T00:00:00.123000+00:00", "2024-11-01T00:00:00+00:00", "2024-11-01T00:00:00+00:00"]


def test_cost_is_never_used():
    cheap, dear = _parse(row(cost=0)).rows, _parse(row(cost=123.45, cost_currency="EUR")).rows
    assert cheap.equals(dear) and not any("cost" in name for name in cheap.column_names)


def test_attribution_feature_first_then_team_and_unattributed():
    result = _parse(
        row(id="a", metadata={"feature": "chat", "team": "search", "customer_id": 7, "conversation_id": "conv-1"}),
        row(id="b", metadata=None, trace_id=None),
        row(id="c", metadata=json.dumps({"team": "as_text", "_user": "u-9"})),  # metadata exported as a JSON string
        row(id="d", metadata={"feature": "", "_user": " "}),
    )
    a, b, c, d = result.rows.to_pylist()
    assert (a["feature"], a["customer_id"], a["conversation_id"]) == ("chat", "7", "conv-1")
    assert (b["feature"], b["user_id"], b["conversation_id"], b["tags"]) == ("unattributed", None, None, None)
    assert (c["feature"], c["user_id"]) == ("as_text", "u-9") and json.loads(c["tags"]) == {"team": "as_text"}
    assert (d["feature"], d["user_id"]) == ("unattributed", None)


def test_configured_keys():
    # attribution.py has no portkey section yet; an object with a `portkey` FieldKeys is honoured.
    keys = FieldKeys(feature=("prompt_slug",), user_id=("metadata.uid",), user_segment=(), customer_id=("metadata._user",),
                     conversation_id=())
    (r,) = _parse(row(prompt_slug="summarizer", metadata={"uid": "u-1", "_user": "acme"}),
                  attribution=SimpleNamespace(portkey=keys)).rows.to_pylist()
    assert (r["feature"], r["user_id"], r["customer_id"], r["conversation_id"]) == ("summarizer", "u-1", "acme", None)
    assert r["tags"] is None  # `_user` holds a user id by default: never a tag, whatever these keys read it as
    with pytest.raises(AttributionConfigError, match="unknown key 'request'"):
        _parse(row(), attribution=SimpleNamespace(portkey=keys.replace(feature=("request",))))
    assert _parse(row(), attribution=AttributionConfig.default()).rows["feature"].to_pylist() == ["search"]


REJECTIONS = [
    ('{"id": "x"', "", "invalid JSON"),
    ("[1, 2]", "", "record is not a JSON object (found array)"),
    ("42", "", "record is not a JSON object (found number)"),
    (row(id=""), "id", "missing required field"),
    (row(created_at=None), "created_at", "missing required field"),
    (row(ai_org=""), "ai_org", "missing required field"),
    (row(ai_model=None), "ai_model", "missing required field"),
    (row(ai_org="cohere"), "ai_org",
     "unknown provider 'cohere' (expected one of openai, azure_openai, anthropic, google, aws_bedrock, mistral, deepseek, xai, or a name docs/formats/providers.md lists; map another under providers: in attribution.yaml)"),
    (row(created_at="2024-11-01T00:00:00"), "created_at", "timestamp has no UTC offset: '2024-11-01T00:00:00'"),
    (row(created_at="yesterday"), "created_at", "invalid timestamp: 'yesterday'"),
    (row(created_at="2024-02-30T00:00:00Z"), "created_at", "invalid timestamp: '2024-02-30T00:00:00Z'"),
    (row(created_at="2999-01-01T00:00:00Z"), "created_at", "timestamp is more than a day in the future: '2999-01-01T00:00:00Z'"),
    (row(created_at="2019-12-31T23:59:59Z"), "created_at", "timestamp is before 2020-01-01: '2019-12-31T23:59:59Z'"),
    (row(metadata="team=search"), "metadata", "not a JSON object"),
    (row(req_units=-1), "req_units", "negative token count"),
    (row(res_units=2.5), "res_units", "token count is not a whole number"),
    (row(req_units="lots"), "req_units", "token count is not a number: lots"),
    (row(res_units="Infinity"), "res_units", "token count is not a finite number"),
    (row(req_units=10**19), "req_units", "token count exceeds the 64-bit integer range"),
    (row(req_units=None), "req_units", "missing required field"),
    (row(res_units=None), "res_units", "missing required field"),
]


def test_each_rejection_names_row_field_and_reason():
    result = _parse(row(id="good"), *(r for r, _, _ in REJECTIONS), row(id="good2"))
    assert result.rows["request_id"].to_pylist() == ["good", "good2"]
    got = [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()]
    assert got == [(i, field, reason) for i, (_, field, reason) in enumerate(REJECTIONS, start=2)]
    assert result.rows_read == len(REJECTIONS) + 2


def test_bodies_never_reach_any_output_and_records_hold_no_user_ids():
    content = {"request": {"messages": [{"role": "user", "content": "SENTINEL-PROMPT"}]},
               "response": {"choices": [{"message": {"content": "SENTINEL-ANSWER"}}]}}
    good, bad = row(id="good", **content), row(id="bad", req_units=-1, **content)
    result = parse_portkey(_jsonl(good, bad) + b"\xff not UTF-8 SENTINEL-LINE\n", "logs.jsonl")
    assert result.rows.num_rows == 1 and result.rejected.num_rows == 2
    assert "SENTINEL" not in str(result.rows.to_pylist()) + str(result.rejected.to_pylist())
    rejected, unparsable = result.rejected.to_pylist()
    assert rejected["user_id"] == "customer-123" and "customer-123" not in rejected["record"]
    assert "0.005615" not in rejected["record"] and json.loads(rejected["record"])["req_units"] == "-1"
    assert (unparsable["reason"], unparsable["record"]) == ("line is not valid UTF-8", None)


@st.composite
def _call(draw):
    """One request as Portkey exports it, and the tokens it billed."""
    n = st.integers(0, 10**12)
    req, res = draw(n), draw(n)
    record = row(ai_org=draw(st.sampled_from(sorted(PROVIDERS))), req_units=req, res_units=res, total_units=req + res)
    return record, req + res


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(_call(), min_size=1, max_size=20))
def test_buckets_conserve_the_billed_total(calls):
    result = _parse(*(dict(record, id=f"r{i}") for i, (record, _) in enumerate(calls)))
    assert result.rejected.num_rows == 0
    for i, (_, billed) in enumerate(calls):
        buckets = _buckets(result, i)
        assert all(v >= 0 for v in buckets.values())
        assert sum(buckets[b] for b in TOKEN_BUCKETS) == billed


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from(["openai", "vertex-ai", "2024-11-01T00:00:00Z", "2024-11-01T00:00:00", "-5", "1e3", " 7 "]),
)
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                     max_leaves=8)
_record = st.dictionaries(
    st.sampled_from(["id", "trace_id", "created_at", "ai_org", "ai_model", "req_units", "res_units", "total_units", "cost",
                     "response_time", "response_status_code", "is_success", "metadata", "request", "response"]),
    st.one_of(_json, st.fixed_dictionaries({}, optional={"_user": _scalars, "feature": _scalars, "team": _scalars})),
    max_size=10,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(st.one_of(_record.map(lambda r: dict(row(), **r)), _record, _json,
                                st.text(st.characters(min_codepoint=33, blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs")),
                                        min_size=1, max_size=10).map(lambda t: ("raw", t))),
                      min_size=1, max_size=8))
def test_fuzz_never_raises_and_accounts_for_every_line(lines):
    rendered = [line[1] if isinstance(line, tuple) else json.dumps(line) for line in lines]
    result = parse_portkey(("\n".join(rendered) + "\n").encode(), "fuzz.jsonl")
    assert result.rows.num_rows + result.rejected.num_rows == len(lines)
    assert sorted(result.rows["source_row"].to_pylist() + result.rejected["row_number"].to_pylist()) == list(range(1, len(lines) + 1))
    assert all(v is not None and v >= 0 for b in ALL for v in result.rows[b].to_pylist())
    assert all(t.date() >= dt.date(2020, 1, 1) for t in result.rows["occurred_at"].to_pylist())


@pytest.mark.parametrize("cache_status", ["HIT", "SEMANTIC HIT", "hit"])
def test_a_response_from_portkeys_cache_called_no_provider(cache_status):
    """Portkey's log export has `cache_status` (HIT, SEMANTIC HIT, MISS, DISABLED; docs.portkey.ai, "Cache (Simple &
    Semantic)"): a hit was answered by Portkey, so the row is kept as a request with status cache_hit and no tokens."""
    result = _parse(row(cache_status=cache_status), row(id="miss", cache_status="MISS"))
    assert result.rejected.num_rows == 0
    assert result.rows["status"].to_pylist() == ["cache_hit", "200"]
    assert _buckets(result, 0) == _zero()
    assert _buckets(result, 1) == _zero(input_tokens=2006, output_tokens=300)


@pytest.mark.parametrize(("is_success", "status"), [(1, "success"), (0, "failure"), ("true", "success"), (False, "failure")])
def test_is_success_as_a_number_or_a_boolean_gives_the_status(is_success, status):
    result = _parse(row(is_success=is_success, response_status_code=None))
    assert result.rows["status"].to_pylist() == [status]


def test_a_whole_count_written_as_a_float_is_that_count():
    """An export whose integer column went through a float (pandas with one null: every value 1000.0) or an OTLP
    doubleValue is whole: it loads as 1000, where 2.5 stays rejected as not a whole number."""
    result = _parse(row(id="f1", req_units=1000.0, res_units=100.0, total_units=1100.0), row(id="f2", req_units="2006.0", res_units=3e2))
    assert result.rejected.num_rows == 0
    assert [(r["input_tokens"], r["output_tokens"]) for r in result.rows.to_pylist()] == [(1000, 100), (2006, 300)]


def test_a_failed_request_without_units_loads_with_its_status_and_no_tokens():
    """A call that failed (status 500, or is_success false) can carry null req_units / res_units: loaded with its
    status and zero tokens, as portkey.md says ("a failed request is loaded, not rejected"); a successful one
    without them is still rejected."""
    result = _parse(row(id="f1", response_status_code=500, is_success=False, req_units=None, res_units=None),
                    row(id="f2", response_status_code=None, is_success="false", req_units=None, res_units=None),
                    row(id="ok", response_status_code=200, is_success=True, req_units=None))
    assert [(r["request_id"], r["status"], r["input_tokens"], r["output_tokens"]) for r in result.rows.to_pylist()] == [
        ("f1", "500", 0, 0), ("f2", "failure", 0, 0)]
    assert [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [(3, "req_units", "missing required field")]


def test_gemini_thinking_tokens_are_the_totals_excess():
    """Portkey's gateway turns Gemini's usageMetadata into completion_tokens = candidatesTokenCount and total_tokens =
    totalTokenCount (Portkey-AI/gateway src/providers/google/chatComplete.ts), so the thoughts are only in the total.
    The numbers of vercel/ai's google-reasoning fixture: 9 prompt, 29 candidates, 320 total: 282 thoughts, billed as output.
    Without the excess nothing is added; another provider's excess (Anthropic's cache tokens) is not reasoning."""
    gemini = row(id="g", ai_org="google", ai_model="gemini-2.5-flash", req_units=9, res_units=29, total_units=320)
    plain = row(id="p", ai_org="google", ai_model="gemini-2.5-flash", req_units=9, res_units=29, total_units=38)
    claude = row(id="c", ai_org="anthropic", ai_model="claude-sonnet-4-5-20250929", req_units=9, res_units=29, total_units=320)
    result = _parse(gemini, plain, claude)
    assert result.rejected.num_rows == 0
    assert [(_buckets(result, i)["output_tokens"], _buckets(result, i)["reasoning_tokens"]) for i in range(3)] == [(29, 282), (29, 0), (29, 0)]
