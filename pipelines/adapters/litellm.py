"""Adapter for the `litellm` gateway format: LiteLLM SpendLogs exports in, canonical request rows out.

Accepted files are JSON Lines (`.jsonl`, `.jsonl.gz`, one `LiteLLM_SpendLogs` row per line) and CSV
(`.csv`, `.csv.gz`, a header row, JSON columns such as metadata and request_tags as JSON text in a cell).
Both are read into the same text columns (a clean CSV through Arrow's CSV reader, a CSV with a bad record
record by record in DuckDB) and judged by the JSON Lines gateway query (`pipelines.adapters.jsonl`); this
module declares the format, with two steps of its own that split the usage detail into token buckets.

Token semantics. SpendLogs has prompt_tokens / completion_tokens only; LiteLLM keeps the rest of the
usage object in `metadata.usage_object` (newer versions) and `metadata.additional_usage_values`
(every usage key except prompt/completion/total). When those carry cache or reasoning detail it is
used with the semantics of LiteLLM's provider transformer (docs/formats/token-semantics.md §3 and
§4.2; docs/formats/litellm.md): prompt_tokens includes cache reads for every provider; it includes cache
writes except for Anthropic's transformer (custom_llm_provider `anthropic`, or Claude on Vertex AI),
whose cache writes come on top; completion_tokens includes reasoning. Without detail everything is
uncached input. `spend` (LiteLLM's own estimate) is never read, and `messages`, `response`,
`proxy_server_request` are never read into any column, so they cannot reach rows or rejected records.
`startTime` is stored in UTC and may come without an offset: a naive time is UTC (`sql.NAIVE_IS_UTC`).
"""

from __future__ import annotations

import csv
import io

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipelines.adapters import AdapterResult
from pipelines.adapters.attribution import KEY_SYNTAX, AttributionConfig, keys_for, user_keys
from pipelines.adapters.jsonl import Format, JsonColumn, Required, Token, column_token, parse, required
from pipelines.adapters.providers import tier_problem
from pipelines.adapters.sql import NAIVE_IS_UTC, blank_null, latency_ms

SOURCE = "litellm"


# SpendLogs columns the adapter reads, as text. Content columns and `spend` are not among them.
COLUMNS = (
    "request_id", "call_type", "startTime", "endTime", "model", "model_group", "custom_llm_provider",
    "prompt_tokens", "completion_tokens", "total_tokens", "cache_hit", "status", "request_duration_ms",
    "end_user", "user", "team_id", "organization_id", "session_id", "agent_id", "api_key",
    "mcp_namespaced_tool_name",
)
_JSON_COLUMNS = (JsonColumn("metadata", "OBJECT", "meta"), JsonColumn("request_tags", "ARRAY", "tags_json"))
_READ = (*COLUMNS, *(j.name for j in _JSON_COLUMNS))
"""Every column read, in the order of the `rows_in` columns a CSV is read into."""

_V = '"VARCHAR"'
_USAGE = (
    '{"prompt_tokens_details": {"cached_tokens": %(v)s, "cache_creation_tokens": %(v)s, "cache_write_tokens": %(v)s, "text_tokens": %(v)s, '
    '"audio_tokens": %(v)s, "image_tokens": %(v)s, "cached_tokens_details": {"image_tokens": %(v)s, "audio_tokens": %(v)s}, '
    '"cache_creation_token_details": {"ephemeral_5m_input_tokens": %(v)s, "ephemeral_1h_input_tokens": %(v)s}}, '
    '"completion_tokens_details": {"reasoning_tokens": %(v)s, "audio_tokens": %(v)s, "image_tokens": %(v)s}, '
    '"cache_read_input_tokens": %(v)s, "cache_creation_input_tokens": %(v)s, '
    '"server_tool_use": {"web_search_requests": %(v)s}, "service_tier": %(v)s}'
) % {"v": _V}
_META_STRUCTURE = '{"usage_object": ' + _USAGE + ', "additional_usage_values": ' + _USAGE + ', "service_tier": ' + _V + "}"

