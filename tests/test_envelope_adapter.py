"""The envelope adapter: exact token buckets per provider, and the exact reason for each rejection."""

from __future__ import annotations

import gzip
import json

import pytest
from helpers import envelope, sample_usage
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.adapters import TOKEN_BUCKETS
from pipelines.adapters.envelope import parse_envelope


def _parse(*lines: str, name: str = "f.jsonl"):
    return parse_envelope(("\n".join(lines) + "\n").encode(), name)


def _buckets(result, row: int = 0) -> dict:
    record = result.rows.slice(row, 1).to_pylist()[0]
    return {bucket: record[bucket] for bucket in (*TOKEN_BUCKETS, "web_search_requests")}


def test_openai_chat_sample_splits_cached_out_of_prompt():
    result = _parse(envelope("a", "openai", "gpt-4o-2024-08-06", sample_usage("openai_chat_completions_usage.json")))
    assert _buckets(result) == {
        "input_tokens": 86, "cache_read_tokens": 1920, "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0,
        "output_tokens": 300, "reasoning_tokens": 0, "audio_input_tokens": 0, "audio_output_tokens": 0,
        "image_input_tokens": 0, "image_output_tokens": 0,
        "web_search_requests": 0,
    }


@pytest.mark.parametrize("provider", ["openai", "azure_openai"])
def test_an_openai_embeddings_usage_has_no_output(provider):
    """OpenAI's embeddings API reference (POST /v1/embeddings): "usage": {"prompt_tokens": 8, "total_tokens": 8}, no
    completion count. A chat usage without completion_tokens whose total is more than the prompt is still refused."""
    result = _parse(
        envelope("emb", provider, "text-embedding-3-small", {"prompt_tokens": 8, "total_tokens": 8}),
        envelope("chat", provider, "gpt-4o-2024-08-06", {"prompt_tokens": 8, "total_tokens": 20}),
    )
    assert _buckets(result) == {**dict.fromkeys(TOKEN_BUCKETS, 0), "input_tokens": 8, "web_search_requests": 0}
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        ("usage", f"missing output token count for provider {provider}")]


def test_openai_responses_sample_splits_reasoning_out_of_output():
    result = _parse(envelope("a", "openai", "o4-mini-2025-04-16", sample_usage("openai_responses_usage.json")))
    buckets = _buckets(result)
    assert (buckets["input_tokens"], buckets["cache_read_tokens"]) == (5200 - 4096, 4096)
    assert (buckets["output_tokens"], buckets["reasoning_tokens"]) == (1450 - 1024, 1024)


def test_anthropic_sample_keeps_input_and_splits_cache_writes_by_ttl():
    result = _parse(envelope("a", "anthropic", "claude-3-5-sonnet-20241022", sample_usage("anthropic_messages_usage.json")))
    buckets = _buckets(result)
    assert buckets["input_tokens"] == 120 and buckets["cache_read_tokens"] == 8000
    assert (buckets["cache_write_5m_tokens"], buckets["cache_write_1h_tokens"]) == (1500, 500)
    assert buckets["output_tokens"] == 350


def test_bedrock_mantle_openai_compatible_usage_is_read_as_openai_usage():
    """Bedrock's OpenAI-compatible Mantle endpoint returns OpenAI's usage under provider aws_bedrock. Real responses
    (pydantic/pydantic-ai 4fda38988f2939fa6ea9cdefcf120693e10ef491, tests/models/cassettes/test_bedrock_mantle/):
    the Responses API's (test_reused_tool_call_ids[request].yaml) was read as Anthropic's, dropping its cache writes
    into uncached input; Chat Completions' (test_safeguard_chat_routing.yaml) was refused, "missing input token
    count". Bedrock's own shapes (Converse, Anthropic's InvokeModel) are unchanged."""
    responses = {"input_tokens": 88, "input_tokens_details": {"cache_write_tokens": 86, "cached_tokens": 0}, "output_tokens": 14,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 102}
    chat = {"completion_tokens": 56, "prompt_tokens": 72, "total_tokens": 128}
    cached = {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1024}, "output_tokens": 300,
              "output_tokens_details": {"reasoning_tokens": 120}, "total_tokens": 1500}
    invoke = {"input_tokens": 120, "cache_read_input_tokens": 8000, "cache_creation_input_tokens": 0, "output_tokens": 350,
              "output_tokens_details": {"thinking_tokens": 100}}
    result = _parse(
        envelope("mantle-responses", "aws_bedrock", "openai.gpt-5.6-luna", responses),
        envelope("mantle-chat", "aws_bedrock", "openai.gpt-oss-120b", chat),
        envelope("mantle-cached", "aws_bedrock", "openai.gpt-5.6-luna", cached),
        envelope("invoke-model", "aws_bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", invoke),
    )
    assert result.rejected.num_rows == 0
    zero = dict.fromkeys((*TOKEN_BUCKETS, "web_search_requests"), 0)
    assert _buckets(result, 0) == {**zero, "input_tokens": 2, "cache_write_5m_tokens": 86, "output_tokens": 14}
    assert _buckets(result, 1) == {**zero, "input_tokens": 72, "output_tokens": 56}
    assert _buckets(result, 2) == {**zero, "input_tokens": 176, "cache_read_tokens": 1024, "output_tokens": 180, "reasoning_tokens": 120}
    assert _buckets(result, 3) == {**zero, "input_tokens": 120, "cache_read_tokens": 8000, "output_tokens": 250, "reasoning_tokens": 100}


