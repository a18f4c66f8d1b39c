"""Adapter for the `envelope` gateway format: JSON Lines (or Parquet) in, canonical request rows and rejected rows out.

Each line is one request with the provider's `usage` object as the provider returned it. One DuckDB query
parses each line once and judges it; no Python runs per row. A big file is judged in chunks of whole lines
(`iter_envelope`), and a clean local file can be read whole by DuckDB's own reader (`file_query`); Parquet
rows are made into the same lines first (`envelope_parquet`). A text field holds the JSON string it was given,
whatever its first character; only a JSON object or array (told by its JSON type) is not a string. `tags` keep
no key that names a user id (`attribution.without_user_keys`). Token semantics per provider follow
docs/formats/token-semantics.md (§2): every request is split into the exclusive buckets of
pipelines.adapters.CANONICAL_SCHEMA, so billed tokens = their sum. `timestamp` must carry a UTC offset
(`sql.OFFSET_REQUIRED`): a naive time is rejected, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.adapters import AdapterResult, judged_chunks
from pipelines.adapters.attribution import AttributionConfig, user_keys, without_user_keys
from pipelines.adapters.envelope_parquet import JSON_FIELDS, parquet_fields, parquet_lines
from pipelines.adapters.envelope_usage import (
    GEMINI_DETAILS,
    GEMINI_MODALITIES,
    OBJECTS,
    TOKEN_LEAVES,
    USAGE_STRUCTURE,
    XAI_REASONING_APART,
    compaction,
)
from pipelines.adapters.lines import CHUNK_BYTES, numbered, prefetch, scannable, text_chunks
from pipelines.adapters.providers import tier_problem
from pipelines.adapters.sql import (
    DATE_HOUR_MINUTE,
    OFFSET_REQUIRED,
    UTC_OFFSET,
    date_range_problem,
    latency_ms,
    line_problem,
    timestamptz,
    token_problem,
)
from pipelines.settings import max_line_bytes
from pipelines.storage.database import in_memory
from pipelines.storage.relations import sql_literal

SOURCE = "envelope"
MAX_TEXT = 512
PROVIDERS = ("openai", "azure_openai", "anthropic", "google", "aws_bedrock", "mistral", "deepseek", "xai", "self_hosted:<cluster>")
OPENAI_COMPATIBLE = ("openai", "azure_openai", "mistral", "deepseek", "xai")
"""Providers whose usage is OpenAI's Chat Completions shape: `prompt_tokens` includes the cached input
(`prompt_tokens_details.cached_tokens`, or DeepSeek's `prompt_cache_hit_tokens`), `completion_tokens` the
reasoning (but for xAI, see `XAI_REASONING_APART`)."""


def _one_of(names) -> str:
    """SQL: provider is one of `names`, as a chain of equalities. An IN list or list_contains here makes DuckDB plan
    the judging query so that a whole file's rows no longer come out in file order, which `file_query` relies on."""
    return "(" + " or ".join(f"provider = '{name}'" for name in names) + ")"


_OAI = _one_of(OPENAI_COMPATIBLE)
_KNOWN = _one_of(name for name in PROVIDERS if not name.startswith("self_hosted"))

_TOP = (
    "request_id", "timestamp", "provider", "model", "service_tier", "feature", "user_id",
    "user_segment", "customer_id", "conversation_id", "latency_ms", "status", "tags", "usage",
)

def _token(path: str) -> str:
    """SQL for a token leaf (read as text) as BIGINT; null when absent or not a non-negative integer."""
    return f"try_cast({path} as bigint)"


_TEXT_FIELDS = tuple(name for name in _TOP if name not in JSON_FIELDS)
"""The fields read as text: a JSON string as the string, a number or boolean as its JSON text."""


def _kind(name: str) -> str:
    """SQL: the JSON type of a text field's value, looked up in the line only when the text read starts like an
    object or an array (a string may too): null for every other value, and wherever there is no line."""
    return f"""case when left(e.{name}, 1) in ('{{', '[') then json_type(line, '$."{name}"') end"""


def _text(name: str) -> str:
    """An optional string field: the JSON string it holds (whatever its first character), a number or boolean as
    its text, an object or array null."""
    return f"case when {_kind(name)} in ('OBJECT', 'ARRAY') then null else e.{name} end"


_TOP_TYPES = {name: "JSON" if name in JSON_FIELDS else "VARCHAR" for name in _TOP}

_LINE_ENVELOPES = f"""
typed as (
    select line_no, byte_offset, byte_length, line, try(json_type(line)) as line_type
    from lines_in
),
classified as (
    select line_no, byte_offset, byte_length, line,
        {line_problem("line", "line_type", OBJECTS)} as line_problem
    from typed
),
envelopes as (
    select line_no, byte_offset, byte_length, line_problem, line,
        case when line_problem is null then from_json(line, '{{{", ".join(f'"{k}": "{v}"' for k, v in _TOP_TYPES.items())}}}') end as e
    from classified
)"""
"""The judging query's source when it reads `lines_in` (numbered lines of text): each line parsed once as an
envelope (and again, for a text field's JSON type, only where its text starts with `{` or `[`)."""


def _query(envelopes: str = _LINE_ENVELOPES, tags_without: tuple[str, ...] = ()) -> str:
    """The judging query over `envelopes`: CTEs ending in one named `envelopes` with (line_no, byte_offset,
    byte_length, line_problem, line, e), e the envelope's top-level fields as text (usage and tags as JSON), line
    the JSON text each came from (null when the source already knows no text field holds an object or array);
    `tags` lose the keys `tags_without`."""
    t = lambda label: f"t_{label.replace('.', '__')}"  # noqa: E731
    tokens = ",\n            ".join(f"{_token(path)} as {t(label)}" for label, path in TOKEN_LEAVES)
    token_problems = ",\n            ".join(token_problem(f"'usage.{label}'", path, t(label)) for label, path in TOKEN_LEAVES)
    return f"""
with {envelopes},
fields as (
    select
        line_no, byte_offset, byte_length, line_problem,
        {", ".join(f"{_kind(f)} as kind_{f}" for f in _STRING_ONLY)},
        {_text('request_id')} as request_id,
        {_text('timestamp')} as ts_text,
        lower({_text('provider')}) as provider,
        {_text('model')} as model,
        lower({_text('service_tier')}) as envelope_tier,
        {_text('feature')} as feature,
        {_text('user_id')} as user_id,
        {_text('user_segment')} as user_segment,
        {_text('customer_id')} as customer_id,
        {_text('conversation_id')} as conversation_id,
        {_text('status')} as status,
        {latency_ms('e.latency_ms')} as latency_ms,
        case when left(e.tags, 1) = '{{' then e.tags end as tags,
        case when e.usage is null or e.usage = 'null' then 'NULL' when left(e.usage, 1) = '{{' then 'OBJECT' else 'OTHER' end as usage_type,
        case when left(e.usage, 1) = '{{' then from_json(e.usage, '{" ".join(USAGE_STRUCTURE.split())}') end as u,
        case when left(e.usage, 1) = '{{' and lower({_text('provider')}) = 'google' then {GEMINI_DETAILS.format(usage='e.usage')} end as gemini_details
    from envelopes
),
tokens as (
    select *,
        {tokens}
    from fields
),
checked as (
    select *,
        coalesce({token_problems}) as token_problem,
        {timestamptz("ts_text", OFFSET_REQUIRED)} as occurred_at,
        case
            when u.cacheDetails is not null and json_type(u.cacheDetails) = 'ARRAY'
                then list_sum(list_transform(
                    from_json(u.cacheDetails, '[{{"ttl": "VARCHAR", "inputTokens": "BIGINT"}}]'),
                    lambda d: case when d.ttl = '1h' then coalesce(d.inputTokens, 0) else 0 end))
        end as bedrock_write_1h,
        {GEMINI_MODALITIES},
        case when u.iterations is not null then {compaction('u.iterations')} end as compaction,
        -- whose usage object this is: the provider's, except Anthropic's own usage object, which Claude on Vertex AI
        -- (provider google, claude-sonnet-4-5@20250929) and Bedrock's InvokeModel (Messages body) return
        case
            -- Bedrock's OpenAI-compatible Mantle endpoint returns OpenAI's usage (Chat Completions' prompt_tokens, or
            -- the Responses API's input_tokens with input_tokens_details), never Anthropic's cache fields
            when provider = 'aws_bedrock' and u.inputTokens is null and u.cache_creation_input_tokens is null
                 and u.cache_read_input_tokens is null and (u.prompt_tokens is not null or u.input_tokens_details is not null)
                then 'openai'
            when (provider = 'google' and u.promptTokenCount is null and u.prompt_token_count is null
                  or provider = 'aws_bedrock' and u.inputTokens is null) and u.input_tokens is not null then 'anthropic'
            else provider
        end as shape
    from tokens
),
buckets as (
    select *,
        case
            when {_OAI} or shape = 'openai' then coalesce({t('prompt_tokens')}, {t('input_tokens')})
            when shape = 'anthropic' then {t('input_tokens')} + coalesce(compaction.input, 0)
            when shape = 'google' then {t('promptTokenCount')}
            when provider = 'aws_bedrock' then {t('inputTokens')}
            when provider like 'self\\_hosted:%' escape '\\' then {t('input_tokens')}
        end as reported_input,
        case
            -- an embeddings usage has prompt_tokens and total_tokens and no completion count: no output
            when {_OAI} or shape = 'openai' then coalesce({t('completion_tokens')}, {t('output_tokens')},
                case when try_cast(u.total_tokens as bigint) = {t('prompt_tokens')} then 0 end)
            when shape = 'anthropic' then {t('output_tokens')} + coalesce(compaction.output, 0)
            when shape = 'google' then coalesce({t('candidatesTokenCount')}, {t('responseTokenCount')}, 0)
            when provider = 'aws_bedrock' then {t('outputTokens')}
            when provider like 'self\\_hosted:%' escape '\\' then {t('output_tokens')}
        end as reported_output,
        case
            when {_OAI} or shape = 'openai' then coalesce({t('prompt_tokens_details.cached_tokens')}, {t('input_tokens_details.cached_tokens')},
                {t('input_token_details.cached_tokens')}, {t('prompt_cache_hit_tokens')},
                -- Mistral's num_cached_tokens; xAI's own SDK's cached_prompt_text_tokens (both inside the prompt count)
                case when provider = 'mistral' then {t('num_cached_tokens')} when provider = 'xai' then {t('cached_prompt_text_tokens')} end, 0)
            when shape = 'anthropic' then coalesce({t('cache_read_input_tokens')}, 0) + coalesce(compaction.cache_read, 0)
            when shape = 'google' then coalesce({t('cachedContentTokenCount')}, 0)
            when provider = 'aws_bedrock' then coalesce({t('cacheReadInputTokens')}, 0)
            else 0
        end as cache_read_tokens,
        case
            when provider in ('openai', 'azure_openai') or shape = 'openai' then coalesce({t('prompt_tokens_details.cache_write_tokens')}, {t('input_tokens_details.cache_write_tokens')}, 0)
            when shape = 'anthropic' and u.cache_creation is not null
                 and ({t('cache_creation.ephemeral_5m_input_tokens')} is not null or {t('cache_creation.ephemeral_1h_input_tokens')} is not null)
                then coalesce({t('cache_creation.ephemeral_5m_input_tokens')}, 0) + coalesce(compaction.write_5m, 0)
            when shape = 'anthropic' then coalesce({t('cache_creation_input_tokens')}, 0) + coalesce(compaction.write_5m, 0)
            when provider = 'aws_bedrock' then coalesce({t('cacheWriteInputTokens')}, 0) - coalesce(bedrock_write_1h, 0)
            else 0
        end as cache_write_5m_tokens,
        case
            when shape = 'anthropic' then coalesce({t('cache_creation.ephemeral_1h_input_tokens')}, 0) + coalesce(compaction.write_1h, 0)
            when provider = 'aws_bedrock' then coalesce(bedrock_write_1h, 0)
            else 0
        end as cache_write_1h_tokens,
        case
            -- xAI's own SDK writes reasoning_tokens at the top of its usage (left out of completion_tokens)
            when {_OAI} or shape = 'openai' then coalesce({t('completion_tokens_details.reasoning_tokens')}, {t('output_tokens_details.reasoning_tokens')},
                case when provider = 'xai' then {t('reasoning_tokens')} end, 0)
            when shape = 'anthropic' then coalesce({t('output_tokens_details.thinking_tokens')}, 0)
            when shape = 'google' then coalesce({t('thoughtsTokenCount')}, 0)
            else 0
        end as reasoning_tokens,
        -- audio: Chat Completions, else Realtime and transcription usage (input_token_details; its cached audio is
        -- in the cache read), else Gemini's AUDIO modality (its cached audio likewise)
        case
            when provider in ('openai', 'azure_openai') or shape = 'openai' then coalesce({t('prompt_tokens_details.audio_tokens')},
                {t('input_token_details.audio_tokens')} - coalesce({t('input_token_details.cached_tokens_details.audio_tokens')}, 0), 0)
            when shape = 'google' then coalesce(gemini_audio_in, 0) - coalesce(gemini_audio_cached, 0)
            else 0
        end as audio_input_tokens,
        case
            when provider in ('openai', 'azure_openai') or shape = 'openai' then coalesce({t('completion_tokens_details.audio_tokens')}, {t('output_token_details.audio_tokens')}, 0)
            when shape = 'google' then coalesce(gemini_audio_out, 0)
            else 0
        end as audio_output_tokens,
        -- images: OpenAI's image_tokens details (the Images API's, a chat model's, or Realtime's input_token_details,
        -- whose cached images are in the cache read), else Gemini's IMAGE modality (its cached images likewise)
        case
            when {_OAI} or shape = 'openai' then coalesce({t('prompt_tokens_details.image_tokens')}, {t('input_tokens_details.image_tokens')},
                {t('input_token_details.image_tokens')} - coalesce({t('input_token_details.cached_tokens_details.image_tokens')}, 0), 0)
            when shape = 'google' then coalesce(gemini_image_in, 0) - coalesce(gemini_image_cached, 0)
            else 0
        end as image_input_tokens,
        case
            when {_OAI} or shape = 'openai' then coalesce({t('completion_tokens_details.image_tokens')}, {t('output_tokens_details.image_tokens')}, 0)
            when shape = 'google' then coalesce(gemini_image_out, 0)
            else 0
        end as image_output_tokens,
        case when shape = 'anthropic' then coalesce({t('server_tool_use.web_search_requests')}, 0) else 0 end as web_search_requests,
        case when shape = 'google' then coalesce({t('toolUsePromptTokenCount')}, 0) else 0 end as tool_prompt_tokens,
        case
            when shape = 'anthropic' and {t('cache_creation_input_tokens')} is not null and u.cache_creation is not null
                 and ({t('cache_creation.ephemeral_5m_input_tokens')} is not null or {t('cache_creation.ephemeral_1h_input_tokens')} is not null)
                 and coalesce({t('cache_creation.ephemeral_5m_input_tokens')}, 0) + coalesce({t('cache_creation.ephemeral_1h_input_tokens')}, 0) <> {t('cache_creation_input_tokens')}
                then true else false
        end as anthropic_split_mismatch
    from checked
),
canonical as (
    select *,
        case
            when {_OAI} or shape = 'openai' then reported_input - cache_read_tokens - cache_write_5m_tokens - audio_input_tokens - image_input_tokens
            when shape = 'google' then reported_input - cache_read_tokens + tool_prompt_tokens - audio_input_tokens - image_input_tokens
            else reported_input
        end as input_tokens,
        case
            when {XAI_REASONING_APART} then reported_output
            when {_OAI} or shape in ('openai', 'anthropic') then reported_output - reasoning_tokens - audio_output_tokens - image_output_tokens
            when shape = 'google' then reported_output - audio_output_tokens - image_output_tokens
            else reported_output
        end as output_tokens,
        -- Anthropic's fast mode (usage.speed) is a premium price of its own: a tier, unpriced where the book has none
        case when shape = 'anthropic' and lower(u.speed) = 'fast' then 'fast' else case coalesce(envelope_tier, lower(u.service_tier), lower(coalesce(u.trafficType, u.traffic_type)), {_GEMINI_TIER}, 'standard')
            when 'default' then 'standard'
            when 'auto' then 'standard'
            when 'on_demand' then 'standard'
            when 'on_demand_flex' then 'flex'
            when 'on_demand_priority' then 'priority'
            when 'reserved' then 'provisioned_throughput'
            else coalesce(envelope_tier, lower(u.service_tier), lower(coalesce(u.trafficType, u.traffic_type)), {_GEMINI_TIER}, 'standard')
        end end as service_tier
    from buckets
),
judged as (
    select *,
        case
            when line_problem is not null then line_problem
{_wrong_kind()}
            when request_id is null or trim(request_id) = '' then 'request_id|missing required field'
            when ts_text is null then 'timestamp|missing required field'
            when provider is null then 'provider|missing required field'
            when model is null or trim(model) = '' then 'model|missing required field'
            when usage_type is null or usage_type = 'NULL' then 'usage|missing required field'
            when usage_type <> 'OBJECT' then 'usage|usage is not a JSON object'
            when not ({_KNOWN} or regexp_matches(provider, '^self_hosted:[A-Za-z0-9_.-]+$'))
                then 'provider|unknown provider ''' || provider || ''' (expected one of {", ".join(PROVIDERS)})'
            -- occurred_at is set only when ts_text matched the whole pattern, so these two look at failures only
            when occurred_at is null and not regexp_matches(ts_text, '^{DATE_HOUR_MINUTE}')
                then 'timestamp|invalid timestamp: ''' || left(ts_text, 40) || ''''
            when occurred_at is null and not regexp_matches(ts_text, '{UTC_OFFSET}$')
                then 'timestamp|timestamp has no UTC offset: ''' || ts_text || ''''
            when occurred_at is null then 'timestamp|invalid timestamp: ''' || ts_text || ''''
            {date_range_problem("timestamp", "occurred_at", "ts_text")}
{_too_long()}
            when token_problem is not null then token_problem
            when reported_input is null then 'usage|missing input token count for provider ' || provider
            when reported_output is null then 'usage|missing output token count for provider ' || provider
            when anthropic_split_mismatch then 'usage.cache_creation|ephemeral_5m + ephemeral_1h differ from cache_creation_input_tokens'
            when input_tokens < 0 then 'usage|inconsistent usage: cached, cache-write and audio input tokens exceed the input total'
            when audio_input_tokens < 0 then 'usage|inconsistent usage: cached audio tokens exceed the audio input tokens'
            when image_input_tokens < 0 then 'usage|inconsistent usage: cached image tokens exceed the image input tokens'
            when output_tokens < 0 or cache_write_5m_tokens < 0 then 'usage|inconsistent usage: reasoning and audio output tokens exceed the output total'
            {tier_problem("service_tier", "service_tier")}
        end as problem
    from canonical
)
select
    line_no, byte_offset, byte_length,
    problem,
    request_id,
    occurred_at,
    provider,
    model,
    service_tier,
    coalesce(nullif(trim(feature), ''), 'unattributed') as feature,
    user_id,
    user_segment,
    customer_id,
    conversation_id,
    latency_ms,
    status,
    cast({without_user_keys("tags", tags_without)} as varchar) as tags,
    input_tokens,
    cache_read_tokens,
    cache_write_5m_tokens,
    cache_write_1h_tokens,
    output_tokens,
    reasoning_tokens,
    audio_input_tokens,
    audio_output_tokens,
    image_input_tokens,
    image_output_tokens,
    web_search_requests,
    cast(null as varchar) as record
from judged
"""


_GEMINI_TIER = "case when lower(u.serviceTier) in ('standard', 'flex', 'priority') then lower(u.serviceTier) end"
"""SQL: the tier a Gemini API usageMetadata names (`serviceTier`, as in vercel/ai packages/google/src/__fixtures__/
google-usage-raw-live.json); another value (or Bedrock's object) is not a tier here."""
_STRING_ONLY = ("request_id", "timestamp", "provider", "model", "service_tier")


def _wrong_kind() -> str:
    """CASE branches rejecting a required text field, or the tier (an object there, such as Bedrock's `serviceTier`
    copied whole, must not be priced as standard), given as an array or an object (by its JSON type)."""
    branch = "            when kind_{f} in ('ARRAY', 'OBJECT') then '{f}|not a string (found ' || lower(kind_{f}) || ')'"
    return "\n".join(branch.format(f=f) for f in _STRING_ONLY)


def _too_long() -> str:
    """CASE branches rejecting dimension values too long to be names (a 5 MB feature is not a feature)."""
    fields = ("request_id", "model", "feature", "user_id", "user_segment", "customer_id", "conversation_id")
    return "\n".join(
        f"            when strlen({f}) > {MAX_TEXT} and length({f}) > {MAX_TEXT} then '{f}|value is longer than {MAX_TEXT} characters'"
        for f in fields
    )


def _with_records(con: duckdb.DuckDBPyConnection, judged: pa.Table, tags_without: tuple[str, ...]) -> pa.Table:
    """Fill `record` for rejected rows that parsed as objects (only those lines are read again)."""
    bad = pc.and_(pc.is_valid(judged["problem"]), pc.invert(pc.starts_with(judged["problem"], "|")))
    wanted = judged.filter(bad)["line_no"]
    if len(wanted) == 0:
        return judged
    con.register("wanted", pa.table({"line_no": wanted}))
    records = con.sql(
        f"select line_no, {_record_sql(tags_without)} as record from lines_in semi join wanted using (line_no)"
    ).to_arrow_table()
    index = pc.index_in(judged["line_no"], value_set=records["line_no"])
    filled = pc.take(records["record"], index)
    return judged.set_column(judged.schema.get_field_index("record"), "record", filled.cast(pa.string()))


def _record_sql(tags_without: tuple[str, ...]) -> str:
    """The record as received, limited to envelope fields: prompt and response text and user ids (also in
    tags) are never kept."""
    structure = ", ".join(f'"{name}": "JSON"' for name in _TOP if name != "user_id")
    record = f"from_json(line, '{{{structure}}}')"
    kept = ", ".join(
        f"'{name}', {without_user_keys(f'{record}.tags', tags_without) if name == 'tags' else f'{record}.{name}'}"
        for name in _TOP if name != "user_id"
    )
    return f"json_object({kept})"


@cache
def _line_query(tags_without: tuple[str, ...]) -> str:
    return _query(tags_without=tags_without)


def parse_envelope(data: bytes, file_name: str, attribution: AttributionConfig | None = None) -> AdapterResult:
    """Parse one landed envelope file (bytes as landed: JSON Lines, gzip or not, or Parquet) into canonical rows and
    rejections; `attribution` adds to the keys `tags` never keep (`attribution.user_keys`)."""
    return AdapterResult.concat(list(iter_envelope(data, file_name, attribution=attribution)))


def iter_envelope(
    data: bytes, file_name: str, chunk_bytes: int = CHUNK_BYTES, attribution: AttributionConfig | None = None
) -> Iterator[AdapterResult]:
    """Parse a landed envelope file chunk by chunk (bounded memory): one AdapterResult per chunk of whole lines.

    Row numbers and byte offsets are those of the whole file; the next chunk is decompressed and split on a second
    thread while DuckDB judges this one. A line longer than the line limit is rejected unread (`lines.LongLine`).
    A Parquet file comes in batches of rows, each row numbered by its place in the file, with null byte offsets.
    """
    tags_without = user_keys(attribution)
    with in_memory() as con:
        con.execute("set TimeZone = 'UTC'")
        if file_name.lower().endswith(".parquet"):
            for lines, text in parquet_lines(con, data, _TOP):
                yield _judge(con, lines, text, tags_without).without_offsets()
            return
        chunks = prefetch(numbered(text_chunks(data, file_name, chunk_bytes)))
        yield from judged_chunks(chunks, lambda lines, text: _judge(con, lines, text, tags_without))


def _judge(con: duckdb.DuckDBPyConnection, lines: pa.Table, text: bytes, tags_without: tuple[str, ...]) -> AdapterResult:
    con.register("lines_in", scannable(lines))
    try:
        judged = con.sql(_line_query(tags_without)).to_arrow_table()
        judged = _with_records(con, judged, tags_without)
    finally:
        con.unregister("lines_in")
    return AdapterResult.from_judged(judged, source=SOURCE, text=text)


def file_query(path: str, file_name: str, attribution: AttributionConfig | None = None) -> str | None:
    """The judging query reading a whole local envelope file in DuckDB (its own parallel reader), or None
    when the file's layout needs the line-by-line path.

    For the common clean file: DuckDB parses each JSON line once, or reads each Parquet row's columns as they
    are, instead of Python splitting lines and rendering rows. JSON lines come with a null line_no: the caller
    numbers them in the order it stores them (insertion order preserved), as a window here would judge on one
    thread. The caller keeps the result only when no row has a problem and (for JSON Lines) the rows read equal
    the file's lines, since this reader skips blank lines and does not say where a bad line is; otherwise it
    judges the file line by line (`iter_envelope`), which gives every rejection its line, byte offset and
    record. Accepted rows are the same either way.

    JSON text fields are read as text (read as JSON, to learn their type, DuckDB's read takes a third more CPU): a value
    starting with `{` or `[` that is not valid JSON can only have been a string, and one that is valid JSON may
    have been an object, an array or a string holding JSON text, so its row gets a problem and the file goes
    line by line, where the value's JSON type decides. A line longer than the line limit makes DuckDB's reader
    fail (`maximum_object_size`), so such a file goes line by line too.
    """
    literal = sql_literal(path)
    lower = file_name.lower()
    if lower.endswith(".parquet"):
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError):
            return None
        values = parquet_fields(schema, _TOP)
        if values is None:
            return None
        source, line_no = f"read_parquet({literal}, file_row_number = true)", "file_row_number + 1"
        line_problem = "cast(null as varchar)"  # Parquet text columns hold strings, never JSON
    elif lower.endswith((".jsonl", ".jsonl.gz")):
        columns = ", ".join(f"'{name}': '{kind}'" for name, kind in _TOP_TYPES.items())
        compression = "gzip" if lower.endswith(".gz") else "none"
        source = (
            f"read_json({literal}, format = 'newline_delimited', columns = {{{columns}}}, compression = '{compression}', "
            f"maximum_object_size = {max_line_bytes()})"
        )
        values, line_no = {name: f'"{name}"' for name in _TOP}, "cast(null as bigint)"
        maybe_json = " or ".join(f"""(left("{name}", 1) in ('{{', '[') and json_valid("{name}"))""" for name in _TEXT_FIELDS)
        line_problem = f"case when {maybe_json} then '|a text field holds JSON: judged line by line' end"
    else:
        return None
    packed = ", ".join(f'"{name}" := {values[name]}' for name in _TOP)
    envelopes = f"""
envelopes as (
    select {line_no} as line_no, cast(null as bigint) as byte_offset, cast(null as bigint) as byte_length,
        {line_problem} as line_problem, cast(null as varchar) as line, struct_pack({packed}) as e
    from {source}
)"""
    return _query(envelopes, user_keys(attribution))