# Usage detail leaves: name → path inside usage_object / additional_usage_values.
_LEAVES = {
    "cached_tokens": "prompt_tokens_details.cached_tokens",
    "cache_read_input_tokens": "cache_read_input_tokens",
    "cache_creation_input_tokens": "cache_creation_input_tokens",
    "cache_creation_tokens": "prompt_tokens_details.cache_creation_tokens",
    "cache_write_tokens": "prompt_tokens_details.cache_write_tokens",
    "text_tokens": "prompt_tokens_details.text_tokens",
    "write_5m": "prompt_tokens_details.cache_creation_token_details.ephemeral_5m_input_tokens",
    "write_1h": "prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens",
    "reasoning": "completion_tokens_details.reasoning_tokens",
    "audio_in": "prompt_tokens_details.audio_tokens",
    "audio_cached": "prompt_tokens_details.cached_tokens_details.audio_tokens",
    "audio_out": "completion_tokens_details.audio_tokens",
    "image_in": "prompt_tokens_details.image_tokens",
    "image_cached": "prompt_tokens_details.cached_tokens_details.image_tokens",
    "image_out": "completion_tokens_details.image_tokens",
    "web_search": "server_tool_use.web_search_requests",
}


def _tag_key(t: str) -> str:
    """SQL: the key of a request tag (`key:value` → key; a bare tag is its own key)."""
    return f"case when contains({t}, ':') then split_part({t}, ':', 1) else {t} end"


_TAG_KEY = _tag_key("t")
# request_tags → a flat JSON object: `key:value` entries as strings, bare tags as true, first one wins.
_TAGS = (
    "case when len(list_filter(tag_list, lambda t: nullif(trim(t), '') is not null)) > 0 then '{' || array_to_string("
    "list_transform(list_filter(list_transform(tag_list, lambda t, i: {'i': i, 't': t}), "
    f"lambda e: nullif(trim(e.t), '') is not null and list_position(tag_keys, {_tag_key('e.t')}) = e.i), "
    f"lambda e: cast(to_json({_tag_key('e.t')}) as varchar) || ':' || case when contains(e.t, ':') "
    "then cast(to_json(substr(e.t, strpos(e.t, ':') + 1)) as varchar) else 'true' end), ',') || '}' end"
)


def _leaf(name: str, path: str) -> Token:
    """A usage detail: from `usage_object`, else `additional_usage_values`; its problems name the one it came from."""
    return Token(
        name,
        f"coalesce(m.usage_object.{path}, m.additional_usage_values.{path})",
        f"case when m.usage_object.{path} is not null then 'metadata.usage_object.{path}' "
        f"else 'metadata.additional_usage_values.{path}' end",
    )


def _d(name: str) -> str:
    """SQL: a usage detail's count, 0 when absent."""
    return f"coalesce(t_{name}, 0)"


def _unless_cache_hit(bucket: str) -> str:
    """SQL: a bucket's count, 0 for a request answered from LiteLLM's cache (the provider was not called)."""
    return f"case when is_cache_hit then 0 else {bucket} end"


_DETAILS = (
    f"lower(coalesce({blank_null('m.service_tier')}, {blank_null('m.usage_object.service_tier')}, "
    f"{blank_null('m.additional_usage_values.service_tier')})) as tier_raw",
    "(provider_raw = 'anthropic' or (provider_raw in ('vertex_ai', 'gemini') and contains(lower(served_model), 'claude')))"
    " as claude_usage",
    "lower(trim(cache_hit)) = 'true' as is_cache_hit",
    f"greatest({_d('cached_tokens')}, {_d('cache_read_input_tokens')}) as cache_read",
    f"""case
            when coalesce(t_cache_creation_input_tokens, t_cache_creation_tokens, t_cache_write_tokens) is not null
                then greatest({_d('cache_creation_input_tokens')}, {_d('cache_creation_tokens')}, {_d('cache_write_tokens')})
            else {_d('write_5m')} + {_d('write_1h')}
        end as cache_write""",
    # audio and images: OpenAI's details as they came, and Gemini's AUDIO and IMAGE modalities as LiteLLM's Gemini
    # transformer writes them (1.110.2 vertex_and_google_ai_studio_gemini.py _calculate_usage: prompt audio and images
    # include the cached ones, given in cached_tokens_details, which stay in the cache read; candidates' audio and
    # images inside completion_tokens)
    f"case when provider_ours in ('openai', 'azure_openai', 'google') then {_d('audio_in')} - {_d('audio_cached')} else 0 end as audio_in",
    f"case when provider_ours in ('openai', 'azure_openai', 'google') then {_d('audio_out')} else 0 end as audio_out",
    f"case when provider_ours in ('openai', 'azure_openai', 'google') then {_d('image_in')} - {_d('image_cached')} else 0 end as image_in",
    f"case when provider_ours in ('openai', 'azure_openai', 'google') then {_d('image_out')} else 0 end as image_out",
)
"""The usage detail as LiteLLM's transformers report it: cache reads, cache writes, audio and images (OpenAI, Azure
and Gemini)."""

