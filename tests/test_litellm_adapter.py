"""The LiteLLM adapter: SpendLogs JSON Lines and CSV → exact canonical buckets, and the exact reason for each rejection."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from helpers import LITELLM_COLUMNS, litellm_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters import TOKEN_BUCKETS
from pipelines.adapters.attribution import AttributionConfig
from pipelines.adapters.litellm import parse_litellm

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "litellm"
SAMPLE = json.loads((FIXTURES / "litellm_spendlogs_row.json").read_text())
COLUMNS = LITELLM_COLUMNS


PROVIDERS = {
    "openai": "openai",
    "azure": "azure_openai",
    "anthropic": "anthropic",
    "bedrock": "aws_bedrock",
    "vertex_ai": "google",
    "gemini": "google",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
    # LlmProviders in litellm/types/utils.py (1.110.2): legacy completion endpoints and Vertex's beta API
    "text-completion-openai": "openai",
    "anthropic_text": "anthropic",
    "azure_text": "azure_openai",
    "vertex_ai_beta": "google",
}
"""The custom_llm_provider values LiteLLM writes → ours: read through the one table of pipelines.adapters.providers."""


def row(**changes) -> dict:
    record = dict(SAMPLE, metadata=dict(SAMPLE["metadata"]))
    record.update(changes)
    return record


def _jsonl(*records: dict | str) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n").encode()


def _parse(*records, name: str = "f.jsonl", attribution: AttributionConfig | None = None):
    data = litellm_csv(*records) if name.endswith(".csv") else _jsonl(*records)
    return parse_litellm(data, name, attribution)


def _buckets(result, index: int = 0) -> dict:
    record = result.rows.slice(index, 1).to_pylist()[0]
    return {bucket: record[bucket] for bucket in (*TOKEN_BUCKETS, "web_search_requests")}


def _zero(**non_zero) -> dict:
    return {**{b: 0 for b in (*TOKEN_BUCKETS, "web_search_requests")}, **non_zero}


def _usage(**detail) -> dict:
    """A SpendLogs metadata carrying usage detail the way LiteLLM writes it (additional_usage_values)."""
    return dict(SAMPLE["metadata"], additional_usage_values=detail)


def test_shared_sample_row_without_usage_detail_is_all_uncached_input():
    # tests/fixtures/litellm/litellm_spendlogs_row.json, one line. Its metadata has no usage detail, so the
    # 8120 prompt_tokens (in truth 120 uncached + 8000 cache reads, per LiteLLM's Anthropic rule) can only
    # be uncached input, and the 2000 cache writes (not in prompt_tokens) are not in the export at all.
    result = parse_litellm(_jsonl(SAMPLE), "spendlogs.jsonl")
    assert result.rejected.num_rows == 0
    assert _buckets(result) == _zero(input_tokens=8120, output_tokens=350)
    (r,) = result.rows.to_pylist()
    assert (r["request_id"], r["provider"], r["model"], r["service_tier"]) == (SAMPLE["request_id"], "anthropic", "claude-3-5-sonnet-20241022", "standard")
    assert r["occurred_at"].isoformat() == "2024-11-01T00:00:00+00:00" and r["latency_ms"] == 1850
    # feature from the tag, user from end_user (raw: ingestion pseudonymizes), customer from team_id, conversation from session_id
    assert (r["feature"], r["user_id"], r["user_segment"], r["customer_id"], r["conversation_id"]) == (
        "search", "customer-123", None, "team-search", "sess-abc")
    assert json.loads(r["tags"]) == {"feature": "search", "env": "prod"} and r["status"] == "success"


def test_shared_sample_as_csv_reads_the_same():
    # The same row exported as CSV with the schema's columns (litellm_spendlogs_columns.csv); line 2 after the header.
    jsonl = parse_litellm(_jsonl(SAMPLE), "spendlogs.jsonl").rows.drop_columns(["source_row"])
    result = parse_litellm((FIXTURES / "spendlogs_row.csv").read_bytes(), "spendlogs.csv")
    assert result.rejected.num_rows == 0 and result.rows["source_row"].to_pylist() == [2]
    assert result.rows.drop_columns(["source_row"]).equals(jsonl)


def test_usage_detail_in_metadata_gives_exact_anthropic_buckets():
    # The sample call with LiteLLM's additional_usage_values kept: prompt_tokens 8120 = 120 input + 8000
    # cache reads; the 2000 cache writes (1500 5-minute, 500 1-hour) come ON TOP for Anthropic. Buckets
    # 120 / 8000 / 1500 / 500 / 350 price to the README's $0.016635 at claude-3-5-sonnet list prices.
    result = parse_litellm((FIXTURES / "spendlogs_with_usage_detail.jsonl").read_bytes(), "detail.jsonl")
    assert _buckets(result) == _zero(input_tokens=120, cache_read_tokens=8000, cache_write_5m_tokens=1500,
                                     cache_write_1h_tokens=500, output_tokens=350)


def test_usage_object_wins_over_additional_usage_values():
    metadata = dict(SAMPLE["metadata"], usage_object={"prompt_tokens": 8120, "cache_read_input_tokens": 8000},
                    additional_usage_values={"cache_read_input_tokens": 7000})
    assert _buckets(_parse(row(metadata=metadata)))["cache_read_tokens"] == 8000


def test_provider_semantics_for_cache_reasoning_and_audio():
    openai = row(request_id="o", custom_llm_provider="openai", model="gpt-4o-2024-08-06", prompt_tokens=2006, completion_tokens=300,
                 metadata=_usage(prompt_tokens_details={"cached_tokens": 1920, "audio_tokens": 6},
                                 completion_tokens_details={"reasoning_tokens": 100, "audio_tokens": 50}))
    google = row(request_id="g", custom_llm_provider="vertex_ai", model="gemini-2.5-flash", prompt_tokens=1000, completion_tokens=500,
                 metadata=_usage(prompt_tokens_details={"cached_tokens": 600}, completion_tokens_details={"reasoning_tokens": 200},
                                 cache_read_input_tokens=600))
    bedrock = row(request_id="b", custom_llm_provider="bedrock", model="anthropic.claude-3-5-sonnet-20241022-v2:0",
                  prompt_tokens=10120, completion_tokens=350,
                  metadata=_usage(cache_read_input_tokens=8000, cache_creation_input_tokens=2000))
    vertex_claude = row(request_id="v", custom_llm_provider="vertex_ai", model="claude-3-5-sonnet-v2@20241022",
                        prompt_tokens=8120, completion_tokens=350,
                        metadata=_usage(cache_read_input_tokens=8000, cache_creation_input_tokens=2000))
    result = _parse(openai, google, bedrock, vertex_claude)
    assert result.rejected.num_rows == 0
    # OpenAI: cached and audio are inside prompt_tokens, reasoning and audio inside completion_tokens.
    assert _buckets(result, 0) == _zero(input_tokens=2006 - 1920 - 6, cache_read_tokens=1920, audio_input_tokens=6,
                                        output_tokens=300 - 100 - 50, reasoning_tokens=100, audio_output_tokens=50)
    # Gemini via LiteLLM: prompt includes cached content; completion = candidates + thoughts.
    assert _buckets(result, 1) == _zero(input_tokens=400, cache_read_tokens=600, output_tokens=300, reasoning_tokens=200)
    # Bedrock Converse via LiteLLM: prompt_tokens = inputTokens + cache reads + cache writes.
    assert _buckets(result, 2) == _zero(input_tokens=120, cache_read_tokens=8000, cache_write_5m_tokens=2000, output_tokens=350)
    # Claude on Vertex AI goes through LiteLLM's Anthropic transformer: writes on top of prompt_tokens.
    assert _buckets(result, 3) == _zero(input_tokens=120, cache_read_tokens=8000, cache_write_5m_tokens=2000, output_tokens=350)


def test_image_tokens_of_openai_and_gemini_are_their_own_buckets():
    """Gemini image generation through LiteLLM: its Gemini transformer (1.110.2, vertex_and_google_ai_studio_gemini.py
    _calculate_usage) writes candidatesTokensDetails' IMAGE into completion_tokens_details.image_tokens and the prompt's
    into prompt_tokens_details.image_tokens (cached ones in cached_tokens_details). The candidates are those of
    pydantic/pydantic-ai 4fda389 tests/models/cassettes/test_google/test_google_image_generation_with_web_search.yaml
    (1,780 candidate tokens, 1,120 of them IMAGE), the prompt made up to hold images, some cached. They were text
    output (priced 10x low)."""
    gemini = row(request_id="g", custom_llm_provider="gemini", model="gemini-3-pro-image-preview", prompt_tokens=2300, completion_tokens=1780,
                 metadata=_usage(prompt_tokens_details={"text_tokens": 1000, "image_tokens": 1300, "cached_tokens": 500,
                                                        "cached_tokens_details": {"image_tokens": 500}},
                                 completion_tokens_details={"text_tokens": 660, "image_tokens": 1120}, cache_read_input_tokens=500))
    openai = row(request_id="o", custom_llm_provider="openai", model="gpt-image-1", prompt_tokens=50, completion_tokens=4160,
                 metadata=_usage(prompt_tokens_details={"text_tokens": 40, "image_tokens": 10}, completion_tokens_details={"image_tokens": 4160}))
    anthropic = row(request_id="a", custom_llm_provider="anthropic", model="claude-sonnet-4-5", prompt_tokens=100, completion_tokens=10,
                    metadata=_usage(prompt_tokens_details={"image_tokens": 50}))  # not read for Claude: its images are input
    broken = row(request_id="b", custom_llm_provider="gemini", model="gemini-3-pro-image-preview", prompt_tokens=100, completion_tokens=10,
                 metadata=_usage(prompt_tokens_details={"image_tokens": 10, "cached_tokens": 40, "cached_tokens_details": {"image_tokens": 40}},
                                 cache_read_input_tokens=40))
    result = _parse(gemini, openai, anthropic, broken)
    assert _buckets(result, 0) == _zero(input_tokens=1000, cache_read_tokens=500, image_input_tokens=800, output_tokens=660,
                                        image_output_tokens=1120)
    assert _buckets(result, 1) == _zero(input_tokens=40, image_input_tokens=10, image_output_tokens=4160)
    assert _buckets(result, 2) == _zero(input_tokens=100, output_tokens=10)
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        ("metadata", "inconsistent usage: cached image tokens exceed the image tokens")]


def test_gemini_audio_through_litellm_is_its_own_bucket():
    """LiteLLM's Gemini transformer (1.110.2, vertex_and_google_ai_studio_gemini.py _calculate_usage) writes the prompt's
    AUDIO modality into prompt_tokens_details.audio_tokens, cached audio included and given in cached_tokens_details,
    and the candidates' AUDIO into completion_tokens_details.audio_tokens. Gemini audio was read for OpenAI and Azure
    only: a gemini-2.5-flash call with 800 audio tokens in was priced at the text rate ($0.30 for $1.00 per 1M)."""
    gemini = row(request_id="g", custom_llm_provider="gemini", model="gemini-2.5-flash", prompt_tokens=1200, completion_tokens=100,
                 metadata=_usage(prompt_tokens_details={"text_tokens": 200, "audio_tokens": 1000, "cached_tokens": 300,
                                                        "cached_tokens_details": {"audio_tokens": 200, "text_tokens": 100}},
                                 cache_read_input_tokens=300))
    live = row(request_id="l", custom_llm_provider="vertex_ai", model="gemini-live-2.5-flash", prompt_tokens=500, completion_tokens=900,
               metadata=_usage(prompt_tokens_details={"audio_tokens": 400}, completion_tokens_details={"audio_tokens": 800}))
    broken = row(request_id="b", custom_llm_provider="gemini", model="gemini-2.5-flash", prompt_tokens=100, completion_tokens=10,
                 metadata=_usage(prompt_tokens_details={"audio_tokens": 10, "cached_tokens": 40, "cached_tokens_details": {"audio_tokens": 40}},
                                 cache_read_input_tokens=40))
    result = _parse(gemini, live, broken)
    assert _buckets(result, 0) == _zero(input_tokens=100, cache_read_tokens=300, audio_input_tokens=800, output_tokens=100)
    assert _buckets(result, 1) == _zero(input_tokens=100, audio_input_tokens=400, output_tokens=100, audio_output_tokens=800)
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        ("metadata", "inconsistent usage: cached audio tokens exceed the audio tokens")]


def test_provider_names_map_to_ours():
    names = sorted(PROVIDERS)
    result = _parse(*(row(request_id=n, custom_llm_provider=n) for n in names))
    assert result.rows["provider"].to_pylist() == [PROVIDERS[n] for n in names]
    assert set(PROVIDERS.values()) == {"openai", "azure_openai", "anthropic", "aws_bedrock", "google", "mistral", "deepseek", "xai"}


def test_timestamps_naive_is_utc_and_offsets_convert():
    result = _parse(
        row(request_id="a", startTime="2024-11-01 00:00:00.123"),       # Postgres export of timestamp(3): UTC by schema
        row(request_id="b", startTime="2024-11-01T02:00:00+02:00"),
        row(request_id="c", startTime="2024-11-01T00:00:00Z"),
    )
    assert [t.isoformat() for t in result.rows["occurred_at"].to_pylist()] == [
        "2024-11-01T00:00:00.123000+00:00", "2024-11-01T00:00:00+00:00", "2024-11-01T00:00:00+00:00"]


def test_cache_hit_costs_nothing_and_service_tier_and_model_fallbacks():
    result = _parse(
        row(request_id="hit", cache_hit="True"),
        row(request_id="prio", metadata=dict(SAMPLE["metadata"], service_tier="priority")),
        row(request_id="dflt", metadata=_usage(service_tier="default")),
        row(request_id="batch", call_type="aretrieve_batch"),
        row(request_id="group", model=""),
    )
    rows = {r["request_id"]: r for r in result.rows.to_pylist()}
    assert _buckets(result, 0) == _zero() and rows["hit"]["status"] == "cache_hit"  # served by LiteLLM's cache, spend 0
    assert [rows[k]["service_tier"] for k in ("prio", "dflt", "batch", "group")] == ["priority", "standard", "batch", "standard"]
    assert rows["group"]["model"] == "claude-sonnet"


def test_bedrock_s_reserved_tier_is_read_as_provisioned_throughput():
    """LiteLLM copies a Bedrock Converse response's `serviceTier.type` to `service_tier`; Bedrock's Reserved tier is
    capacity billed per tokens-per-minute, not per token, so it is read as provisioned_throughput (unpriced)."""
    result = _parse(row(request_id="res", metadata=dict(SAMPLE["metadata"], service_tier="reserved")),
                    row(request_id="flex", metadata=dict(SAMPLE["metadata"], service_tier="flex")))
    rows = {r["request_id"]: r["service_tier"] for r in result.rows.to_pylist()}
    assert rows == {"res": "provisioned_throughput", "flex": "flex"}


def test_spend_is_never_used():
    cheap, dear = _parse(row(spend=0.0)).rows, _parse(row(spend=123.45)).rows
    assert cheap.equals(dear) and not any("spend" in name or "cost" in name for name in cheap.column_names)


def test_attribution_keys_tags_metadata_columns_and_unattributed():
    metadata = dict(SAMPLE["metadata"], spend_logs_metadata={"feature": "from_metadata", "user_segment": "enterprise"},
                    user_api_key_team_alias="Acme Corp")
    result = _parse(
        row(request_id="a", request_tags=["env:prod"], metadata=metadata),
        row(request_id="b", request_tags=[], end_user="", team_id="", session_id=None),
    )
    a, b = result.rows.to_pylist()
    assert (a["feature"], a["user_segment"], a["customer_id"]) == ("from_metadata", "enterprise", "Acme Corp")
    assert (b["feature"], b["user_id"], b["customer_id"], b["conversation_id"], b["tags"]) == ("unattributed", None, None, None, None)
    custom = AttributionConfig.from_mapping({"litellm": {"feature": ["tag:env"], "user_id": ["user"]}})
    c = _parse(row(), attribution=custom).rows.to_pylist()[0]
    assert (c["feature"], c["user_id"]) == ("prod", "internal-user-42")


REJECTIONS = [
    ('{"request_id": "x"', "", "invalid JSON"),
    ('["a"]', "", "record is not a JSON object (found array)"),
    (row(request_id=""), "request_id", "missing required field"),
    (row(startTime=None), "startTime", "missing required field"),
    (row(custom_llm_provider=""), "custom_llm_provider", "missing required field"),
    (row(model="", model_group=None), "model", "missing required field"),
    (row(custom_llm_provider="cohere"), "custom_llm_provider",
     "unknown provider 'cohere' (expected one of openai, azure_openai, anthropic, google, aws_bedrock, mistral, deepseek, xai, or a name docs/formats/providers.md lists; map another under providers: in attribution.yaml)"),
    (row(startTime="yesterday"), "startTime", "invalid timestamp: 'yesterday'"),
    (row(metadata="{not json"), "metadata", "not a JSON object"),
    (row(request_tags="feature:search"), "request_tags", "not a JSON array"),
    (row(prompt_tokens=-1), "prompt_tokens", "negative token count"),
    (row(completion_tokens=1.5), "completion_tokens", "token count is not a whole number"),
    # below a double's precision, judged on the digits: 1e-400 and 1.0000000000000001 were loaded as 0 and 1
    (row(prompt_tokens="1e-400"), "prompt_tokens", "token count is not a whole number"),
    (row(prompt_tokens="1.0000000000000001"), "prompt_tokens", "token count is not a whole number"),
    (row(prompt_tokens="many"), "prompt_tokens", "token count is not a number: many"),
    (row(prompt_tokens=10**20), "prompt_tokens", "token count exceeds the 64-bit integer range"),
    (row(metadata=_usage(cache_read_input_tokens="NaN")), "metadata.additional_usage_values.cache_read_input_tokens",
     "token count is not a finite number"),
    (row(metadata={"usage_object": {"completion_tokens_details": {"reasoning_tokens": -3}}}),
     "metadata.usage_object.completion_tokens_details.reasoning_tokens", "negative token count"),
    (row(prompt_tokens=None), "prompt_tokens", "missing required field"),
    (row(completion_tokens=None), "completion_tokens", "missing required field"),
    (row(metadata=_usage(cache_read_input_tokens=9000)), "prompt_tokens",
     "inconsistent usage: cached, cache-write, audio and image tokens in metadata exceed prompt_tokens"),
    (row(metadata=_usage(completion_tokens_details={"reasoning_tokens": 351})), "completion_tokens",
     "inconsistent usage: reasoning, audio and image tokens in metadata exceed completion_tokens"),
    (row(metadata=_usage(cache_creation_input_tokens=10, prompt_tokens_details={"cache_creation_token_details": {"ephemeral_1h_input_tokens": 11}})),
     "metadata", "inconsistent usage: 1-hour cache writes exceed the cache writes total"),
]


def test_each_rejection_names_row_field_and_reason():
    good = row(request_id="good")
    result = _parse(good, *(r for r, _, _ in REJECTIONS), row(request_id="good2"))
    assert result.rows.num_rows == 2
    got = [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()]
    assert got == [(i, field, reason) for i, (_, field, reason) in enumerate(REJECTIONS, start=2)]


def test_csv_rejections_and_multiline_cells():
    header = ",".join(COLUMNS)
    good = litellm_csv(row(request_id="g1")).decode().splitlines()[1]
    multiline = litellm_csv(row(request_id="g2", user="internal\nuser-42")).decode().split("\n", 1)[1].rstrip("\n")  # a quoted cell over two lines
    short = "r-short,acompletion"
    literal = good.replace("g1", "g3", 1).replace("acompletion", 'acomp"let"ion', 1)  # quotes inside an unquoted cell are text
    unclosed = 'r-unclosed,x"y,"z'  # even quotes on the line, but the last cell opens a quote it never closes
    unterminated = good.replace("g1", "g4", 1) + ',"never closed'
    text = "\r\n".join([header, good, short, multiline, literal, unclosed]) + "\r\n"
    data = text.encode() + b"\xff\xfe,bad\r\n" + (unterminated + "\n").encode()
    by_user = AttributionConfig.from_mapping({"litellm": {"user_id": ["user"], "feature": ["call_type"]}})
    result = parse_litellm(data, "spendlogs.csv", by_user)
    assert result.rows["request_id"].to_pylist() == ["g1", "g2", "g3"]
    assert result.rows["user_id"].to_pylist() == ["internal-user-42", "internal\nuser-42", "internal-user-42"]
    assert result.rows["feature"].to_pylist() == ["acompletion", "acompletion", 'acomp"let"ion']
    assert result.rows["source_row"].to_pylist() == [2, 4, 6]
    assert [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        (3, "", f"row has 2 fields, expected {len(COLUMNS)} (as in the header)"),
        (7, "", "malformed CSV row (a quoted cell is not closed)"),
        (8, "", "line is not valid UTF-8"),
        (9, "", "unterminated quoted field"),
    ]
    # A clean file takes Arrow's reader, a file with a bad record the per-record path: same rows either way.
    clean = "\r\n".join([header, good, multiline, literal]) + "\r\n"
    fast = parse_litellm(clean.encode(), "spendlogs.csv", by_user).rows
    assert fast.drop_columns(["source_row"]).equals(result.rows.drop_columns(["source_row"]))


def test_gzip_csv_and_jsonl():
    for name, data in (("f.csv.gz", litellm_csv(row(request_id="a"), row(request_id="b"))), ("f.jsonl.gz", _jsonl(row(request_id="a"), row(request_id="b")))):
        result = parse_litellm(gzip.compress(data), name)
        assert result.rows["request_id"].to_pylist() == ["a", "b"], name


def test_prompt_and_response_text_never_reach_any_output():
    content = {"messages": [{"role": "user", "content": "SENTINEL-PROMPT"}],
               "response": {"choices": [{"message": {"content": "SENTINEL-ANSWER"}}]},
               "proxy_server_request": {"body": {"messages": [{"content": "SENTINEL-BODY"}]}}}
    good, bad = row(request_id="good", **content), row(request_id="bad", prompt_tokens=-1, **content)
    for name in ("f.jsonl", "f.csv"):
        result = _parse(good, bad, name=name)
        assert result.rows.num_rows == 1 and result.rejected.num_rows == 1, name
        assert "SENTINEL" not in str(result.rows.to_pylist()) + str(result.rejected.to_pylist()), name
        (rejected,) = result.rejected.to_pylist()
        assert "customer-123" not in rejected["record"] and rejected["user_id"] == "customer-123"


@st.composite
def _call(draw):
    """One request as LiteLLM logs it for a provider, and what that provider bills in tokens."""
    provider = draw(st.sampled_from(["anthropic", "bedrock", "openai", "azure", "vertex_ai", "gemini"]))
    n = st.integers(0, 10**9)
    uncached, read, output, reasoning = draw(n), draw(n), draw(n), draw(n)
    hour = draw(n) if provider in ("anthropic", "bedrock") else 0
    writes = hour + (draw(n) if provider in ("anthropic", "bedrock") else 0)
    detail = {"cache_read_input_tokens": read, "prompt_tokens_details": {"cached_tokens": read},
              "completion_tokens_details": {"reasoning_tokens": reasoning}}
    if writes:
        detail["cache_creation_input_tokens"] = writes
        detail["prompt_tokens_details"]["cache_creation_token_details"] = {"ephemeral_1h_input_tokens": hour}
    # Claude: LiteLLM counts the writes in prompt_tokens (1.80 on); its 2025 releases left them out, which a row shows
    # when its prompt is smaller than its reads and writes together
    apart = provider == "anthropic" and writes > 0 and draw(st.booleans())
    if apart:
        uncached = draw(st.integers(0, writes - 1))
    prompt = uncached + read + (0 if apart else writes)
    completion = output + reasoning
    where = draw(st.sampled_from(["usage_object", "additional_usage_values"]))
    record = row(custom_llm_provider=provider, prompt_tokens=prompt, completion_tokens=completion,
                 metadata={where: detail}, model="claude-3-5-sonnet" if provider == "anthropic" else "m")
    billed = prompt + completion + (writes if apart else 0)
    return record, billed


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(_call(), min_size=1, max_size=20))
def test_buckets_conserve_the_billed_total(calls):
    result = _parse(*(dict(record, request_id=f"r{i}") for i, (record, _) in enumerate(calls)))
    assert result.rejected.num_rows == 0
    for i, (_, billed) in enumerate(calls):
        buckets = _buckets(result, i)
        assert all(v >= 0 for v in buckets.values())
        assert sum(buckets[b] for b in TOKEN_BUCKETS) == billed


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=8), st.sampled_from(["openai", "bedrock", "2024-11-01T00:00:00Z", "True", "feature:x"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                     max_leaves=8)
_record = st.dictionaries(
    st.sampled_from(["request_id", "startTime", "model", "model_group", "custom_llm_provider", "prompt_tokens", "completion_tokens",
                     "cache_hit", "metadata", "request_tags", "end_user", "team_id", "session_id", "call_type", "messages"]),
    st.one_of(_json, st.fixed_dictionaries({}, optional={"usage_object": _json, "additional_usage_values": _json, "service_tier": _scalars})),
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(st.one_of(_record.map(lambda r: dict(row(), **r)), _record, _json,
                                st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=10).map(lambda t: ("raw", t))),
                      min_size=1, max_size=8),
       as_csv=st.booleans())
def test_fuzz_never_raises_and_accounts_for_every_record(lines, as_csv):
    if as_csv:
        records = [r for r in lines if isinstance(r, dict)]
        if not records:
            return
        result = parse_litellm(litellm_csv(*records), "fuzz.csv")
        assert result.rows.num_rows + result.rejected.num_rows == len(records)
        # One short row at the end sends the file down the record-by-record path: the same rows come out.
        per_record = parse_litellm(litellm_csv(*records) + b"short,row\n", "fuzz.csv")
        assert per_record.rows.equals(result.rows) and per_record.rejected.num_rows == result.rejected.num_rows + 1
    else:
        rendered = [line[1] if isinstance(line, tuple) else json.dumps(line) for line in lines]
        result = parse_litellm(("\n".join(rendered) + "\n").encode(), "fuzz.jsonl")
        assert result.rows.num_rows + result.rejected.num_rows == len(lines)
    assert all(v is None or v >= 0 for b in TOKEN_BUCKETS for v in result.rows[b].to_pylist())


@pytest.mark.parametrize(
    ("prompt", "total"),
    [(12, 12 + 2495 + 300 + 80), (12, 12 + 80), (2507, 2507 + 80)],
    ids=["messages-total-counts-the-cache", "messages-total-without-it", "older-row-prompt-with-reads"],
)
def test_a_v1_messages_row_whose_prompt_leaves_the_cache_out(prompt, total):
    """LiteLLM PR #23342 (BerriAI/litellm, 2026-03-11): for call_type anthropic_messages (Claude Code's /v1/messages),
    prompt_tokens excludes cache reads and writes, "e.g. 12" with cached_tokens 2495. Older rows counted the reads
    in prompt_tokens (2507); both give 12 uncached input tokens."""
    meta = _usage(cache_read_input_tokens=2495, cache_creation_input_tokens=300,
                  prompt_tokens_details={"cached_tokens": 2495, "cache_creation_tokens": 300})
    result = _parse(row(call_type="anthropic_messages", custom_llm_provider="anthropic", model="claude-sonnet-4-5-20250929",
                        prompt_tokens=prompt, completion_tokens=80, total_tokens=total, metadata=meta))
    assert result.rejected.num_rows == 0
    assert _buckets(result) == _zero(input_tokens=12, cache_read_tokens=2495, cache_write_5m_tokens=300, output_tokens=80)


def test_claude_rows_whose_prompt_counts_the_cache_writes_bill_them_once():
    """LiteLLM counts Claude's cache writes inside prompt_tokens: 1.80.11's row in BerriAI/litellm issue #11364
    (98805 prompt = 10 uncached + 66360 read + 32435 written, text_tokens null) and 1.110.2's calculate_usage
    (llms/anthropic/chat/transformation.py: prompt_tokens += cache_creation_input_tokens; text_tokens = the uncached
    count). They were read by the 2025 rule (writes apart), so every written token was billed twice (+77% on a call
    that mostly writes). A 2025 row with text_tokens (prompt = text + reads) still keeps its writes apart."""
    v1_80 = row(request_id="a", prompt_tokens=98805, completion_tokens=5120, metadata=_usage(
        cache_read_input_tokens=66360, cache_creation_input_tokens=32435,
        prompt_tokens_details={"text_tokens": None, "cached_tokens": 66360, "cache_creation_tokens": 32435},
        completion_tokens_details={"reasoning_tokens": 1710}))
    v1_110 = row(request_id="b", prompt_tokens=15635, completion_tokens=150, metadata=_usage(
        cache_read_input_tokens=0, cache_creation_input_tokens=15624,
        prompt_tokens_details={"cached_tokens": 0, "cache_creation_tokens": 15624, "text_tokens": 11}))
    apart = row(request_id="c", prompt_tokens=9000 + 800, completion_tokens=50, metadata=_usage(
        cache_read_input_tokens=800, cache_creation_input_tokens=2000,
        prompt_tokens_details={"cached_tokens": 800, "cache_creation_tokens": 2000, "text_tokens": 9000}))
    result = _parse(v1_80, v1_110, apart)
    assert result.rejected.num_rows == 0
    assert _buckets(result, 0) == _zero(input_tokens=10, cache_read_tokens=66360, cache_write_5m_tokens=32435,
                                        output_tokens=5120 - 1710, reasoning_tokens=1710)
    assert _buckets(result, 1) == _zero(input_tokens=11, cache_write_5m_tokens=15624, output_tokens=150)
    assert _buckets(result, 2) == _zero(input_tokens=9000, cache_read_tokens=800, cache_write_5m_tokens=2000, output_tokens=50)


@pytest.mark.parametrize("csv", [False, True])
def test_a_call_that_failed_before_any_provider_is_skipped_not_rejected(csv):
    """LiteLLM logs an auth failure (bad key, no model access) as a SpendLogs row with an empty custom_llm_provider,
    no tokens and status failure: no provider was called, so it is counted as skipped, not as a bad row."""
    auth_failure = row(request_id="auth-1", custom_llm_provider="", prompt_tokens=0, completion_tokens=0, total_tokens=0,
                       status="failure", metadata={})
    broken = row(request_id="bad-1", custom_llm_provider="", status="success")
    result = _parse(auth_failure, row(), broken, name="spend.csv" if csv else "spend.jsonl")
    assert result.rows.num_rows == 1
    assert result.skipped == (("failed_before_a_provider_call", 1),)
    assert [(r["row_number"], r["field"]) for r in result.rejected.to_pylist()] == [(3 if not csv else 4, "custom_llm_provider")]
    assert result.rows_read == 3
