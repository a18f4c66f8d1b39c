"""Adapter for the `otel` gateway format: OTLP/JSON trace exports in, one canonical request per GenAI span out.

The input is what an OpenTelemetry Collector's file exporter writes: JSON Lines, one
`{"resourceSpans": [...]}` object per line (a single pretty-printed document is accepted in a `.json`
file). resourceSpans → scopeSpans → spans are unnested in one DuckDB query, the attributes the adapter
needs are looked up by key in each span's list, and each GenAI span is judged into a row or a rejection.
Token semantics follow the GenAI semantic conventions (docs/formats/token-semantics.md §1): input_tokens
INCLUDES cache reads and cache creation, output_tokens INCLUDES reasoning, so

    input = input_tokens - cache_read - cache_creation      cache_read_tokens = cache_read
    cache_write_5m_tokens = cache_creation (no TTL split)    output = output_tokens - reasoning
    reasoning_tokens = reasoning

and the audio and image tokens (`gen_ai.usage.{audio,image}.{input,output}_tokens`, their `.cache_read.input_tokens`,
Logfire's `gen_ai.usage.details.*`, OpenInference's `*_details.audio`) are inside input and output: their uncached
input and their output are taken out of input and output into the audio and image buckets; cached ones stay in
the cache read.

OpenInference LLM spans (`openinference.span.kind = LLM`, `llm.token_count.*`, `llm.provider`, `llm.model_name`)
are read the same way: llm.token_count.prompt includes prompt_details.cache_read and cache_write, completion
includes completion_details.reasoning. Provider names go through the shared table in pipelines/adapters/providers.py.

Spans that are not GenAI spans are skipped (counted in `OtelAdapterResult.skipped_spans`, neither rows
nor rejections), so rows_read counts GenAI spans plus unreadable lines. Prompt and response content
(span events, gen_ai.input/output.messages, gen_ai.prompt/completion) is never read into rows or into
rejected records, and `tags` keep no attribute that names a user id (`attribution.without_user_keys`). A file
is judged whole (a rollup span looks for the model calls of its trace anywhere in the file): at most
`lines.whole_text_bytes` of it is read, and a line longer than the line limit is rejected unread (`lines.read_whole`).
docs/formats/otel.md is the user-facing description.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.adapters import AdapterResult, judged_whole
from pipelines.adapters.attribution import (
    ALL_FIELDS,
    TAG_FIELDS,
    UNATTRIBUTED,
    AttributionConfig,
    sql_string,
    user_keys,
    without_user_keys,
)
from pipelines.adapters.lines import BOM, WholeText, read_whole
from pipelines.adapters.providers import EXPECTED, NAMES, provider_sql, tier_problem
from pipelines.adapters.sql import blank_null, date_range_problem, json_kind, token_problem
from pipelines.storage.database import in_memory

SOURCE = "otel"

PROVIDERS = NAMES
"""gen_ai.provider.name, the deprecated gen_ai.system, or OpenInference's llm.provider / llm.system → our provider
(the shared table, pipelines/adapters/providers.py)."""
INFERENCE_OPERATIONS = ("chat", "generate_content", "text_completion", "embeddings")
# Operations whose usage, when present, is the sum of the model calls beneath them.
ROLLUP_OPERATIONS = ("invoke_agent", "invoke_workflow")

# OpenInference (Arize Phoenix, openinference-instrumentation-*): an LLM span and its token counts. As in OpenAI's
# usage, llm.token_count.prompt includes the cache reads and writes of prompt_details and
# llm.token_count.completion the reasoning of completion_details (docs/formats/otel.md, OpenInference spans).
OPENINFERENCE_ATTRIBUTES = (
    "openinference.span.kind", "llm.provider", "llm.system", "llm.model_name",
    "llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total",
    "llm.token_count.prompt_details.cache_read", "llm.token_count.prompt_details.cache_write",
    "llm.token_count.completion_details.reasoning",
    "llm.token_count.prompt_details.audio", "llm.token_count.completion_details.audio",
)
# The modality split (opentelemetry-util-genai's InferenceInvocation, semantic-conventions-genai 2026) and
# Logfire's (Pydantic AI `RequestUsage.opentelemetry_attributes`; Gemini's `<modality>_<prompt|cache|candidates>_tokens`)
MEDIA_ATTRIBUTES = (
    "gen_ai.usage.audio.input_tokens", "gen_ai.usage.audio.cache_read.input_tokens", "gen_ai.usage.audio.output_tokens",
    "gen_ai.usage.image.input_tokens", "gen_ai.usage.image.cache_read.input_tokens", "gen_ai.usage.image.output_tokens",
    "gen_ai.usage.details.input_audio_tokens", "gen_ai.usage.details.cache_audio_read_tokens",
    "gen_ai.usage.details.output_audio_tokens", "gen_ai.usage.details.image_prompt_tokens",
    "gen_ai.usage.details.image_cache_tokens", "gen_ai.usage.details.image_candidates_tokens",
)
# The Vercel AI SDK's own usage attributes on its ai.*.doGenerate / doStream spans, beside gen_ai.usage.input_tokens
# and output_tokens (vercel/ai packages/ai/src/generate-text/generate-text.ts): the cache split is only here. AI SDK 6
# writes inputTokenDetails (input_tokens includes the cache, as the conventions say); AI SDK 5 only cachedInputTokens,
# and its Anthropic and Bedrock providers write their own input count, which leaves the cache out.
VERCEL_ATTRIBUTES = (
    "ai.usage.inputTokenDetails.cacheReadTokens", "ai.usage.inputTokenDetails.cacheWriteTokens",
    "ai.usage.cachedInputTokens", "ai.usage.totalTokens",
)
VERCEL_METADATA = "ai.response.providerMetadata"
"""Read for one number only (AI SDK 5 writes Anthropic's cache creation nowhere else), never kept in a rejected record."""
CACHE_EXCLUSIVE_SCOPES = ("openinference.instrumentation.claude_agent_sdk",)
"""Instrumentations whose prompt count is Anthropic's input_tokens, which leaves the cache reads and writes out:
OpenInference's Claude Agent SDK (Arize-ai/openinference, openinference-instrumentation-claude-agent-sdk,
_wrappers.py `_extract_usage_and_cost_attributes`: prompt = input_tokens, total = prompt + completion)."""

# The only span attributes a rejected record keeps: usage, model, provider and ids — never content.
RECORD_ATTRIBUTES = (
    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model",
    "gen_ai.response.model", "gen_ai.response.id", "gen_ai.conversation.id",
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens", "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.details.reasoning_tokens", "gen_ai.usage.details.cache_read_tokens", "gen_ai.usage.details.cache_write_tokens",
    # OpenLLMetry's (traceloop) names for the same three, before the conventions had them
    "gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.reasoning_tokens",
    # OpenLLMetry's Gemini instrumentations write the total as `llm.usage.total_tokens` (semconv_ai SpanAttributes.LLM_USAGE_TOTAL_TOKENS)
    "gen_ai.usage.total_tokens", "llm.usage.total_tokens", "openai.response.service_tier", "gen_ai.openai.response.service_tier", "error.type",
    *OPENINFERENCE_ATTRIBUTES, *MEDIA_ATTRIBUTES, *VERCEL_ATTRIBUTES,
)
_RESOURCE_ATTRIBUTES = ("service.name",)

# The parts of an OTLP/JSON document the adapter reads. Span events and everything else stay unread.
_ATTRIBUTES = '[{"key": "VARCHAR", "value": {"stringValue": "VARCHAR", "intValue": "VARCHAR", "doubleValue": "VARCHAR", "boolValue": "VARCHAR"}}]'
_STRUCTURE = (
    '{"resourceSpans": [{"resource": {"attributes": ' + _ATTRIBUTES + '}, '
    '"scopeSpans": [{"scope": {"name": "VARCHAR"}, "spans": [{"traceId": "VARCHAR", "spanId": "VARCHAR", '
    '"startTimeUnixNano": "VARCHAR", "endTimeUnixNano": "VARCHAR", "status": {"code": "VARCHAR"}, '
    '"attributes": ' + _ATTRIBUTES + "}]}]}]}"
)

_MIN_NANOS = 946_684_800_000_000_000  # 2000-01-01T00:00:00Z
_TIER = "case when coalesce(tier_raw, 'standard') in ('default', 'standard', 'auto') then 'standard' else tier_raw end"
"""SQL: the service tier of a span (OpenAI's response tier; a span without one was served at the standard tier)."""


@dataclass(frozen=True)
class OtelAdapterResult(AdapterResult):
    """An AdapterResult that also says how many non-GenAI spans were skipped (neither rows nor rejections; counted in
    `skipped` as `not_an_llm_span`)."""

    skipped_spans: int = 0


class _Columns:
    """Stable SQL aliases for the attribute keys looked up in span and resource attribute lists."""

    def __init__(self, prefix: str, keys: list[str]):
        self.alias = {key: f"{prefix}{i}" for i, key in enumerate(dict.fromkeys(keys))}

    def wanted(self, attributes: str, extra: str = "false") -> str:
        """SQL: the attribute list as {k, v} text pairs, narrowed to the keys looked up (first entry wins later)."""
        keys = ", ".join(sql_string(key) for key in self.alias)
        return (
            f"list_filter(list_transform({attributes}, lambda e: {{'k': e.key, 'v': "
            "coalesce(e.value.stringValue, e.value.intValue, e.value.doubleValue, e.value.boolValue)}), "
            f"lambda a: a.v is not null and (list_contains([{keys}], a.k) or {extra}))"
        )

    def lookups(self, pairs: str) -> str:
        return ",\n        ".join(
            f"list_extract(list_filter({pairs}, lambda a: a.k = {sql_string(key)}), 1).v as {alias}"
            for key, alias in self.alias.items()
        )


_MEDIA_TOKENS = {
    "audio_in": ("gen_ai.usage.audio.input_tokens", "gen_ai.usage.details.input_audio_tokens", "llm.token_count.prompt_details.audio"),
    "audio_cached": ("gen_ai.usage.audio.cache_read.input_tokens", "gen_ai.usage.details.cache_audio_read_tokens"),
    "audio_out": ("gen_ai.usage.audio.output_tokens", "gen_ai.usage.details.output_audio_tokens",
                  "llm.token_count.completion_details.audio"),
    "image_in": ("gen_ai.usage.image.input_tokens", "gen_ai.usage.details.image_prompt_tokens"),
    "image_cached": ("gen_ai.usage.image.cache_read.input_tokens", "gen_ai.usage.details.image_cache_tokens"),
    "image_out": ("gen_ai.usage.image.output_tokens", "gen_ai.usage.details.image_candidates_tokens"),
}
"""Audio and image tokens, each inside the span's input (the cached ones inside its cache read) or output."""


def _query(attribution: AttributionConfig) -> str:
    attribution_keys = [key for field in ALL_FIELDS for key in attribution.otel.keys(field)]
    span = _Columns("s", [*RECORD_ATTRIBUTES, VERCEL_METADATA, *attribution_keys])
    res = _Columns("r", [*_RESOURCE_ATTRIBUTES, *attribution_keys])
    a = span.alias

    def attributed(field: str) -> str:
        parts = [f"{blank_null(a[key])}, {blank_null(res.alias[key])}" for key in attribution.otel.keys(field)]
        return f"coalesce({', '.join(parts)})" if parts else "cast(null as varchar)"

    # Each token: which attribute supplied it (current name first, then older spellings, then OpenInference's).
    tokens = {
        "input": (("gen_ai.usage.input_tokens", a["gen_ai.usage.input_tokens"]), ("gen_ai.usage.prompt_tokens", a["gen_ai.usage.prompt_tokens"]),
                  ("llm.token_count.prompt", a["llm.token_count.prompt"])),
        "output": (("gen_ai.usage.output_tokens", a["gen_ai.usage.output_tokens"]), ("gen_ai.usage.completion_tokens", a["gen_ai.usage.completion_tokens"]),
                   ("llm.token_count.completion", a["llm.token_count.completion"])),
        "cache_read": (("gen_ai.usage.cache_read.input_tokens", a["gen_ai.usage.cache_read.input_tokens"]),
                       ("gen_ai.usage.cache_read_input_tokens", a["gen_ai.usage.cache_read_input_tokens"]),
                       ("llm.token_count.prompt_details.cache_read", a["llm.token_count.prompt_details.cache_read"]),
                       ("gen_ai.usage.details.cache_read_tokens", a["gen_ai.usage.details.cache_read_tokens"]),
                       ("ai.usage.inputTokenDetails.cacheReadTokens", a["ai.usage.inputTokenDetails.cacheReadTokens"]),
                       ("ai.usage.cachedInputTokens", a["ai.usage.cachedInputTokens"])),
        "cache_creation": (("gen_ai.usage.cache_write.input_tokens", a["gen_ai.usage.cache_write.input_tokens"]),
                           ("gen_ai.usage.cache_creation.input_tokens", a["gen_ai.usage.cache_creation.input_tokens"]),
                           ("gen_ai.usage.cache_creation_input_tokens", a["gen_ai.usage.cache_creation_input_tokens"]),
                           ("llm.token_count.prompt_details.cache_write", a["llm.token_count.prompt_details.cache_write"]),
                           ("gen_ai.usage.details.cache_write_tokens", a["gen_ai.usage.details.cache_write_tokens"]),
                           ("ai.usage.inputTokenDetails.cacheWriteTokens", a["ai.usage.inputTokenDetails.cacheWriteTokens"]),
                           (VERCEL_METADATA, f"case when json_valid({a[VERCEL_METADATA]}) then "
                                             f"json_extract_string({a[VERCEL_METADATA]}, '$.anthropic.cacheCreationInputTokens') end")),
        "reasoning": (("gen_ai.usage.reasoning.output_tokens", a["gen_ai.usage.reasoning.output_tokens"]),
                      ("gen_ai.usage.reasoning_tokens", a["gen_ai.usage.reasoning_tokens"]),
                      ("gen_ai.usage.details.reasoning_tokens", a["gen_ai.usage.details.reasoning_tokens"]),
                      ("llm.token_count.completion_details.reasoning", a["llm.token_count.completion_details.reasoning"])),
        **{name: tuple((key, a[key]) for key in keys) for name, keys in _MEDIA_TOKENS.items()},
    }
    raw_tokens = ",\n        ".join(
        f"coalesce({', '.join(alias for _, alias in leaves)}) as raw_{name},\n        "
        + "case " + " ".join(f"when {alias} is not null then {sql_string(label)}" for label, alias in leaves)
        + f" end as label_{name}"
        for name, leaves in tokens.items()
    )
    typed_tokens = ",\n        ".join(f"try_cast(raw_{name} as bigint) as t_{name}" for name in tokens)
    token_problems = ", ".join(token_problem(f"label_{name}", f"raw_{name}", f"t_{name}") for name in tokens)
    expected = EXPECTED
    user_names = user_keys(attribution)
    record_attributes = ", ".join(f"{sql_string(key)}, {a[key]}" for key in RECORD_ATTRIBUTES if key.lower() not in user_names)
    inference = ", ".join(sql_string(op) for op in INFERENCE_OPERATIONS)
    provider_names = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
    provider_keys = ", ".join(blank_null(a[key]) for key in provider_names)
    provider_field = " ".join(f"when {blank_null(a[key])} is not null then {sql_string(key)}" for key in provider_names)
    rollup = ", ".join(sql_string(op) for op in ROLLUP_OPERATIONS)
    op = a["gen_ai.operation.name"]
    # experiment and variant (attribution.TAG_FIELDS) ride in tags beside the service and the operation
    tag_values = ", ".join(f"{sql_string(field)}, {attributed(field)}" for field in TAG_FIELDS)
    tags = f"json_merge_patch('{{}}', json_object('service.name', {res.alias['service.name']}, 'gen_ai.operation.name', {op}, {tag_values}))"
    return f"""
with classified as (
    select line_no, byte_offset, byte_length, line,
        case
            when line is null then '|line is not valid UTF-8'
            when types is null then '|invalid JSON'
            when types[1] <> 'OBJECT' then '|record is not a JSON object (found ' || {json_kind('types[1]')} || ')'
            when types[2] is null and types[3] is not null
                then 'resourceSpans|record is an OTLP metrics export, not traces (token usage metrics cannot price cached input; export spans)'
            when types[2] is null and types[4] is not null then 'resourceSpans|record is an OTLP logs export, not traces'
            when types[2] is null then 'resourceSpans|missing required field'
            when types[2] <> 'ARRAY' then 'resourceSpans|not a JSON array (found ' || {json_kind('types[2]')} || ')'
        end as line_problem
    from (select *, try(json_type(line, ['$', '$.resourceSpans', '$.resourceMetrics', '$.resourceLogs'])) as types from lines_in)
),
docs as (
    select line_no, byte_offset, byte_length, from_json(line, '{_STRUCTURE}') as d
    from classified
    where line_problem is null
),
resources as (
    select line_no, byte_offset, byte_length, rs_i, rs.scopeSpans as scope_list,
        {res.wanted('rs.resource.attributes')} as resource_pairs
    from (select line_no, byte_offset, byte_length,
        unnest(d.resourceSpans) as rs, unnest(range(1, len(d.resourceSpans) + 1)) as rs_i from docs)
    where rs is not null
),
scopes as (
    select line_no, byte_offset, byte_length, rs_i, ss_i, resource_pairs, ss.scope.name as scope_name, ss.spans as span_list
    from (select line_no, byte_offset, byte_length, rs_i, resource_pairs,
        unnest(scope_list) as ss, unnest(range(1, len(scope_list) + 1)) as ss_i from resources)
    where ss is not null
),
spans as (
    select line_no, byte_offset, byte_length, rs_i, ss_i, sp_i, resource_pairs, scope_name,
        sp.traceId as trace_raw, sp.spanId as span_raw, sp.startTimeUnixNano as start_text,
        sp.endTimeUnixNano as end_text, sp.status.code as status_code,
        {span.wanted('sp.attributes', "starts_with(a.k, 'gen_ai.usage.') or starts_with(a.k, 'llm.token_count.')")} as span_pairs
    from (select line_no, byte_offset, byte_length, rs_i, ss_i, resource_pairs, scope_name,
        unnest(span_list) as sp, unnest(range(1, len(span_list) + 1)) as sp_i from scopes)
    where sp is not null
),
joined as materialized (
    select line_no, byte_offset, byte_length, rs_i, ss_i, sp_i, scope_name,
        {blank_null('trace_raw')} as trace_id,
        {blank_null('span_raw')} as span_id,
        trim(start_text) as start_raw,
        trim(end_text) as end_raw,
        status_code,
        coalesce(len(list_filter(span_pairs, lambda a: starts_with(a.k, 'gen_ai.usage.') or starts_with(a.k, 'llm.token_count.'))) > 0, false)
            as has_usage,
        {span.lookups('span_pairs')},
        {res.lookups('resource_pairs')}
    from spans
),
flagged as (
    select *,
        coalesce({op} in ({inference}) or upper({a['openinference.span.kind']}) = 'LLM', false) as is_inference,
        coalesce({op} in ({rollup}), false) as is_rollup
    from joined
),
rolled_up as (
    -- a rollup span (invoke_agent, invoke_workflow) whose trace has a model-call span here: its usage is theirs
    select line_no, rs_i, ss_i, sp_i
    from (
        select line_no, rs_i, ss_i, sp_i, is_rollup, bool_or(is_inference) over (partition by trace_id) as trace_has_inference
        from flagged
        where trace_id is not null and (is_inference or is_rollup)
    )
    where is_rollup and trace_has_inference
),
classified_spans as (
    select j.*, (j.is_inference or j.has_usage) and r.sp_i is null as is_genai
    from flagged j
    left join rolled_up r on j.line_no = r.line_no and j.rs_i = r.rs_i and j.ss_i = r.ss_i and j.sp_i = r.sp_i
),
genai as (
    select * from classified_spans where is_genai
),
fields as (
    select *,
        coalesce({provider_keys}) as provider_raw,
        case {provider_field} else 'gen_ai.provider.name' end as provider_field,
        coalesce({blank_null(a['gen_ai.response.model'])}, {blank_null(a['gen_ai.request.model'])}, {blank_null(a['llm.model_name'])}) as model,
        coalesce({blank_null(a['gen_ai.response.id'])}, trace_id || ':' || span_id) as request_id,
        case when regexp_full_match(start_raw, '[0-9]{{1,19}}') then try_cast(start_raw as bigint) end as start_ns,
        case when regexp_full_match(end_raw, '[0-9]{{1,19}}') then try_cast(end_raw as bigint) end as end_ns,
        lower(coalesce({blank_null(a['openai.response.service_tier'])}, {blank_null(a['gen_ai.openai.response.service_tier'])})) as tier_raw,
        {raw_tokens}
    from genai
),
typed as (
    select *,
        {provider_sql('provider_raw', attribution.providers)} as provider,
        {typed_tokens}
    from fields
),
checked as (
    select *, coalesce({token_problems}) as token_problem,
        -- an OpenInference prompt count that leaves the cache out (prompt + cache + completion = total) is made whole
        case when label_input = 'llm.token_count.prompt' and coalesce(t_cache_read, 0) + coalesce(t_cache_creation, 0) > 0
                and try_cast({a['llm.token_count.total']} as bigint)
                    = t_input + coalesce(t_cache_read, 0) + coalesce(t_cache_creation, 0) + coalesce(t_output, 0)
            then t_input + coalesce(t_cache_read, 0) + coalesce(t_cache_creation, 0)
            -- OpenLLMetry's Bedrock instrumentation writes Bedrock's inputTokens, which leave the cache out
            -- (traceloop/openllmetry packages/opentelemetry-instrumentation-bedrock/.../span_utils.py,
            -- converse_usage_record): made whole the same way
            when scope_name = 'opentelemetry.instrumentation.bedrock' and label_input = 'gen_ai.usage.input_tokens'
            then t_input + coalesce(t_cache_read, 0) + coalesce(t_cache_creation, 0)
            when scope_name in ({", ".join(sql_string(name) for name in CACHE_EXCLUSIVE_SCOPES)}) and label_input = 'llm.token_count.prompt'
            then t_input + coalesce(t_cache_read, 0) + coalesce(t_cache_creation, 0)
            -- AI SDK 5's Anthropic and Bedrock providers: their input count without the cache read (VERCEL_ATTRIBUTES)
            when (label_cache_read = 'ai.usage.cachedInputTokens' or label_cache_creation = {sql_string(VERCEL_METADATA)})
                and label_input = 'gen_ai.usage.input_tokens' and (provider = 'aws_bedrock' or contains(lower(provider_raw), 'anthropic'))
            then t_input + coalesce(t_cache_read, 0) + coalesce(t_cache_creation, 0)
            else t_input end as t_prompt,
        try_cast(coalesce({blank_null(a['gen_ai.usage.total_tokens'])}, {blank_null(a['llm.usage.total_tokens'])},
                          {blank_null(a['llm.token_count.total'])}, {blank_null(a['ai.usage.totalTokens'])}) as bigint) as t_total
    from typed
),
thoughts as (
    -- Gemini's thinking tokens, which instrumentations that write candidatesTokenCount as the output leave out
    -- (OpenLLMetry's google_generativeai, vertexai): the total's excess over input and output, billed as output
    select *,
        case when t_reasoning is null and provider = 'google' and contains(lower(model), 'gemini') and t_total > t_prompt + coalesce(t_output, 0)
            then t_total - t_prompt - coalesce(t_output, 0) end as t_thoughts,
        t_prompt - coalesce(t_cache_read, 0) - coalesce(t_cache_creation, 0) as fresh_input,
        -- uncached audio and images: the media count less its cached part; where the span gives no cached part
        -- (OpenInference has none), as much of the count as the uncached input holds (the rest was read from cache)
        case when t_audio_cached is null then least(coalesce(t_audio_in, 0), greatest(fresh_input, 0))
            else coalesce(t_audio_in, 0) - t_audio_cached end as audio_input,
        case when t_image_cached is null then least(coalesce(t_image_in, 0), greatest(fresh_input - audio_input, 0))
            else coalesce(t_image_in, 0) - t_image_cached end as image_input,
    from checked
),
judged as (
    select *,
        case
            when provider_raw is null then 'gen_ai.provider.name|missing required field'
            when provider is null then provider_field || '|unknown provider ''' || provider_raw || ''' (expected one of {expected})'
            when model is null then 'gen_ai.response.model|missing required field'
            when start_raw is null or start_raw = '' or start_raw = '0' then 'startTimeUnixNano|missing required field'
            when start_ns is null then 'startTimeUnixNano|invalid timestamp: ''' || left(start_raw, 40) || ''''
            when start_ns < {_MIN_NANOS} then 'startTimeUnixNano|timestamp before 2000-01-01: ''' || start_raw || ''' (expected nanoseconds since the epoch)'
            {date_range_problem("startTimeUnixNano", "make_timestamp(start_ns // 1000)::timestamptz", "start_raw")}
            when request_id is null then case when trace_id is null then 'traceId' else 'spanId' end || '|missing required field'
            when token_problem is not null then token_problem
            when t_input is null then 'gen_ai.usage.input_tokens|missing required field'
            when t_output is null and coalesce({op}, '') <> 'embeddings' then 'gen_ai.usage.output_tokens|missing required field'
            {tier_problem("openai.response.service_tier", _TIER)}
            when t_prompt - coalesce(t_cache_read, 0) - coalesce(t_cache_creation, 0) < 0
                then label_input || '|inconsistent usage: cache read and cache creation tokens exceed the input total'
            when coalesce(t_output, 0) - coalesce(t_reasoning, 0) < 0
                then 'gen_ai.usage.output_tokens|inconsistent usage: reasoning tokens exceed the output total'
            when coalesce(t_audio_cached, 0) > coalesce(t_audio_in, 0)
                then label_audio_cached || '|inconsistent usage: cached audio tokens exceed the audio input'
            when coalesce(t_image_cached, 0) > coalesce(t_image_in, 0)
                then label_image_cached || '|inconsistent usage: cached image tokens exceed the image input'
            when coalesce(t_audio_in, 0) + coalesce(t_image_in, 0) > t_prompt - coalesce(t_cache_creation, 0)
                then label_input || '|inconsistent usage: audio and image tokens exceed the input total'
            when fresh_input - audio_input - image_input < 0
                then label_input || '|inconsistent usage: cache, audio and image tokens exceed the input total'
            when coalesce(t_output, 0) - coalesce(t_reasoning, 0) - coalesce(t_audio_out, 0) - coalesce(t_image_out, 0) < 0
                then 'gen_ai.usage.output_tokens|inconsistent usage: reasoning, audio and image tokens exceed the output total'
        end as problem
    from thoughts
)
select
    line_no, byte_offset, byte_length, rs_i, ss_i, sp_i,
    problem,
    request_id,
    case when problem is null then make_timestamp(start_ns // 1000)::timestamptz end as occurred_at,
    provider,
    model,
    {_TIER} as service_tier,
    coalesce({attributed('feature')}, '{UNATTRIBUTED}') as feature,
    {attributed('user_id')} as user_id,
    {attributed('user_segment')} as user_segment,
    {attributed('customer_id')} as customer_id,
    {attributed('conversation_id')} as conversation_id,
    case when end_ns >= start_ns then (end_ns - start_ns) // 1000000 end as latency_ms,
    case when status_code in ('2', 'STATUS_CODE_ERROR') or {a['error.type']} is not null then 'error' else 'ok' end as status,
    cast({without_user_keys(tags, user_names)} as varchar) as tags,
    fresh_input - audio_input - image_input as input_tokens,
    coalesce(t_cache_read, 0) as cache_read_tokens,
    coalesce(t_cache_creation, 0) as cache_write_5m_tokens,
    0 as cache_write_1h_tokens,
    coalesce(t_output, 0) - coalesce(t_reasoning, 0) - coalesce(t_audio_out, 0) - coalesce(t_image_out, 0) as output_tokens,
    coalesce(t_reasoning, t_thoughts, 0) as reasoning_tokens,
    audio_input as audio_input_tokens,
    coalesce(t_audio_out, 0) as audio_output_tokens,
    image_input as image_input_tokens,
    coalesce(t_image_out, 0) as image_output_tokens,
    0 as web_search_requests,
    case when problem is not null then cast(json_merge_patch('{{}}', json_object(
        'traceId', trace_id, 'spanId', span_id, 'startTimeUnixNano', start_raw,
        'attributes', json_object({record_attributes}))) as varchar) end as record,
    cast(null as bigint) as skipped_spans
from judged
union all
select line_no, byte_offset, byte_length, null, null, null, line_problem,
    null, null, null, null, null, null, null, null, null, null, null, null, null,
    null, null, null, null, null, null, null, null, null, null, null, null, null
from classified
where line_problem is not null
union all
select line_no, null, null, null, null, null, null,
    null, null, null, null, null, null, null, null, null, null, null, null, null,
    null, null, null, null, null, null, null, null, null, null, null, null, count(*)
from classified_spans
where not is_genai
group by line_no
order by line_no, rs_i nulls first, ss_i, sp_i
"""


def _records(whole: WholeText, file_name: str) -> pa.Table:
    """Numbered lines; a `.json` file holding one (pretty-printed) JSON document, with no line cut out of it,
    is one record at its first line."""
    lines, text = whole.lines, whole.text
    name = file_name.lower().removesuffix(".gz")
    if not name.endswith(".json") or lines.num_rows < 2 or whole.long_lines:
        return lines
    start = len(BOM) if text.startswith(BOM) else 0
    try:
        document = text[start:].decode("utf-8")
    except UnicodeDecodeError:
        return lines
    with in_memory() as con:
        if not con.execute("select json_valid($t)", {"t": document}).fetchone()[0]:
            return lines
    first = lines.slice(0, 1).to_pylist()[0]
    return pa.table(
        {
            "line_no": pa.array([first["line_no"]], pa.int64()),
            "byte_offset": pa.array([start], pa.int64()),
            "byte_length": pa.array([len(text) - start], pa.int64()),
            "line": pa.array([document], pa.large_string()),
        }
    )


_QUERIES: dict[AttributionConfig, str] = {}


def parse_otel(data: bytes, file_name: str, attribution: AttributionConfig | None = None) -> OtelAdapterResult:
    """Parse one landed OTLP/JSON trace export (bytes as landed, gzip or not) into canonical rows and rejections."""
    attribution = attribution or AttributionConfig.default()
    query = _QUERIES.get(attribution) or _QUERIES.setdefault(attribution, _query(attribution))
    whole = read_whole(data, file_name)
    records = _records(whole, file_name)
    with in_memory() as con:
        con.execute("set TimeZone = 'UTC'")
        con.register("lines_in", records)
        judged = con.sql(query).to_arrow_table()
    skip_rows = pc.is_valid(judged["skipped_spans"])
    skipped = pc.sum(judged["skipped_spans"]).as_py() or 0
    judged = judged.filter(pc.invert(skip_rows)).drop_columns(["skipped_spans", "rs_i", "ss_i", "sp_i"])
    result = judged_whole(whole, AdapterResult.from_judged(judged, source=SOURCE, text=whole.text), records)
    return OtelAdapterResult(rows=result.rows, rejected=result.rejected, skipped=(("not_an_llm_span", int(skipped)),) if skipped else (),
                             skipped_spans=int(skipped))


