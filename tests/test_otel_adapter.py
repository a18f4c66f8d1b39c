"""The OTel adapter: OTLP/JSON trace exports → exact canonical buckets, and the exact reason for each rejection."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters import TOKEN_BUCKETS
from pipelines.adapters.attribution import AttributionConfig
from pipelines.adapters.otel import PROVIDERS, parse_otel

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "otel"
START = 1_730_419_200_000_000_000  # 2024-11-01T00:00:00Z in nanoseconds


def value(v) -> dict:
    """An OTLP/JSON AnyValue; int64 as a JSON string, as the proto3 JSON mapping writes it."""
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [value(x) for x in v]}}
    return {"stringValue": v}


def span(attributes: dict, span_id: str = "00f067aa0ba902b7", trace_id: str = "4bf92f3577b34da6a3ce929d0e0e4736", **fields) -> dict:
    record = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + 812_000_000),
        "attributes": [{"key": k, "value": value(v)} for k, v in attributes.items()],
        "status": {},
    }
    record.update(fields)
    return record


def doc(*spans: dict, resource: dict | None = None, scope: str = "t") -> str:
    res = {"attributes": [{"key": k, "value": value(v)} for k, v in (resource or {"service.name": "bot"}).items()]}
    return json.dumps({"resourceSpans": [{"resource": res, "scopeSpans": [{"scope": {"name": scope}, "spans": list(spans)}]}]})


def chat(provider: str = "openai", **extra) -> dict:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.usage.input_tokens": 2006,
        "gen_ai.usage.output_tokens": 300,
    }
    attributes.update(extra)
    return {k: v for k, v in attributes.items() if v is not None}


def _parse(*lines: str, name: str = "f.jsonl", attribution: AttributionConfig | None = None):
    return parse_otel(("\n".join(lines) + "\n").encode(), name, attribution)


def _buckets(result, row: int = 0) -> dict:
    record = result.rows.slice(row, 1).to_pylist()[0]
    return {bucket: record[bucket] for bucket in (*TOKEN_BUCKETS, "web_search_requests")}


def test_shared_span_sample_splits_cache_out_of_input():
    # The span sample (tests/fixtures/otel/otel_genai_span_attributes.json) wrapped into a full
    # resourceSpans document. Per the OTel rule input_tokens = 120 uncached + 8000 read + 2000 written
    # = 10120, so: input 10120 - 8000 - 2000 = 120, cache_read 8000, cache_write_5m 2000 (OTel has no
    # TTL split; the sample call's 1500 5m / 500 1h is not recoverable from the span), output 350, no reasoning.
    result = parse_otel((FIXTURES / "anthropic_chat_span.jsonl").read_bytes(), "anthropic_chat_span.jsonl")
    assert result.rejected.num_rows == 0 and result.skipped_spans == 0
    assert _buckets(result) == {
        "input_tokens": 120, "cache_read_tokens": 8000, "cache_write_5m_tokens": 2000, "cache_write_1h_tokens": 0,
        "output_tokens": 350, "reasoning_tokens": 0, "audio_input_tokens": 0, "audio_output_tokens": 0,
        "image_input_tokens": 0, "image_output_tokens": 0,
        "web_search_requests": 0,
    }
    (row,) = result.rows.to_pylist()
    assert row["request_id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert (row["provider"], row["model"], row["service_tier"]) == ("anthropic", "claude-3-5-sonnet-20241022", "standard")
    assert row["occurred_at"].isoformat() == "2024-11-01T00:00:00+00:00"
    assert (row["latency_ms"], row["source_row"], row["status"]) == (1850, 1, "ok")
    assert row["conversation_id"] == "conv_5j66UpCpwteGg4YSxUnt7lPY"
    assert row["feature"] == "support_chat"  # app.feature on the resource


def test_shared_metric_sample_is_rejected_with_the_reason():
    # The metric sample as a collector writes it (resourceMetrics): gen_ai.client.token.usage has only
    # input/output token types, so it cannot price cached input; it is rejected, not silently read.
    result = parse_otel((FIXTURES / "token_usage_metric.jsonl").read_bytes(), "token_usage_metric.jsonl")
    assert result.rows.num_rows == 0
    assert [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        (1, "resourceSpans", "record is an OTLP metrics export, not traces (token usage metrics cannot price cached input; export spans)")
    ]


def test_openai_span_splits_cached_and_reasoning():
    # OpenAI sample numbers: 2006 input of which 1920 cached → 86 uncached; 300 output of which 100 reasoning.
    attributes = chat(**{"gen_ai.usage.cache_read.input_tokens": 1920, "gen_ai.usage.reasoning.output_tokens": 100})
    buckets = _buckets(_parse(doc(span(attributes))))
    assert (buckets["input_tokens"], buckets["cache_read_tokens"], buckets["cache_write_5m_tokens"]) == (86, 1920, 0)
    assert (buckets["output_tokens"], buckets["reasoning_tokens"]) == (200, 100)


def test_pydantic_ai_provider_names_are_read():
    """Pydantic AI writes its model's `system` as gen_ai.provider.name (pydantic/pydantic-ai 4fda389,
    pydantic_ai_slim/pydantic_ai/_instrumentation.py provider_attributes): google-cloud (Vertex AI, providers/
    google_cloud.py), google-gla (the Gemini API's former name, models/google.py) and bedrock-mantle. They were
    rejected as unknown providers."""
    names = {"google-cloud": "google", "google-gla": "google", "bedrock-mantle": "aws_bedrock"}
    result = _parse(*(doc(span(chat(provider=name, **{"gen_ai.response.id": f"r-{name}"}))) for name in names))
    assert result.rejected.num_rows == 0
    assert [row["provider"] for row in result.rows.to_pylist()] == list(names.values())


def test_deprecated_attribute_names_read_like_current_ones():
    current = chat(**{"gen_ai.usage.cache_read.input_tokens": 1920})
    deprecated = chat(**{
        "gen_ai.provider.name": None, "gen_ai.system": "openai",
        "gen_ai.usage.input_tokens": None, "gen_ai.usage.prompt_tokens": 2006,
        "gen_ai.usage.output_tokens": None, "gen_ai.usage.completion_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 1920,
    })
    result = _parse(doc(span(current, span_id="a1"), span(deprecated, span_id="a2")))
    assert result.rejected.num_rows == 0
    assert _buckets(result, 0) == _buckets(result, 1)
    assert result.rows["provider"].to_pylist() == ["openai", "openai"]


def test_openllmetry_cache_and_reasoning_attribute_names_split_the_input():
    """OpenLLMetry (traceloop) writes `gen_ai.usage.cache_read_input_tokens`, `cache_creation_input_tokens` and
    `reasoning_tokens` (opentelemetry-semantic-conventions-ai, semconv_ai/__init__.py: LLM_USAGE_CACHE_READ_INPUT_TOKENS
    and friends), with the prompt including both cache counts (traceloop/openllmetry PR #2175, Anthropic). They were
    read as nothing: 10,000 cached tokens priced as uncached input (+130% on the shared Anthropic sample)."""
    anthropic = {
        "gen_ai.system": "Anthropic", "llm.request.type": "chat", "gen_ai.request.model": "claude-3-5-sonnet-20241022",
        "gen_ai.response.model": "claude-3-5-sonnet-20241022", "gen_ai.response.id": "msg_openllmetry_1",
        "gen_ai.usage.prompt_tokens": 10120, "gen_ai.usage.completion_tokens": 350, "llm.usage.total_tokens": 10470,
        "gen_ai.usage.cache_read_input_tokens": 8000, "gen_ai.usage.cache_creation_input_tokens": 2000,
    }
    openai = chat(**{"gen_ai.response.id": "chatcmpl-2", "gen_ai.usage.cache_read_input_tokens": 1920, "gen_ai.usage.reasoning_tokens": 100})
    result = _parse(doc(span(anthropic, span_id="b1"), span(openai, span_id="b2")))
    assert result.rejected.num_rows == 0
    assert result.rows["provider"].to_pylist() == ["anthropic", "openai"]
    assert _buckets(result, 0) == {
        "input_tokens": 120, "cache_read_tokens": 8000, "cache_write_5m_tokens": 2000, "cache_write_1h_tokens": 0,
        "output_tokens": 350, "reasoning_tokens": 0, "audio_input_tokens": 0, "audio_output_tokens": 0,
        "image_input_tokens": 0, "image_output_tokens": 0, "web_search_requests": 0,
    }
    buckets = _buckets(result, 1)
    assert (buckets["input_tokens"], buckets["cache_read_tokens"], buckets["output_tokens"], buckets["reasoning_tokens"]) == (86, 1920, 200, 100)


def test_provider_names_map_to_ours():
    names = sorted(PROVIDERS)
    result = _parse(*(doc(span(chat(provider=name, **{"gen_ai.response.id": name}))) for name in names))
    assert result.rows["provider"].to_pylist() == [PROVIDERS[name] for name in names]
    assert set(PROVIDERS.values()) == {"openai", "anthropic", "aws_bedrock", "azure_openai", "google", "mistral", "deepseek", "xai"}


def test_service_tier_model_and_request_id_fallbacks():
    result = _parse(doc(
        span(chat(**{"openai.response.service_tier": "default"}), span_id="s1"),
        span(chat(**{"openai.response.service_tier": "flex", "gen_ai.response.model": None, "gen_ai.response.id": None}), span_id="s2"),
        span(chat(**{"gen_ai.response.id": None}), span_id="s3"),
    ))
    rows = result.rows.to_pylist()
    assert [r["service_tier"] for r in rows] == ["standard", "flex", "standard"]
    assert [r["model"] for r in rows] == ["gpt-4o-2024-08-06", "gpt-4o", "gpt-4o-2024-08-06"]
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert [r["request_id"] for r in rows] == ["chatcmpl-1", f"{trace}:s2", f"{trace}:s3"]
    assert [r["source_row"] for r in rows] == [1, 1, 1]  # one line, three spans, three request ids


def test_non_genai_spans_are_skipped_and_counted_not_rejected():
    http = span({"http.request.method": "GET", "url.full": "https://example.com"}, span_id="h1")
    tool = span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}, span_id="t1")
    result = _parse(doc(http, span(chat(), span_id="c1"), tool), doc(http))
    assert result.rows.num_rows == 1 and result.rejected.num_rows == 0
    assert result.skipped_spans == 3 and result.skipped == (("not_an_llm_span", 3),)
    assert result.rows_read == 4  # every span read: 1 loaded + 3 skipped (rows_read = loaded + rejected + skipped)


def test_agent_span_usage_is_a_rollup_when_its_model_calls_are_in_the_file():
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
             "gen_ai.usage.input_tokens": 4012, "gen_ai.usage.output_tokens": 600}
    with_children = _parse(doc(span(agent, span_id="ag"), span(chat(), span_id="c1"), span(chat(**{"gen_ai.response.id": "chatcmpl-2"}), span_id="c2")))
    assert with_children.rows["request_id"].to_pylist() == ["chatcmpl-1", "chatcmpl-2"]
    assert with_children.skipped_spans == 1
    alone = _parse(doc(span(agent, span_id="ag", trace_id="other")))
    assert alone.rows.num_rows == 1 and alone.rows["input_tokens"].to_pylist() == [4012]


def test_embeddings_span_without_output_tokens_has_zero_output():
    attributes = chat(**{"gen_ai.operation.name": "embeddings", "gen_ai.usage.output_tokens": None,
                         "gen_ai.response.model": "text-embedding-3-small", "gen_ai.response.id": None})
    result = _parse(doc(span(attributes)))
    assert _buckets(result)["input_tokens"] == 2006 and _buckets(result)["output_tokens"] == 0


def test_attribution_from_span_then_resource_with_defaults():
    resource = {"service.name": "bot", "app.feature": "from_resource", "tenant.id": "acme", "app.user_segment": "smb"}
    spans = (
        span(chat(**{"app.feature": "from_span", "enduser.id": "u_1", "gen_ai.conversation.id": "c_1"}), span_id="s1"),
        span(chat(**{"gen_ai.response.id": "chatcmpl-2", "user.id": "u_2", "session.id": "sess"}), span_id="s2"),
    )
    rows = _parse(doc(*spans, resource=resource)).rows.to_pylist()
    assert [(r["feature"], r["user_id"], r["user_segment"], r["customer_id"], r["conversation_id"]) for r in rows] == [
        ("from_span", "u_1", "smb", "acme", "c_1"),
        ("from_resource", "u_2", "smb", "acme", "sess"),
    ]
    assert json.loads(rows[0]["tags"]) == {"service.name": "bot", "gen_ai.operation.name": "chat"}


def test_feature_not_found_is_unattributed_and_custom_keys_apply():
    line = doc(span(chat(**{"team.product": "search"})), resource={"service.name": "bot"})
    assert _parse(line).rows["feature"].to_pylist() == ["unattributed"]
    custom = AttributionConfig.from_mapping({"otel": {"feature": ["team.product"]}})
    assert _parse(line, attribution=custom).rows["feature"].to_pylist() == ["search"]


def _line_with(**changes) -> str:
    attributes = chat()
    attributes.update(changes.pop("attributes", {}))
    return doc(span({k: v for k, v in attributes.items() if v is not None}, **changes))


REJECTIONS = [
    ('{"resourceSpans": [', "", "invalid JSON"),
    (_line_with(attributes={"gen_ai.response.model": "gpt-4o\ud800"}), "resourceSpans[0].scopeSpans[0].spans[0].attributes[3].value.stringValue",
     "invalid JSON: a string holds a lone surrogate escape (\\ud800), not a Unicode character"),
    ("[1, 2]", "", "record is not a JSON object (found array)"),
    ('{"resource": {}}', "resourceSpans", "missing required field"),
    ('{"resourceSpans": {"a": 1}}', "resourceSpans", "not a JSON array (found object)"),
    ('{"resourceLogs": []}', "resourceSpans", "record is an OTLP logs export, not traces"),
    (_line_with(attributes={"gen_ai.usage.input_tokens": -5}), "gen_ai.usage.input_tokens", "negative token count"),
    (_line_with(attributes={"gen_ai.usage.output_tokens": 2.5}), "gen_ai.usage.output_tokens", "token count is not a whole number"),
    (_line_with(attributes={"gen_ai.usage.output_tokens": "lots"}), "gen_ai.usage.output_tokens", "token count is not a number: lots"),
    (_line_with(attributes={"gen_ai.usage.input_tokens": None, "gen_ai.usage.prompt_tokens": str(10**20)}),
     "gen_ai.usage.prompt_tokens", "token count exceeds the 64-bit integer range"),
    (_line_with(attributes={"gen_ai.usage.cache_read.input_tokens": "NaN"}), "gen_ai.usage.cache_read.input_tokens", "token count is not a finite number"),
    (_line_with(attributes={"gen_ai.usage.input_tokens": None}), "gen_ai.usage.input_tokens", "missing required field"),
    (_line_with(attributes={"gen_ai.usage.output_tokens": None}), "gen_ai.usage.output_tokens", "missing required field"),
    (_line_with(startTimeUnixNano=None), "startTimeUnixNano", "missing required field"),
    (_line_with(startTimeUnixNano="2024-11-01T00:00:00Z"), "startTimeUnixNano", "invalid timestamp: '2024-11-01T00:00:00Z'"),
    (_line_with(startTimeUnixNano="1730419200000"), "startTimeUnixNano",
     "timestamp before 2000-01-01: '1730419200000' (expected nanoseconds since the epoch)"),
    (_line_with(attributes={"gen_ai.provider.name": None}), "gen_ai.provider.name", "missing required field"),
    (_line_with(attributes={"gen_ai.provider.name": "ibm.watsonx.ai"}), "gen_ai.provider.name",
     "unknown provider 'ibm.watsonx.ai' (expected one of openai, azure_openai, anthropic, google, aws_bedrock, mistral, deepseek, xai, or a name docs/formats/providers.md lists; map another under providers: in attribution.yaml)"),
    (_line_with(attributes={"gen_ai.provider.name": None, "gen_ai.system": "cohere"}), "gen_ai.system",
     "unknown provider 'cohere' (expected one of openai, azure_openai, anthropic, google, aws_bedrock, mistral, deepseek, xai, or a name docs/formats/providers.md lists; map another under providers: in attribution.yaml)"),
    (_line_with(attributes={"gen_ai.request.model": None, "gen_ai.response.model": None}), "gen_ai.response.model", "missing required field"),
    (_line_with(attributes={"gen_ai.response.id": None}, spanId=None), "spanId", "missing required field"),
    (_line_with(attributes={"gen_ai.usage.cache_read.input_tokens": 2000, "gen_ai.usage.cache_creation.input_tokens": 10}),
     "gen_ai.usage.input_tokens", "inconsistent usage: cache read and cache creation tokens exceed the input total"),
    (_line_with(attributes={"gen_ai.usage.reasoning.output_tokens": 301}),
     "gen_ai.usage.output_tokens", "inconsistent usage: reasoning tokens exceed the output total"),
]


def test_each_rejection_names_line_field_and_reason():
    # One file: a good span, then each bad line in turn; every rejection names its own line.
    good = doc(span(chat(**{"gen_ai.response.id": "good"})))
    result = _parse(good, *(line for line, _, _ in REJECTIONS), good.replace('"good"', '"good2"'))
    assert result.rows.num_rows == 2
    got = [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()]
    assert got == [(i, field, reason) for i, (_, field, reason) in enumerate(REJECTIONS, start=2)]


def test_rejected_record_keeps_usage_and_ids_only():
    attributes = chat(**{"gen_ai.usage.input_tokens": -1, "enduser.id": "u_secret", "gen_ai.prompt": "SENTINEL"})
    (rejected,) = _parse(doc(span(attributes))).rejected.to_pylist()
    record = json.loads(rejected["record"])
    assert record["attributes"]["gen_ai.usage.input_tokens"] == "-1"
    assert record["spanId"] == "00f067aa0ba902b7" and "u_secret" not in rejected["record"]
    assert rejected["user_id"] == "u_secret"  # the column ingestion pseudonymizes
    assert rejected["request_id"] == "chatcmpl-1" and len(rejected["record_sha256"]) == 64


def test_pretty_printed_json_document_and_gzip():
    pretty = json.dumps(json.loads(doc(span(chat()))), indent=2)
    result = parse_otel(pretty.encode(), "export.json")
    assert result.rows.num_rows == 1 and result.rejected.num_rows == 0 and result.rows["source_row"].to_pylist() == [1]
    lines = [doc(span(chat(**{"gen_ai.response.id": f"r{i}"}))) for i in range(3)]
    gz = parse_otel(gzip.compress(("\n".join(lines) + "\n").encode()), "export.jsonl.gz")
    assert gz.rows["request_id"].to_pylist() == ["r0", "r1", "r2"]


def test_truncated_gzip_keeps_what_decompressed_and_reports_the_tail():
    lines = [doc(span(chat(**{"gen_ai.response.id": f"r{i}"}))) for i in range(300)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    result = parse_otel(data[: len(data) * 2 // 3], "f.jsonl.gz")
    assert 0 < result.rows.num_rows < 300
    assert result.rejected.to_pylist()[-1]["reason"].startswith("gzip stream is truncated or corrupt after")


def test_prompt_and_response_text_never_reach_any_output():
    content = {
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"SENTINEL-IN"}]}]',
        "gen_ai.output.messages": "SENTINEL-OUT", "gen_ai.prompt": "SENTINEL-P", "gen_ai.completion": "SENTINEL-C",
        "gen_ai.system_instructions": "SENTINEL-SYS",
    }
    events = [{"timeUnixNano": str(START), "name": "gen_ai.content.prompt",
               "attributes": [{"key": "gen_ai.prompt", "value": {"stringValue": "SENTINEL-EVENT"}}]}]
    good = span(chat(**content), span_id="g1", events=events)
    bad = span(chat(**content, **{"gen_ai.usage.input_tokens": -1, "gen_ai.response.id": "bad"}), span_id="b1", events=events)
    result = _parse(doc(good, bad, resource={"service.name": "bot", "gen_ai.prompt": "SENTINEL-RES"}))
    assert result.rows.num_rows == 1 and result.rejected.num_rows == 1
    assert "SENTINEL" not in str(result.rows.to_pylist()) + str(result.rejected.to_pylist())


@st.composite
def _usage(draw):
    cache_read, cache_creation = draw(st.integers(0, 10**9)), draw(st.integers(0, 10**9))
    input_tokens = cache_read + cache_creation + draw(st.integers(0, 10**9))
    reasoning = draw(st.integers(0, 10**9))
    output = reasoning + draw(st.integers(0, 10**9))
    attributes = {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output}
    for key, v in (("gen_ai.usage.cache_read.input_tokens", cache_read), ("gen_ai.usage.cache_creation.input_tokens", cache_creation),
                   ("gen_ai.usage.reasoning.output_tokens", reasoning)):
        if v or draw(st.booleans()):
            attributes[key] = v
    if draw(st.booleans()):  # deprecated names
        attributes["gen_ai.usage.prompt_tokens"] = attributes.pop("gen_ai.usage.input_tokens")
        attributes["gen_ai.usage.completion_tokens"] = attributes.pop("gen_ai.usage.output_tokens")
    return attributes, input_tokens + output  # OTel totals include cache and reasoning: billed = input + output


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(st.tuples(st.sampled_from(sorted(PROVIDERS)), _usage()), min_size=1, max_size=20))
def test_buckets_conserve_the_billed_total(cases):
    base = {"gen_ai.usage.input_tokens": None, "gen_ai.usage.output_tokens": None}
    spans = [span(chat(provider=p, **{**base, **attributes, "gen_ai.response.id": f"r{i}"}), span_id=f"s{i}")
             for i, (p, (attributes, _)) in enumerate(cases)]
    result = _parse(doc(*spans))
    assert result.rejected.num_rows == 0
    for i, (_, (_, billed)) in enumerate(cases):
        buckets = _buckets(result, i)
        assert all(v >= 0 for v in buckets.values())
        assert sum(buckets[b] for b in TOKEN_BUCKETS) == billed


# ---- fuzz: arbitrary lines never raise, and every GenAI span is a row or a rejection ----

_KEYS = ["gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.response.model", "gen_ai.response.id",
         "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.prompt_tokens",
         "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.other", "http.method"]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=6), st.sampled_from(["chat", "embeddings", "invoke_agent", "openai", "anthropic", "12", "-3"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)), max_leaves=8)
_any_value = st.one_of(
    st.builds(lambda k, v: {k: v}, st.sampled_from(["stringValue", "intValue", "doubleValue", "boolValue"]), _scalars),
    st.just({"arrayValue": {"values": []}}), _json,
)
_fuzz_span = st.fixed_dictionaries(
    {"attributes": st.one_of(st.lists(st.one_of(st.fixed_dictionaries({"key": st.sampled_from(_KEYS), "value": _any_value}), _json), max_size=6), _json)},
    optional={"traceId": st.sampled_from(["t1", "t2", "  ", 7]), "spanId": st.sampled_from(["a", "b", ""]),
              "startTimeUnixNano": st.one_of(st.just(str(START)), st.integers(), st.text(max_size=5)),
              "endTimeUnixNano": st.one_of(st.just(str(START + 5)), _scalars)},
)
_fuzz_doc = st.builds(
    lambda rs: {"resourceSpans": rs},
    st.lists(st.one_of(st.fixed_dictionaries({"scopeSpans": st.lists(st.one_of(
        st.fixed_dictionaries({"spans": st.one_of(st.lists(st.one_of(_fuzz_span, _scalars), max_size=4), _scalars)}), _scalars), max_size=2)}), _scalars),
        max_size=2),
)


def _scalar_text(v):
    if not isinstance(v, dict):
        return None
    for kind in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if v.get(kind) is not None:
            return v[kind]
    return None


def _expected_genai(document: dict) -> tuple[int, int]:
    """(GenAI spans, other spans) by the adapter's documented rules, computed independently in Python."""
    spans = []
    for rs in document["resourceSpans"] if isinstance(document.get("resourceSpans"), list) else []:
        scopes = rs.get("scopeSpans") if isinstance(rs, dict) else None
        for ss in scopes if isinstance(scopes, list) else []:
            items = ss.get("spans") if isinstance(ss, dict) else None
            # every element but null is read as a span: one that is not an object is a skipped span, not lost
            spans += [s if isinstance(s, dict) else {} for s in (items if isinstance(items, list) else []) if s is not None]
    facts = []
    for s in spans:
        attributes = s.get("attributes") if isinstance(s.get("attributes"), list) else []
        pairs = [(a.get("key"), _scalar_text(a.get("value"))) for a in attributes if isinstance(a, dict)]
        pairs = [(k, v) for k, v in pairs if isinstance(k, str) and v is not None]
        op = next((v for k, v in pairs if k == "gen_ai.operation.name"), None)
        trace = s.get("traceId")
        trace = str(trace).strip() if trace is not None and str(trace).strip() else None
        facts.append((op, any(k.startswith("gen_ai.usage.") for k, _ in pairs), trace))
    inference_traces = {t for op, _, t in facts if op in ("chat", "generate_content", "text_completion", "embeddings") and t}
    genai = sum(
        1 for op, usage, trace in facts
        if (op in ("chat", "generate_content", "text_completion", "embeddings") or usage)
        and not (op in ("invoke_agent", "invoke_workflow") and trace in inference_traces)
    )
    return genai, len(spans) - genai


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(st.one_of(_fuzz_doc.map(lambda d: ("doc", d)), _json.map(lambda j: ("junk", j)), st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8).map(lambda t: ("text", t))),
                      min_size=1, max_size=6))