def test_anthropic_without_ttl_split_counts_all_writes_as_five_minute():
    usage = {"input_tokens": 10, "cache_creation_input_tokens": 700, "cache_read_input_tokens": 5, "output_tokens": 20}
    buckets = _buckets(_parse(envelope("a", "anthropic", "claude-3-5-sonnet-20241022", usage)))
    assert (buckets["cache_write_5m_tokens"], buckets["cache_write_1h_tokens"]) == (700, 0)


def test_service_tier_default_and_feature_fallbacks():
    result = _parse(
        envelope("a", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1, "completion_tokens": 1}, service_tier="default", feature=None),
        envelope("b", "anthropic", "claude-3-5-sonnet-20241022", {"input_tokens": 1, "output_tokens": 1, "service_tier": "batch"}, service_tier=None),
    )
    rows = result.rows.to_pylist()
    assert [(r["service_tier"], r["feature"]) for r in rows] == [("standard", "unattributed"), ("batch", "support_chat")]


REJECTIONS = [
    ('{"request_id": "x"', "", "invalid JSON"),
    # JSON to Python's parser, not to DuckDB's: the string's field and escape are named (json.dumps writes "\\udc00")
    (envelope("a", "openai", "m", {"prompt_tokens": 1, "completion_tokens": 1}, feature="chat\udc00"), "feature",
     "invalid JSON: a string holds a lone surrogate escape (\\udc00), not a Unicode character"),
    (envelope("a", "openai", "m", {"prompt_tokens": 1, "completion_tokens": 1}, tags={"team": ["ok", "x\ud83d"]}), "tags.team[1]",
     "invalid JSON: a string holds a lone surrogate escape (\\ud83d), not a Unicode character"),
    ("[1, 2, 3]", "", "record is not a JSON object (found array)"),
    (envelope("a", "openai", "m", {"prompt_tokens": -1, "completion_tokens": 1}), "usage.prompt_tokens", "negative token count"),
    (envelope("a", "openai", "m", {"prompt_tokens": 1.5, "completion_tokens": 1}), "usage.prompt_tokens", "token count is not a whole number"),
    (envelope("a", "openai", "m", {"prompt_tokens": 10**20, "completion_tokens": 1}), "usage.prompt_tokens", "token count exceeds the 64-bit integer range"),
    # written with an exponent (it said "not a whole number"); 1e400 is a double's infinity
    (envelope("a", "openai", "m", {"prompt_tokens": 123456789, "completion_tokens": 1}).replace("123456789", "1e19"), "usage.prompt_tokens",
     "token count exceeds the 64-bit integer range"),
    (envelope("a", "openai", "m", {"prompt_tokens": 123456789, "completion_tokens": 1}).replace("123456789", "1e400"), "usage.prompt_tokens",
     "token count exceeds the 64-bit integer range"),
    (envelope("a", "openai", "m", {"prompt_tokens": 123456789, "completion_tokens": 1}).replace("123456789", "1.255e2"), "usage.prompt_tokens",
     "token count is not a whole number"),
    (envelope("a", "openai", "m", {"prompt_tokens": "many", "completion_tokens": 1}), "usage.prompt_tokens", "token count is not a number: many"),
    # DuckDB's cast reads these as 16, 5 and 1000: a count is digits
    (envelope("a", "openai", "m", {"prompt_tokens": "0x10", "completion_tokens": 1}), "usage.prompt_tokens", "token count is not a number: 0x10"),
    (envelope("a", "openai", "m", {"prompt_tokens": 1, "completion_tokens": "0b101"}), "usage.completion_tokens", "token count is not a number: 0b101"),
    (envelope("a", "openai", "m", {"prompt_tokens": "1_000", "completion_tokens": 1}), "usage.prompt_tokens", "token count is not a number: 1_000"),
    (envelope("a", "openai", "m", {"prompt_tokens": 1, "completion_tokens": 1}, timestamp="2026-11-27T10:15:02"), "timestamp", "timestamp has no UTC offset: '2026-11-27T10:15:02'"),
    (envelope("a", "openai", "m", {"prompt_tokens": 1, "completion_tokens": 1}, timestamp="yesterday+01:00"), "timestamp", "invalid timestamp: 'yesterday+01:00'"),
    (envelope("", "openai", "m", {"prompt_tokens": 1, "completion_tokens": 1}), "request_id", "missing required field"),
    (envelope("a", "openai", "", {"prompt_tokens": 1, "completion_tokens": 1}), "model", "missing required field"),
    (envelope("a", "openai", "m", None), "usage", "missing required field"),
    (envelope("a", "openai", "m", 12), "usage", "usage is not a JSON object"),
    (envelope("a", "cohere", "m", {"prompt_tokens": 1, "completion_tokens": 1}), "provider",
     "unknown provider 'cohere' (expected one of openai, azure_openai, anthropic, google, aws_bedrock, mistral, deepseek, xai, self_hosted:<cluster>)"),
    (envelope("a", "openai", "m", {"completion_tokens": 1}), "usage", "missing input token count for provider openai"),
    (envelope("a", "openai", "m", {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 9}}), "usage",
     "inconsistent usage: cached, cache-write and audio input tokens exceed the input total"),
    (envelope("a", "openai", "m", {"prompt_tokens": 5, "completion_tokens": 1, "completion_tokens_details": {"reasoning_tokens": 4}}), "usage",
     "inconsistent usage: reasoning and audio output tokens exceed the output total"),
    (envelope("a", "anthropic", "m", {"input_tokens": 1, "output_tokens": 1, "cache_creation_input_tokens": 10,
                                       "cache_creation": {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 3}}),
     "usage.cache_creation", "ephemeral_5m + ephemeral_1h differ from cache_creation_input_tokens"),
]