_BUCKETS = (
    # /v1/messages (call_type anthropic_messages) rows from LiteLLM since its PR #23342 (2026-03): prompt_tokens
    # leaves out cache reads and writes, as Anthropic's input_tokens does; total_tokens still counts them, or the
    # prompt is smaller than the cache reads it would have to include
    """case
            when lower(coalesce(call_type, '')) like '%anthropic_messages%'
                and (try_cast(total_tokens as bigint) = t_prompt_tokens + cache_read + cache_write + t_completion_tokens
                     or t_prompt_tokens < cache_read)
                then t_prompt_tokens
            -- Claude: LiteLLM's prompt_tokens counts cache reads and writes (1.80.11 in BerriAI/litellm issue #11364:
            -- 98805 = 10 + 66360 read + 32435 written; 1.110.2's calculate_usage, which also writes the uncached count
            -- as text_tokens). Releases of 2025 after its PR #9838 left the writes out: a prompt smaller than its
            -- reads and writes together, or equal to text_tokens + reads, can only be one of those
            when claude_usage and cache_write > 0
                 and (t_prompt_tokens < cache_read + cache_write or t_prompt_tokens = t_text_tokens + cache_read)
                then t_prompt_tokens - cache_read
            else t_prompt_tokens - cache_read - cache_write - audio_in - image_in
        end as input_tokens""",
    f"cache_write - {_d('write_1h')} as cache_write_5m_tokens",
    f"{_d('write_1h')} as cache_write_1h_tokens",
    f"t_completion_tokens - {_d('reasoning')} - audio_out - image_out as output_tokens",
    """case
            when tier_raw is null and lower(coalesce(call_type, '')) like '%batch%' then 'batch'
            when coalesce(tier_raw, 'standard') in ('default', 'standard', 'auto', 'on_demand') then 'standard'
            when tier_raw = 'reserved' then 'provisioned_throughput'
            else tier_raw
        end as service_tier""",
    f"list_transform(tag_list, lambda t: {_TAG_KEY}) as tag_keys",
)
"""The exclusive buckets: prompt and completion tokens less the detail they include."""