def test_fuzz_never_raises_and_accounts_for_every_genai_span(lines):
    rendered, expected_rows, expected_skipped = [], 0, 0
    for kind, item in lines:
        if kind == "text":
            rendered.append(item)
            expected_rows += 1  # at most 8 printable characters: never an OTLP document
            continue
        text = json.dumps(item)
        rendered.append(text)
        if kind == "junk":
            expected_rows += 1  # never an OTLP document: keys are short random text
        else:
            genai, other = _expected_genai(item)
            expected_rows += genai
            expected_skipped += other
    result = _parse(*rendered)
    assert result.rows.num_rows + result.rejected.num_rows == expected_rows
    assert result.skipped_spans == expected_skipped



@pytest.mark.parametrize("span", [{"attributes": None}, {"attributes": []}, {}, {"name": "GET /health"}, False, "x"])
def test_a_span_without_attributes_is_counted_as_skipped_not_lost(span):
    # Found by the fuzz test above: a span whose attributes are null or absent (or an element that is not an
    # object) was neither a row, a rejection nor a skipped span, so the file's counts did not add up.
    result = _parse(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}))
    assert (result.rows.num_rows, result.rejected.num_rows, result.skipped_spans) == (0, 0, 1)


# --------------------------------------------------------------------------- provider names and OpenInference spans