@pytest.mark.parametrize(("line", "field", "reason"), REJECTIONS, ids=[r[2][:40] for r in REJECTIONS])
def test_each_rejection_names_field_and_reason(line, field, reason):
    good = envelope("good", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 3, "completion_tokens": 4})
    result = _parse(good, line, good.replace('"good"', '"good2"'))
    assert result.rows.num_rows == 2
    assert [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [(2, field, reason)]


def test_a_latency_that_cannot_be_one_leaves_the_request_priced_with_latency_unknown():
    """Latency is a measurement, not usage: negative (skewed clocks), 1e309, NaN or text is unknown, the request stays."""
    usage = {"prompt_tokens": 3, "completion_tokens": 4}
    lines = [envelope(f"r{i}", "openai", "gpt-4o-2024-08-06", usage, latency_ms=value)
             for i, value in enumerate([812, -5, "abc", "640", 12.7, None, 0])]
    lines.append(envelope("r7", "openai", "gpt-4o-2024-08-06", usage).replace('"usage"', '"latency_ms": 1e309, "usage"'))
    lines.append(envelope("r8", "openai", "gpt-4o-2024-08-06", usage).replace('"usage"', '"latency_ms": NaN, "usage"'))
    result = _parse(*lines)
    assert result.rejected.num_rows == 0
    assert [(r["request_id"], r["latency_ms"]) for r in result.rows.to_pylist()] == [
        ("r0", 812), ("r1", None), ("r2", None), ("r3", 640), ("r4", 13), ("r5", None), ("r6", 0), ("r7", None), ("r8", None)]


def test_bom_crlf_and_blank_lines_load():
    good = envelope("a", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 3, "completion_tokens": 4})
    data = b"\xef\xbb\xbf" + good.encode() + b"\r\n\r\n   \n" + good.replace('"a"', '"b"').encode() + b"\r\n"
    result = parse_envelope(data, "f.jsonl")
    assert result.rows["request_id"].to_pylist() == ["a", "b"] and result.rejected.num_rows == 0
    assert result.rows["source_row"].to_pylist() == [1, 4]


def test_invalid_utf8_line_is_rejected_and_the_rest_loads():
    good = envelope("a", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 3, "completion_tokens": 4}).encode()
    result = parse_envelope(good + b"\n\xff\xfe{}\n" + good.replace(b'"a"', b'"b"'), "f.jsonl")
    assert result.rows.num_rows == 2
    assert [(r["row_number"], r["reason"]) for r in result.rejected.to_pylist()] == [(2, "line is not valid UTF-8")]