FORMAT = Format(
    source=SOURCE,
    columns=COLUMNS,
    json_columns=_JSON_COLUMNS,
    request_id=required("request_id"),
    timestamp=required("startTime"),
    provider=Required("custom_llm_provider", f"lower({blank_null('custom_llm_provider')})"),
    model=Required("model", f"coalesce({blank_null('model')}, {blank_null('model_group')})"),
    provider_quoted_whole=True,
    timestamp_rule=NAIVE_IS_UTC,
    tokens=(
        column_token("prompt_tokens", required=True),
        column_token("completion_tokens", required=True),
        *(_leaf(name, path) for name, path in _LEAVES.items()),
    ),
    keys=KEY_SYNTAX[SOURCE],
    key_objects={"metadata.": "meta"},
    key_tags={"tag:": "tag_list"},
    parsed=(f"from_json(meta, '{_META_STRUCTURE}') as m", """from_json(tags_json, '["VARCHAR"]') as tag_list"""),
    steps=(("details", _DETAILS), ("buckets", _BUCKETS)),
    problems=(
        "when image_in < 0 then 'metadata|inconsistent usage: cached image tokens exceed the image tokens'",
        "when audio_in < 0 then 'metadata|inconsistent usage: cached audio tokens exceed the audio tokens'",
        "when input_tokens < 0 "
        "then 'prompt_tokens|inconsistent usage: cached, cache-write, audio and image tokens in metadata exceed prompt_tokens'",
        "when output_tokens < 0 "
        "then 'completion_tokens|inconsistent usage: reasoning, audio and image tokens in metadata exceed completion_tokens'",
        "when cache_write_5m_tokens < 0 then 'metadata|inconsistent usage: 1-hour cache writes exceed the cache writes total'",
        tier_problem("metadata.service_tier", "service_tier"),
    ),
    outputs={
        "service_tier": "service_tier",
        "latency_ms": latency_ms("request_duration_ms"),
        "status": f"case when is_cache_hit then 'cache_hit' else coalesce({blank_null('status')}, 'success') end",
        "tags": _TAGS,
        "input_tokens": _unless_cache_hit("input_tokens"),
        "cache_read_tokens": _unless_cache_hit("cache_read"),
        "cache_write_5m_tokens": _unless_cache_hit("cache_write_5m_tokens"),
        "cache_write_1h_tokens": _unless_cache_hit("cache_write_1h_tokens"),
        "output_tokens": _unless_cache_hit("output_tokens"),
        "reasoning_tokens": _unless_cache_hit(_d("reasoning")),
        "audio_input_tokens": _unless_cache_hit("audio_in"),
        "audio_output_tokens": _unless_cache_hit("audio_out"),
        "image_input_tokens": _unless_cache_hit("image_in"),
        "image_output_tokens": _unless_cache_hit("image_out"),
        "web_search_requests": _unless_cache_hit(_d("web_search")),
    },
    # A call that failed before reaching any provider (LiteLLM logs auth failures with an empty
    # custom_llm_provider, no tokens and status failure) is skipped, not rejected: it is no provider call.
    skip="""case when provider_raw is null and coalesce(t_prompt_tokens, 0) = 0 and coalesce(t_completion_tokens, 0) = 0
            and lower(coalesce(status, '')) = 'failure' then 'failed_before_a_provider_call' end""",
    # Columns a rejected record keeps (no user ids, no tags that may carry them, no content, no spend),
    # and of metadata only the usage detail.
    record_columns=(
        "request_id", "call_type", "startTime", "model", "model_group", "custom_llm_provider",
        "prompt_tokens", "completion_tokens", "total_tokens", "cache_hit", "status",
    ),
    record_extra=(("metadata", """case when meta is not null then json_object(
            'usage_object', json_extract(meta, '$.usage_object'),
            'additional_usage_values', json_extract(meta, '$.additional_usage_values'),
            'service_tier', json_extract(meta, '$.service_tier')) end"""),),
)


def parse_litellm(data: bytes, file_name: str, attribution: AttributionConfig | None = None) -> AdapterResult:
    """Parse one landed SpendLogs export (JSON Lines or CSV, gzip or not) into canonical rows and rejections.

    Attribution keys are `attribution.litellm`, else the defaults in attribution.py.
    """
    is_csv = file_name.lower().removesuffix(".gz").endswith(".csv")
    return parse(
        FORMAT, data, file_name, keys_for(SOURCE, attribution), read_rows=_csv_rows if is_csv else None,
        tags_without=user_keys(attribution), providers=getattr(attribution, "providers", ()),
    )


def _csv_rows(con: duckdb.DuckDBPyConnection, text: bytes, lines: pa.Table) -> pa.Table:
    """A CSV file's records (its numbered lines are `lines_in`) as the columns the JSON Lines reading gives."""
    records = _single_line_records(lines)
    if records is None:
        records = con.sql(_CSV_RECORDS_QUERY).to_arrow_table()
    header = _header(records)
    rows = _csv_rows_fast(text, records, header)
    if rows is None:
        con.register("csv_records", records)
        rows = con.sql(_csv_query(header)).to_arrow_table()
    return rows


# RFC 4180 cells, read the way Arrow's CSV reader reads them: a quote opens a quoted cell only at the
# start of a cell ("" inside is a quote; text after the closing quote is kept); elsewhere it is literal.
_CSV_FIELD = '("(?:[^"]|"")*"[^,]*|[^,]*),'
_QUOTED_CELL = '"((?:[^"]|"")*)"([^,]*)'


def _csv_records_query() -> str:
    """Numbered lines → CSV records: a record ends at a line after which the count of quotes is even."""
    return """
with l as (
    select line_no, byte_offset, byte_length, rtrim(line, chr(13)) as line,
        (length(line) - length(replace(line, '"', ''))) % 2 as odd
    from lines_in
),
p as (
    select *, coalesce(sum(odd) over (order by line_no rows unbounded preceding), 0) % 2 as open_after from l
),
g as (
    select *, coalesce(sum(case when open_after = 0 then 1 else 0 end)
        over (order by line_no rows between unbounded preceding and 1 preceding), 0) as record_no
    from p
)
select record_no, min(line_no) as line_no, min(byte_offset) as byte_offset,
    max(byte_offset + byte_length) - min(byte_offset) as byte_length,
    string_agg(line, chr(10) order by line_no) as line,
    bool_or(line is null) as bad_utf8,
    arg_max(open_after, line_no) = 1 as unterminated
from g
group by record_no
order by record_no
"""