@pytest.mark.parametrize(
    ("attributes", "provider"),
    [
        # opentelemetry-python-contrib, instrumentation-genai/opentelemetry-instrumentation-google-genai tests:
        # span "generate_content gemini-2.0-flash" with gen_ai.system "gemini" (and "vertex_ai" when use_vertex)
        ({"gen_ai.provider.name": None, "gen_ai.system": "gemini", "gen_ai.operation.name": "generate_content",
          "gen_ai.request.model": "gemini-2.0-flash", "gen_ai.response.model": None}, "google"),
        ({"gen_ai.provider.name": None, "gen_ai.system": "vertex_ai", "gen_ai.operation.name": "generate_content",
          "gen_ai.request.model": "gemini-2.0-flash", "gen_ai.response.model": None}, "google"),
        # the Vercel AI SDK's ai.generateText.doGenerate span: gen_ai.system is its provider id
        ({"gen_ai.provider.name": None, "gen_ai.system": "openai.chat", "gen_ai.operation.name": None}, "openai"),
        ({"gen_ai.provider.name": None, "gen_ai.system": "openai.responses", "gen_ai.operation.name": None}, "openai"),
        ({"gen_ai.provider.name": None, "gen_ai.system": "anthropic.messages", "gen_ai.operation.name": None}, "anthropic"),
        ({"gen_ai.provider.name": None, "gen_ai.system": "xai"}, "xai"),
        ({"gen_ai.provider.name": " Gemini "}, "google"),
    ],
    ids=["google-genai", "vertexai", "vercel-openai-chat", "vercel-openai-responses", "vercel-anthropic", "xai-old-enum", "case-and-spaces"],
)
def test_provider_names_instrumentations_write_are_read_as_ours(attributes, provider):
    result = _parse(doc(span(chat(**attributes))))
    assert result.rejected.num_rows == 0 and result.rows["provider"].to_pylist() == [provider]