def test_truncated_gzip_keeps_what_decompressed_and_reports_the_tail():
    lines = [envelope(f"r{i}", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 3, "completion_tokens": 4}) for i in range(200)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    result = parse_envelope(data[: len(data) * 2 // 3], "f.jsonl.gz")
    assert 0 < result.rows.num_rows < 200
    reasons = [r["reason"] for r in result.rejected.to_pylist()]
    assert reasons[-1].startswith("gzip stream is truncated or corrupt after")


@st.composite
def _openai_usage(draw):
    prompt = draw(st.integers(0, 10**9))
    cached = draw(st.integers(0, prompt))
    completion = draw(st.integers(0, 10**9))
    reasoning = draw(st.integers(0, completion))
    shape = draw(st.sampled_from(["chat", "responses"]))
    if shape == "chat":
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                 "prompt_tokens_details": {"cached_tokens": cached}, "completion_tokens_details": {"reasoning_tokens": reasoning}}
    else:
        usage = {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion,
                 "input_tokens_details": {"cached_tokens": cached}, "output_tokens_details": {"reasoning_tokens": reasoning}}
    return usage, prompt + completion


@st.composite
def _anthropic_usage(draw):
    five, hour = draw(st.integers(0, 10**8)), draw(st.integers(0, 10**8))
    usage = {"input_tokens": draw(st.integers(0, 10**9)), "cache_read_input_tokens": draw(st.integers(0, 10**9)),
             "cache_creation_input_tokens": five + hour, "output_tokens": draw(st.integers(0, 10**9))}
    if draw(st.booleans()):
        usage["cache_creation"] = {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour}
    billed = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"] + usage["output_tokens"]
    return usage, billed


@settings(max_examples=60, deadline=None)
@given(case=st.one_of(_openai_usage().map(lambda c: ("openai", c)), _anthropic_usage().map(lambda c: ("anthropic", c))))
def test_buckets_conserve_the_billed_total(case):
    provider, (usage, billed) = case
    result = _parse(envelope("a", provider, "m", usage))
    assert result.rejected.num_rows == 0
    buckets = _buckets(result)
    assert all(v >= 0 for v in buckets.values())
    assert sum(buckets[b] for b in TOKEN_BUCKETS) == billed


def test_prompt_text_never_reaches_rejected_records():
    line = json.loads(envelope("a", "openai", "m", {"prompt_tokens": -1, "completion_tokens": 1}))
    line["messages"] = [{"role": "user", "content": "SENTINEL-PROMPT"}]
    line["response"] = {"choices": [{"message": {"content": "SENTINEL-ANSWER"}}]}
    result = _parse(json.dumps(line))
    (record,) = result.rejected["record"].to_pylist()
    assert "SENTINEL" not in record and "u_1842" not in record


def test_far_future_ancient_and_oversized_values_are_rejected():
    usage = {"prompt_tokens": 3, "completion_tokens": 4}
    result = _parse(
        envelope("f", "openai", "m", usage, timestamp="2099-01-01T00:00:00Z"),
        envelope("o", "openai", "m", usage, timestamp="2019-12-31T23:59:59Z"),
        envelope("b", "openai", "m", usage, feature="x" * 5_000_000),
        envelope("s", "openai", "m", usage, feature="x'); drop table core.request_costs; --"),
        envelope("u", "openai", "m", usage, feature="поиск 🔎"),
    )
    assert [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        (1, "timestamp", "timestamp is more than a day in the future: '2099-01-01T00:00:00Z'"),
        (2, "timestamp", "timestamp is before 2020-01-01: '2019-12-31T23:59:59Z'"),
        (3, "feature", "value is longer than 512 characters"),
    ]
    assert result.rows["feature"].to_pylist() == ["x'); drop table core.request_costs; --", "поиск 🔎"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "request_id": _json | st.text(min_size=1, max_size=8),
        "timestamp": _json | st.just("2026-11-27T10:15:02Z"),
        "provider": _json | st.sampled_from(["openai", "anthropic", "google", "aws_bedrock", "self_hosted:gpu-a"]),
        "model": _json | st.just("gpt-4o-2024-08-06"),
        "feature": _json,
        "usage": _json | st.dictionaries(st.sampled_from(["prompt_tokens", "completion_tokens", "input_tokens", "output_tokens",
                                                          "cache_read_input_tokens", "promptTokenCount", "inputTokens"]), _json, max_size=5),
    },
)