def _csv_query(header: list[str]) -> str:
    """CSV records (header excluded) → the same columns as the JSON Lines query, record by record (used when a record is bad)."""
    position = {}
    for index, name in enumerate(header, start=1):
        position.setdefault(name.strip(), index)

    def cell(name: str) -> str:
        if name not in position:
            return f'cast(null as varchar) as "{name}"'
        f = f"f[{position[name]}]"
        unquoted = f"replace(regexp_extract({f}, '^{_QUOTED_CELL}$', 1), '\"\"', '\"') || regexp_extract({f}, '^{_QUOTED_CELL}$', 2)"
        return f"""case when starts_with({f}, '"') then {unquoted} else nullif({f}, '') end as "{name}\""""

    cells = ",\n        ".join(cell(name) for name in _READ)
    width = len(header)
    return f"""
with records as (
    select line_no, byte_offset, byte_length, line, bad_utf8, unterminated,
        regexp_extract_all(coalesce(line, '') || ',', '{_CSV_FIELD}', 1) as f
    from csv_records
    where record_no > 0
),
classified as (
    select *,
        case
            when bad_utf8 then '|line is not valid UTF-8'
            when unterminated then '|unterminated quoted field'
            when list_bool_or(list_transform(f, lambda x: starts_with(x, '"') and not regexp_full_match(x, '{_QUOTED_CELL}')))
                then '|malformed CSV row (a quoted cell is not closed)'
            when len(f) <> {width} then '|row has ' || len(f) || ' fields, expected {width} (as in the header)'
        end as line_problem
    from records
)
select line_no, byte_offset, byte_length, line_problem,
        {cells}
from classified
"""


def _csv_rows_fast(text: bytes, records: pa.Table, header: list[str]) -> pa.Table | None:
    """The whole CSV through Arrow's reader when every record is clean; None when any is not (use _csv_query)."""
    wanted = {name.strip(): name for name in header if name.strip() in _READ}
    data = records.slice(1)
    if (
        len(set(header)) != len(header)
        or pc.any(data["bad_utf8"]).as_py()
        or pc.any(data["unterminated"]).as_py()
    ):
        return None
    try:
        table = pacsv.read_csv(
            io.BytesIO(text),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                include_columns=list(wanted.values()),
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != data.num_rows or table.column_names != list(wanted.values()):
        return None
    missing = pa.nulls(data.num_rows, pa.string())
    columns = {
        "line_no": data["line_no"],
        "byte_offset": data["byte_offset"],
        "byte_length": data["byte_length"],
        "line_problem": missing,
    }
    for name in _READ:
        columns[name] = table[wanted[name]] if name in wanted else missing
    return pa.table(columns)


_CSV_RECORDS_QUERY = _csv_records_query()


def _single_line_records(lines: pa.Table) -> pa.Table | None:
    """When no line has an odd number of quotes (no cell spans lines), each line is one CSV record; else None."""
    quotes = pc.count_substring(lines["line"], '"')
    if pc.any(pc.is_null(lines["line"])).as_py() or pc.any(pc.equal(pc.bit_wise_and(quotes, 1), 1)).as_py():
        return None
    n = lines.num_rows
    return pa.table(
        {
            "record_no": pa.array(range(n), pa.int64()),
            "line_no": lines["line_no"],
            "byte_offset": lines["byte_offset"],
            "byte_length": lines["byte_length"],
            "line": pc.utf8_rtrim(lines["line"], characters="\r"),
            "bad_utf8": pa.array([False] * n, pa.bool_()),
            "unterminated": pa.array([False] * n, pa.bool_()),
        }
    )


def _header(records: pa.Table) -> list[str]:
    """The CSV header's column names (the first record), parsed by the csv module: one record, not per row."""
    if records.num_rows == 0:
        return []
    first = records.slice(0, 1).to_pylist()[0]["line"] or ""
    return next(csv.reader([first]), [])