def _openinference(**attributes) -> dict:
    """An OpenInference LLM span as openinference-instrumentation-* writes it: openinference.span.kind LLM,
    llm.provider / llm.system, llm.model_name and llm.token_count.* (no gen_ai.* attributes)."""
    base = {"openinference.span.kind": "LLM", "llm.provider": "aws", "llm.system": "bedrock",
            "llm.model_name": "anthropic.claude-3-5-sonnet-20240620-v1:0", "input.value": "Hello, how are you?"}
    return {k: v for k, v in {**base, **attributes}.items() if v is not None}


def test_an_openinference_span_is_a_request():
    """Arize-ai/openinference js/packages/openinference-instrumentation-bedrock: the InvokeModel test's span snapshot
    (prompt 13, completion 35, total 48, llm.provider aws, llm.system bedrock)."""
    result = _parse(doc(span(_openinference(**{"llm.token_count.prompt": 13, "llm.token_count.completion": 35,
                                                "llm.token_count.total": 48}))))
    assert result.rejected.num_rows == 0 and result.skipped_spans == 0
    row = result.rows.to_pylist()[0]
    assert (row["provider"], row["model"], row["request_id"]) == (
        "aws_bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7")
    assert _buckets(result) == {**dict.fromkeys(TOKEN_BUCKETS, 0), "input_tokens": 13, "output_tokens": 35, "web_search_requests": 0}
    assert "input.value" not in (row["tags"] or "")  # content is never read