@settings(max_examples=40, deadline=None)
@given(records=st.lists(_fields | _json, min_size=1, max_size=6))
def test_arbitrary_json_never_crashes_and_every_line_is_accounted_for(records):
    lines = [json.dumps(r) for r in records]
    result = _parse(*lines)
    assert result.rows.num_rows + result.rejected.num_rows == len(lines)
    assert all(reason for reason in result.rejected["reason"].to_pylist())


def test_gemini_traffic_type_sets_the_service_tier():
    def gemini(rid: str, traffic: str) -> str:
        return envelope(rid, "google", "gemini-2.5-flash", {"promptTokenCount": 10, "candidatesTokenCount": 2, "trafficType": traffic}, service_tier=None)

    result = _parse(gemini("a", "ON_DEMAND"), gemini("b", "ON_DEMAND_FLEX"), gemini("c", "ON_DEMAND_PRIORITY"), gemini("d", "PROVISIONED_THROUGHPUT"))
    assert result.rows["service_tier"].to_pylist() == ["standard", "flex", "priority", "provisioned_throughput"]


def test_gemini_api_usage_metadata_service_tier_sets_the_service_tier():
    """The Gemini API's usageMetadata names its tier (`"serviceTier": "standard"` in a live response kept as
    vercel/ai packages/google/src/__fixtures__/google-usage-raw-live.json): a priority request logged as it came was
    priced at the standard tier. A value that is not a tier of ours is not read (the request stays standard)."""
    def gemini(rid: str, tier: str) -> str:
        usage = {"promptTokenCount": 10, "candidatesTokenCount": 2, "totalTokenCount": 12, "serviceTier": tier}
        return envelope(rid, "google", "gemini-2.5-flash", usage, service_tier=None)

    result = _parse(gemini("a", "standard"), gemini("b", "priority"), gemini("c", "FLEX"), gemini("d", "SERVICE_TIER_UNSPECIFIED"))
    assert result.rejected.num_rows == 0
    assert result.rows["service_tier"].to_pylist() == ["standard", "priority", "flex", "standard"]


def test_bedrock_service_tier_type_sets_the_service_tier():
    """A Converse response's `serviceTier.type` (priority, default, flex, reserved) written as the envelope's
    service_tier: `default` is the Standard tier, `reserved` (capacity billed per tokens-per-minute) is read as
    provisioned_throughput; an object copied as it is is rejected, not read as standard."""
    def converse(rid: str, tier) -> str:
        return envelope(rid, "aws_bedrock", "us.amazon.nova-pro-v1:0", {"inputTokens": 10, "outputTokens": 2}, service_tier=tier)

    result = _parse(converse("a", "priority"), converse("b", "default"), converse("c", "flex"), converse("d", "reserved"),
                    converse("e", {"type": "priority"}))
    assert result.rows["service_tier"].to_pylist() == ["priority", "standard", "flex", "provisioned_throughput"]
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [("service_tier", "not a string (found object)")]


def test_gemini_snake_case_bedrock_ttl_split_and_self_hosted_usage():
    result = _parse(
        envelope("g", "google", "gemini-2.5-flash", {"prompt_token_count": 12000, "cached_content_token_count": 8000,
                                                     "candidates_token_count": 400, "thoughts_token_count": 600,
                                                     "tool_use_prompt_token_count": 50}),
        envelope("b", "aws_bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0",
                 {"inputTokens": 120, "outputTokens": 350, "cacheReadInputTokens": 8000, "cacheWriteInputTokens": 2000,
                  "cacheDetails": [{"ttl": "1h", "inputTokens": 500}, {"ttl": "5m", "inputTokens": 1500}]}),
        envelope("s", "self_hosted:gpu-a", "llama-3.1-70b", {"input_tokens": 900, "output_tokens": 100}),
    )
    assert result.rejected.num_rows == 0
    gemini, bedrock, hosted = (_buckets(result, i) for i in range(3))
    # Gemini: the prompt count includes the cache; tool-use prompt and thoughts are outside it.
    assert (gemini["input_tokens"], gemini["cache_read_tokens"], gemini["output_tokens"], gemini["reasoning_tokens"]) == (4050, 8000, 400, 600)
    assert (bedrock["input_tokens"], bedrock["cache_write_5m_tokens"], bedrock["cache_write_1h_tokens"]) == (120, 1500, 500)
    assert (hosted["input_tokens"], hosted["output_tokens"]) == (900, 100)