@pytest.mark.parametrize(
    "prompt",
    [57660, 4299],
    ids=["prompt-includes-cache", "prompt-without-cache-adds-up-to-total"],
)
def test_openinference_cache_details_are_split_out_of_the_prompt(prompt):
    """Arize-ai/openinference, the Strands processor's test: input 4299, cache read 35574, cache write 17787,
    completion 631, total 58291, and "prompt aggregate includes cached tokens so prompt + completion == total"
    (57660). An instrumentation that writes the uncached count as the prompt is recognised by its total."""
    attributes = _openinference(**{
        "llm.provider": "anthropic", "llm.system": "anthropic", "llm.model_name": "claude-sonnet-4-20250514",
        "llm.token_count.prompt": prompt, "llm.token_count.completion": 631, "llm.token_count.total": 58291,
        "llm.token_count.prompt_details.cache_read": 35574, "llm.token_count.prompt_details.cache_write": 17787,
        "llm.token_count.completion_details.reasoning": 120})
    result = _parse(doc(span(attributes)))
    assert result.rejected.num_rows == 0
    assert _buckets(result) == {**dict.fromkeys(TOKEN_BUCKETS, 0), "input_tokens": 4299, "cache_read_tokens": 35574,
                                "cache_write_5m_tokens": 17787, "output_tokens": 511, "reasoning_tokens": 120,
                                "web_search_requests": 0}


def test_an_openinference_chain_span_is_skipped_and_a_bad_llm_span_rejected_with_its_field():
    chain = span({"openinference.span.kind": "CHAIN", "input.value": "hi"}, span_id="00000000000000c1")
    bad = span(_openinference(**{"llm.token_count.prompt": 100, "llm.token_count.completion": 5,
                                 "llm.token_count.prompt_details.cache_read": 300}), span_id="00000000000000c2")
    unknown = span(_openinference(**{"llm.provider": "ollama", "llm.system": None, "llm.token_count.prompt": 1,
                                     "llm.token_count.completion": 1}), span_id="00000000000000c3")
    result = _parse(doc(chain, bad, unknown))
    assert result.skipped_spans == 1 and result.rows.num_rows == 0
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        ("llm.token_count.prompt", "inconsistent usage: cache read and cache creation tokens exceed the input total"),
        ("llm.provider", "unknown provider 'ollama' (expected one of openai, azure_openai, anthropic, google, aws_bedrock, "
                         "mistral, deepseek, xai, or a name docs/formats/providers.md lists; map another under providers: in attribution.yaml)"),
    ]


def test_skipped_spans_are_counted_in_the_manifest_with_their_reason(home):
    """Conservation: rows_read = loaded + rejected + duplicate + skipped; a tool span and an OpenInference CHAIN span
    are read and skipped as not_an_llm_span, so no span of the file vanishes."""
    import duckdb

    from pipelines.runner import run_pipeline

    tool = span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}, span_id="00000000000000a1")
    chain = span({"openinference.span.kind": "CHAIN"}, span_id="00000000000000a2")
    bad = span(chat(**{"gen_ai.usage.input_tokens": -1}), span_id="00000000000000a3")
    path = home.gateway_landing("otel") / "spans.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc(span(chat()), tool, chain, bad) + "\n")
    summary = run_pipeline(home, progress=lambda _: None)
    assert summary.ingest["rows_skipped"] == 2
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute(
            "select rows_read, rows_loaded, rows_rejected, rows_duplicate, rows_skipped, skipped_reasons from audit.ingested_files"
        ).fetchall() == [(4, 1, 1, 0, 2, '{"not_an_llm_span": 2}')]


def test_gemini_thinking_tokens_left_out_of_the_output_come_back_from_the_total():
    """OpenLLMetry's google_generativeai instrumentation (traceloop/openllmetry packages/
    opentelemetry-instrumentation-google-generativeai/.../span_utils.py, set_model_response_attributes) writes
    candidatesTokenCount as the output and totalTokenCount as `llm.usage.total_tokens` (semconv_ai's
    LLM_USAGE_TOTAL_TOKENS); other instrumentations write `gen_ai.usage.total_tokens`. The thinking tokens are only in
    the total. The numbers are those of
    open-telemetry/opentelemetry-python-contrib's vertexai cassette test_generate_content.yaml (prompt 5, candidates 5,
    thoughts 294, total 304). They were priced as 5 output tokens: $0.00005625 instead of $0.00299625."""
    gemini = {"gen_ai.system": "Google", "gen_ai.request.model": "gemini-2.5-pro", "gen_ai.response.model": "gemini-2.5-pro",
              "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 5}
    result = _parse(doc(span({**gemini, "gen_ai.usage.total_tokens": 304}, span_id="a1"), span(gemini, span_id="a2"),
                        span({**gemini, "gen_ai.usage.total_tokens": 310, "gen_ai.usage.reasoning_tokens": 0}, span_id="a3"),
                        span({**gemini, "llm.usage.total_tokens": 304}, span_id="a4")))
    assert result.rejected.num_rows == 0
    got = [(_buckets(result, i)["input_tokens"], _buckets(result, i)["output_tokens"], _buckets(result, i)["reasoning_tokens"]) for i in range(4)]
    # without a total nothing says how many thoughts there were (the vertexai instrumentation): docs/formats/otel.md;
    # a reasoning count, when written, is taken as it is
    assert got == [(5, 5, 294), (5, 5, 0), (5, 5, 0), (5, 5, 294)]


def test_openllmetry_bedrock_spans_carry_the_uncached_input():
    """OpenLLMetry's Bedrock instrumentation (scope `opentelemetry.instrumentation.bedrock`) writes Bedrock's own
    inputTokens as gen_ai.usage.input_tokens, which leave the cache out, and the cache counts beside it
    (traceloop/openllmetry packages/opentelemetry-instrumentation-bedrock/.../span_utils.py, converse_usage_record and
    _record_usage_to_span: total = input + output). Numbers of its cassette test_prompt_caching/
    test_invoke_model_cache_tokens.yaml: 4 uncached, 18131 written then read, 50 out. The read was rejected as
    inconsistent (input below its cache); an uncached input above its cache lost the cache from the input."""
    bedrock = {"gen_ai.system": "AWS", "gen_ai.request.model": "anthropic.claude-3-5-haiku-20241022-v1:0",
               "gen_ai.usage.input_tokens": 4, "gen_ai.usage.output_tokens": 50, "gen_ai.usage.total_tokens": 54}
    write = {**bedrock, "gen_ai.usage.cache_creation.input_tokens": 18131, "gen_ai.usage.cache_read.input_tokens": 0}
    read = {**bedrock, "gen_ai.usage.cache_creation.input_tokens": 0, "gen_ai.usage.cache_read.input_tokens": 18131}
    big = {**read, "gen_ai.usage.input_tokens": 30000, "gen_ai.usage.total_tokens": 30050}
    result = _parse(doc(span(write, span_id="b1"), span(read, span_id="b2"), span(big, span_id="b3"), scope="opentelemetry.instrumentation.bedrock"))
    assert result.rejected.num_rows == 0
    got = [tuple(_buckets(result, i)[b] for b in ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "output_tokens")) for i in range(3)]
    assert got == [(4, 0, 18131, 50), (4, 18131, 0, 50), (30000, 18131, 0, 50)]
    # under another scope the conventions hold: input includes the cache, and one below it is inconsistent
    other = _parse(doc(span(read, span_id="c1"), scope="opentelemetry.instrumentation.botocore"))
    assert [r["reason"] for r in other.rejected.to_pylist()] == ["inconsistent usage: cache read and cache creation tokens exceed the input total"]


_AUDIO_CALL = {"gen_ai.response.model": "gpt-4o-audio-preview-2024-12-17", "gen_ai.usage.input_tokens": 2100,
               "gen_ai.usage.output_tokens": 1050}


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        # the modality split of the GenAI conventions (opentelemetry-util-genai's InferenceInvocation writes
        # gen_ai.usage.{text,image,audio}.{input,output}_tokens and .cache_read.input_tokens, each inside the totals)
        ({**_AUDIO_CALL, "gen_ai.usage.audio.input_tokens": 2000, "gen_ai.usage.audio.output_tokens": 1000},
         {"input_tokens": 100, "audio_input_tokens": 2000, "output_tokens": 50, "audio_output_tokens": 1000}),
        # Logfire / Pydantic AI (pydantic/pydantic-ai 4fda389, usage.py RequestUsage.opentelemetry_attributes)
        ({**_AUDIO_CALL, "gen_ai.usage.details.input_audio_tokens": 2000, "gen_ai.usage.details.output_audio_tokens": 1000},
         {"input_tokens": 100, "audio_input_tokens": 2000, "output_tokens": 50, "audio_output_tokens": 1000}),
        # a Gemini image generation: cached images stay in the cache read, the rest are image input
        ({"gen_ai.response.model": "gemini-2.5-flash-image", "gen_ai.usage.input_tokens": 1500,
          "gen_ai.usage.cache_read.input_tokens": 300, "gen_ai.usage.image.input_tokens": 1290,
          "gen_ai.usage.image.cache_read.input_tokens": 258, "gen_ai.usage.output_tokens": 1300,
          "gen_ai.usage.image.output_tokens": 1290},
         {"input_tokens": 168, "cache_read_tokens": 300, "image_input_tokens": 1032, "output_tokens": 10,
          "image_output_tokens": 1290}),
        # Pydantic AI's Gemini details (models/google.py _usage_metadata_as_usage: <modality>_candidates_tokens)
        ({"gen_ai.response.model": "gemini-2.5-flash-image", "gen_ai.usage.input_tokens": 33,
          "gen_ai.usage.output_tokens": 1300, "gen_ai.usage.details.image_candidates_tokens": 1290},
         {"input_tokens": 33, "output_tokens": 10, "image_output_tokens": 1290}),
        # the conventions' new name for a cache write (cache_creation before)
        ({"gen_ai.usage.input_tokens": 2100, "gen_ai.usage.cache_write.input_tokens": 2000, "gen_ai.usage.output_tokens": 50},
         {"input_tokens": 100, "cache_write_5m_tokens": 2000, "output_tokens": 50}),
    ],
)
def test_audio_image_and_cache_write_tokens_of_a_span_are_their_own_buckets(attributes, expected):
    """Audio and image tokens were priced as text (an audio call through OTel at $0.01575 for $0.16075; a Gemini image
    at a tenth) and the conventions' `gen_ai.usage.cache_write.input_tokens` as plain input."""
    result = _parse(doc(span(chat(**attributes))))
    assert result.rejected.num_rows == 0
    assert _buckets(result) == {**{b: 0 for b in (*TOKEN_BUCKETS, "web_search_requests")}, **expected}


def test_openinference_audio_details_are_the_audio_buckets():
    """OpenInference's llm.token_count.prompt_details.audio / completion_details.audio (Arize-ai/openinference 1fe497f,
    python/openinference-semantic-conventions/.../semconv/trace/__init__.py), inside the prompt and completion."""
    attributes = {"openinference.span.kind": "LLM", "llm.provider": "openai", "llm.model_name": "gpt-4o-audio-preview-2024-12-17",
                  "llm.token_count.prompt": 2100, "llm.token_count.prompt_details.audio": 2000,
                  "llm.token_count.completion": 1050, "llm.token_count.completion_details.audio": 1000, "llm.token_count.total": 3150}
    buckets = _buckets(_parse(doc(span(attributes))))
    assert (buckets["input_tokens"], buckets["audio_input_tokens"], buckets["output_tokens"], buckets["audio_output_tokens"]) == (
        100, 2000, 50, 1000)


def test_media_tokens_beyond_their_totals_are_rejected_naming_the_attribute():
    cached_over = chat(**{"gen_ai.usage.audio.input_tokens": 10, "gen_ai.usage.audio.cache_read.input_tokens": 20,
                          "gen_ai.usage.cache_read.input_tokens": 20})
    input_over = chat(**{"gen_ai.usage.input_tokens": 100, "gen_ai.usage.image.input_tokens": 150})
    output_over = chat(**{"gen_ai.usage.output_tokens": 100, "gen_ai.usage.details.output_audio_tokens": 150})
    result = _parse(*(doc(span(a, span_id=f"00f067aa0ba902b{i}")) for i, a in enumerate((cached_over, input_over, output_over))))
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        ("gen_ai.usage.audio.cache_read.input_tokens", "inconsistent usage: cached audio tokens exceed the audio input"),
        ("gen_ai.usage.input_tokens", "inconsistent usage: audio and image tokens exceed the input total"),
        ("gen_ai.usage.output_tokens", "inconsistent usage: reasoning, audio and image tokens exceed the output total"),
    ]


def test_media_counts_that_include_cached_tokens_without_saying_how_many_keep_the_cache_read():
    """OpenInference has no cached-audio count: a Realtime call's prompt_details.audio includes audio read from cache,
    which cache_read counts too. It was taken out of the input twice and the span rejected; the audio beyond what
    the uncached input holds is the cached audio. Pydantic AI before the conventions' cache names wrote the cache
    read only as gen_ai.usage.details.cache_read_tokens (pydantic/pydantic-ai usage.py, "For backwards compat")."""
    realtime = {"openinference.span.kind": "LLM", "llm.provider": "openai", "llm.model_name": "gpt-4o-realtime-preview-2024-12-17",
                "llm.token_count.prompt": 10100, "llm.token_count.prompt_details.cache_read": 8000,
                "llm.token_count.prompt_details.audio": 10000, "llm.token_count.completion": 100, "llm.token_count.total": 10200}
    logfire = chat(**{"gen_ai.response.model": "gpt-4o-audio-preview-2024-12-17", "gen_ai.usage.input_tokens": 10100,
                      "gen_ai.usage.details.cache_read_tokens": 8000, "gen_ai.usage.details.input_audio_tokens": 10000,
                      "gen_ai.usage.details.cache_audio_read_tokens": 8000})
    too_much = chat(**{"gen_ai.usage.input_tokens": 100, "gen_ai.usage.cache_read.input_tokens": 50,
                       "llm.token_count.prompt_details.audio": 150})
    result = _parse(*(doc(span(a, span_id=f"00f067aa0ba902c{i}")) for i, a in enumerate((realtime, logfire, too_much))))
    assert [{k: v for k, v in _buckets(result, i).items() if v} for i in range(result.rows.num_rows)] == [
        {"cache_read_tokens": 8000, "audio_input_tokens": 2100, "output_tokens": 100},
        {"input_tokens": 100, "cache_read_tokens": 8000, "audio_input_tokens": 2000, "output_tokens": 300},
    ]
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        ("gen_ai.usage.input_tokens", "inconsistent usage: audio and image tokens exceed the input total")]


def _vercel(system: str, model: str, **usage) -> dict:
    """An AI SDK `ai.generateText.doGenerate` span (vercel/ai packages/ai/src/generate-text/generate-text.ts)."""
    return {"ai.operationId": "ai.generateText.doGenerate", "operation.name": "ai.generateText.doGenerate",
            "gen_ai.system": system, "gen_ai.request.model": model, "gen_ai.response.model": model, **usage}


def test_vercel_ai_sdk_cache_split_is_read_from_its_own_usage_attributes():
    """The AI SDK writes the cache split only under ai.usage.*: AI SDK 6's input_tokens includes the cache
    (inputTokenDetails, as in opencode's real doStream span: 2 + 649452 read + 907 written = 650361); AI SDK 5's
    Anthropic provider writes Anthropic's input_tokens, without the cache, and cachedInputTokens beside it
    (getsentry/sentry-javascript packages/core/test/lib/tracing/vercel-ai-cached-tokens.test.ts), its cache write only
    in the provider metadata. Before, every cached token was priced as fresh input (AI SDK 6) or dropped (AI SDK 5)."""
    v6 = _vercel("anthropic.messages", "claude-fable-5", **{
        "gen_ai.usage.input_tokens": 650361, "gen_ai.usage.output_tokens": 369, "ai.usage.inputTokens": 650361,
        "ai.usage.cachedInputTokens": 649452, "ai.usage.inputTokenDetails.cacheReadTokens": 649452,
        "ai.usage.inputTokenDetails.cacheWriteTokens": 907, "ai.usage.inputTokenDetails.noCacheTokens": 2,
        "ai.usage.totalTokens": 650730})
    v6_openai = _vercel("openai.chat", "gpt-4o-2024-08-06", **{
        "gen_ai.usage.input_tokens": 2006, "gen_ai.usage.output_tokens": 300,
        "ai.usage.inputTokenDetails.cacheReadTokens": 1920, "ai.usage.inputTokenDetails.noCacheTokens": 86})
    v5 = _vercel("anthropic.messages", "claude-3-5-sonnet-20241022", **{
        "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 350, "ai.usage.cachedInputTokens": 8000,
        "ai.response.providerMetadata": json.dumps({"anthropic": {"cacheCreationInputTokens": 2000}})})
    v5_openai = _vercel("openai.chat", "gpt-4o-2024-08-06", **{
        "gen_ai.usage.input_tokens": 2006, "gen_ai.usage.output_tokens": 300, "ai.usage.cachedInputTokens": 1920})
    v5_vertex = _vercel("vertex.anthropic.messages", "claude-sonnet-4-5@20250929", **{
        "gen_ai.usage.input_tokens": 6, "gen_ai.usage.output_tokens": 10, "ai.usage.cachedInputTokens": 5000})
    result = _parse(doc(*(span(a, span_id=f"s{i}") for i, a in enumerate([v6, v6_openai, v5, v5_openai, v5_vertex])), scope="ai"))
    assert result.rejected.num_rows == 0
    got = [(r["provider"], r["input_tokens"], r["cache_read_tokens"], r["cache_write_5m_tokens"], r["output_tokens"])
           for r in result.rows.to_pylist()]
    assert got == [
        ("anthropic", 2, 649452, 907, 369),
        ("openai", 86, 1920, 0, 300),
        ("anthropic", 120, 8000, 2000, 350),
        ("openai", 86, 1920, 0, 300),
        ("google", 6, 5000, 0, 10),  # Claude on Vertex through the AI SDK's google-vertex provider
    ]


def test_openinference_claude_agent_sdk_prompt_leaves_the_cache_out():
    """openinference-instrumentation-claude-agent-sdk (Arize-ai/openinference, _wrappers.py
    _extract_usage_and_cost_attributes) writes Anthropic's input_tokens as llm.token_count.prompt and
    total = prompt + completion: a typical agent call (6 fresh, 244 written, 87250 read) was rejected as
    inconsistent, and one with more fresh input than cache lost its cache from the input."""
    agent = {"openinference.span.kind": "AGENT", "llm.system": "anthropic", "llm.model_name": "claude-sonnet-4-5-20250929"}
    typical = {**agent, "llm.token_count.prompt": 6, "llm.token_count.completion": 637, "llm.token_count.total": 643,
               "llm.token_count.prompt_details.cache_write": 244, "llm.token_count.prompt_details.cache_read": 87250}
    cold = {**agent, "llm.token_count.prompt": 5000, "llm.token_count.completion": 200, "llm.token_count.total": 5200,
            "llm.token_count.prompt_details.cache_write": 3000}
    result = _parse(doc(span(typical, span_id="a1"), span(cold, span_id="a2"), scope="openinference.instrumentation.claude_agent_sdk"))
    assert result.rejected.num_rows == 0
    got = [tuple(_buckets(result, i)[b] for b in ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "output_tokens")) for i in range(2)]
    assert got == [(6, 87250, 244, 637), (5000, 0, 3000, 200)]
