"""Adapter for the `litellm` gateway format: LiteLLM SpendLogs exports in, canonical request rows out.

Accepted files are JSON Lines (`.jsonl`, `.jsonl.gz`, one `LiteLLM_SpendLogs` row per line) and CSV
(`.csv`, `.csv.gz`, a header row, JSON columns such as metadata and request_tags as JSON text in a cell).
Both are read into the same text columns (a clean CSV through Arrow's CSV reader, a CSV with a bad record
record by record in DuckDB) and judged by one DuckDB query.

Token semantics. SpendLogs has prompt_tokens / completion_tokens only; LiteLLM keeps the rest of the
usage object in `metadata.usage_object` (newer versions) and `metadata.additional_usage_values`
(every usage key except prompt/completion/total). When those carry cache or reasoning detail it is
used with the semantics of LiteLLM's provider transformer (see ../shared/formats/FORMATS.md §3 and
docs/formats/litellm.md): prompt_tokens includes cache reads for every provider; it includes cache
writes except for Anthropic's transformer (custom_llm_provider `anthropic`, or Claude on Vertex AI),
whose cache writes come on top; completion_tokens includes reasoning. Without detail everything is
uncached input. `spend` (LiteLLM's own estimate) is never read, and `messages`, `response`,
`proxy_server_request` are never read into any column, so they cannot reach rows or rejected records.
"""

from __future__ import annotations

import csv
import io

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipelines.adapters import AdapterResult, reject_file_problem
from pipelines.adapters.attribution import FIELDS, UNATTRIBUTED, AttributionConfig, sql_string
from pipelines.adapters.lines import decompress, split_lines
from pipelines.adapters.sql import LINE_PROBLEM, blank_null, date_range_problem, json_of_kind, token_problem

SOURCE = "litellm"

# custom_llm_provider → our provider.
PROVIDERS = {
    "openai": "openai",
    "azure": "azure_openai",
    "anthropic": "anthropic",
    "bedrock": "aws_bedrock",
    "vertex_ai": "google",
    "gemini": "google",
}

# SpendLogs columns the adapter reads, as text. Content columns and `spend` are not among them.
COLUMNS = (
    "request_id", "call_type", "startTime", "endTime", "model", "model_group", "custom_llm_provider",
    "prompt_tokens", "completion_tokens", "total_tokens", "cache_hit", "status", "request_duration_ms",
    "end_user", "user", "team_id", "organization_id", "session_id", "agent_id", "api_key",
    "mcp_namespaced_tool_name",
)
_JSON_COLUMNS = ("metadata", "request_tags")
# Columns a rejected record keeps (no user ids, no tags that may carry them, no content, no spend).
_RECORD_COLUMNS = (
    "request_id", "call_type", "startTime", "model", "model_group", "custom_llm_provider",
    "prompt_tokens", "completion_tokens", "total_tokens", "cache_hit", "status",
)

_V = '"VARCHAR"'
_USAGE = (
    '{"prompt_tokens_details": {"cached_tokens": %(v)s, "cache_creation_tokens": %(v)s, "cache_write_tokens": %(v)s, '
    '"audio_tokens": %(v)s, "cache_creation_token_details": {"ephemeral_5m_input_tokens": %(v)s, "ephemeral_1h_input_tokens": %(v)s}}, '
    '"completion_tokens_details": {"reasoning_tokens": %(v)s, "audio_tokens": %(v)s}, '
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
    "write_5m": "prompt_tokens_details.cache_creation_token_details.ephemeral_5m_input_tokens",
    "write_1h": "prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens",
    "reasoning": "completion_tokens_details.reasoning_tokens",
    "audio_in": "prompt_tokens_details.audio_tokens",
    "audio_out": "completion_tokens_details.audio_tokens",
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
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$"
# RFC 4180 cells, read the way Arrow's CSV reader reads them: a quote opens a quoted cell only at the
# start of a cell ("" inside is a quote; text after the closing quote is kept); elsewhere it is literal.
_CSV_FIELD = '("(?:[^"]|"")*"[^,]*|[^,]*),'
_QUOTED_CELL = '"((?:[^"]|"")*)"([^,]*)'




def _json_path(dotted: str) -> str:
    return "$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in dotted.split("."))


def _attribution_sql(key: str, metadata_paths: list[str]) -> str:
    """SQL for one LiteLLM attribution key: tag:<name>, metadata.<path> (a scalar) or a column."""
    if key.startswith("tag:"):
        prefix = key[len("tag:") :] + ":"
        return (
            f"list_extract(list_transform(list_filter(tag_list, lambda t: starts_with(t, {sql_string(prefix)})), "
            f"lambda t: {blank_null(f'substr(t, {len(prefix) + 1})')}), 1)"
        )
    if key.startswith("metadata."):
        value = f"meta_values[{metadata_paths.index(_json_path(key[len('metadata.') :])) + 1}]"
        text = blank_null(f"json_extract_string({value}, '$')")
        return f"case when json_type({value}) in ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN') then {text} end"
    return blank_null(f'"{key}"')


def _jsonl_query() -> str:
    """Lines of JSON → one text column per SpendLogs column read (JSON columns kept as JSON text)."""
    structure = ", ".join(f'"{c}": "VARCHAR"' for c in COLUMNS) + ", " + ", ".join(f'"{c}": "JSON"' for c in _JSON_COLUMNS)
    text = ",\n        ".join(f"case when left(e.\"{c}\", 1) not in ('{{', '[') then e.\"{c}\" end as \"{c}\"" for c in COLUMNS)
    return f"""
with classified as (
    select line_no, byte_offset, byte_length, line,
        {LINE_PROBLEM} as line_problem
    from lines_in
),
parsed as (
    select *, case when line_problem is null then from_json(line, '{{{structure}}}') end as e
    from classified
)
select line_no, byte_offset, byte_length, line_problem,
        {text},
        cast(e.metadata as varchar) as metadata,
        cast(e.request_tags as varchar) as request_tags
from parsed
"""


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

    cells = ",\n        ".join(cell(name) for name in (*COLUMNS, *_JSON_COLUMNS))
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
    wanted = {name.strip(): name for name in header if name.strip() in (*COLUMNS, *_JSON_COLUMNS)}
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
    for name in (*COLUMNS, *_JSON_COLUMNS):
        columns[name] = table[wanted[name]] if name in wanted else missing
    return pa.table(columns)


def _judge_query(attribution: AttributionConfig) -> str:
    def leaf(name: str, path: str) -> str:
        return (
            f"coalesce(m.usage_object.{path}, m.additional_usage_values.{path}) as raw_{name},\n        "
            f"case when m.usage_object.{path} is not null then 'metadata.usage_object.{path}' "
            f"else 'metadata.additional_usage_values.{path}' end as label_{name}"
        )

    leaves = ",\n        ".join(leaf(name, path) for name, path in _LEAVES.items())
    typed = ",\n        ".join(f"try_cast(raw_{name} as bigint) as t_{name}" for name in ("prompt", "completion", *_LEAVES))
    problems = ", ".join(
        token_problem(f"label_{name}", f"raw_{name}", f"t_{name}") for name in ("prompt", "completion", *_LEAVES)
    )
    d = lambda name: f"coalesce(t_{name}, 0)"  # noqa: E731
    provider_map = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in PROVIDERS.items())

    # Every metadata path any dimension names, extracted with one parse of the metadata per row.
    metadata_paths = list(dict.fromkeys(
        _json_path(key[len("metadata.") :]) for field in FIELDS for key in attribution.litellm.keys(field) if key.startswith("metadata.")
    ))
    meta_values = (
        f"json_extract(meta, [{', '.join(sql_string(p) for p in metadata_paths)}])" if metadata_paths else "cast(null as json[])"
    )

    def attributed(field: str) -> str:
        parts = [_attribution_sql(key, metadata_paths) for key in attribution.litellm.keys(field)]
        return f"coalesce({', '.join(parts)})" if parts else "cast(null as varchar)"

    record = ", ".join(f"'{c}', \"{c}\"" for c in _RECORD_COLUMNS)
    return f"""
with raw as (
    select * from rows_in
),
decoded as (
    select *,
        {json_of_kind("metadata", "OBJECT")} as meta,
        {json_of_kind("request_tags", "ARRAY")} as tags_json
    from raw
    where line_problem is null
),
shaped as (
    select *,
        meta is null and coalesce(trim(metadata), '') not in ('', 'null') as meta_bad,
        tags_json is null and coalesce(trim(request_tags), '') not in ('', 'null') as tags_bad
    from decoded
),
fields as (
    select *,
        from_json(meta, '{_META_STRUCTURE}') as m,
        from_json(tags_json, '["VARCHAR"]') as tag_list,
        {meta_values} as meta_values,
        {blank_null('request_id')} as rid,
        {blank_null('"startTime"')} as ts_text,
        lower({blank_null('custom_llm_provider')}) as provider_raw,
        coalesce({blank_null('model')}, {blank_null('model_group')}) as served_model,
        trim(prompt_tokens) as raw_prompt, 'prompt_tokens' as label_prompt,
        trim(completion_tokens) as raw_completion, 'completion_tokens' as label_completion
    from shaped
),
detailed as (
    select *,
        lower(coalesce({blank_null('m.service_tier')}, {blank_null('m.usage_object.service_tier')}, {blank_null('m.additional_usage_values.service_tier')})) as tier_raw,
        {leaves}
    from fields
),
typed as (
    select *,
        case provider_raw {provider_map} end as provider,
        (provider_raw = 'anthropic' or (provider_raw in ('vertex_ai', 'gemini') and contains(lower(served_model), 'claude'))) as writes_excluded,
        lower(trim(cache_hit)) = 'true' as is_cache_hit,
        {typed}
    from detailed
),
buckets as (
    select *,
        coalesce({problems}) as token_problem,
        greatest({d('cached_tokens')}, {d('cache_read_input_tokens')}) as cache_read,
        case
            when coalesce(t_cache_creation_input_tokens, t_cache_creation_tokens, t_cache_write_tokens) is not null
                then greatest({d('cache_creation_input_tokens')}, {d('cache_creation_tokens')}, {d('cache_write_tokens')})
            else {d('write_5m')} + {d('write_1h')}
        end as cache_write,
        case when provider in ('openai', 'azure_openai') then {d('audio_in')} else 0 end as audio_in,
        case when provider in ('openai', 'azure_openai') then {d('audio_out')} else 0 end as audio_out
    from typed
),
canonical as (
    select *,
        case when writes_excluded then t_prompt - cache_read else t_prompt - cache_read - cache_write - audio_in end as input_tokens,
        cache_write - {d('write_1h')} as cache_write_5m_tokens,
        {d('write_1h')} as cache_write_1h_tokens,
        t_completion - {d('reasoning')} - audio_out as output_tokens,
        case
            when tier_raw is null and lower(coalesce(call_type, '')) like '%batch%' then 'batch'
            when coalesce(tier_raw, 'standard') in ('default', 'standard', 'auto', 'on_demand') then 'standard'
            else tier_raw
        end as service_tier,
        case when regexp_matches(ts_text, '{_TIMESTAMP}') then try_cast(ts_text as timestamptz) end as occurred_at
    from buckets
),
judged as (
    select *,
        case
            when rid is null then 'request_id|missing required field'
            when ts_text is null then 'startTime|missing required field'
            when provider_raw is null then 'custom_llm_provider|missing required field'
            when served_model is null then 'model|missing required field'
            when provider is null then 'custom_llm_provider|unknown provider ''' || provider_raw || ''' (expected one of {", ".join(PROVIDERS)})'
            when occurred_at is null then 'startTime|invalid timestamp: ''' || left(ts_text, 40) || ''''
            {date_range_problem("startTime", "occurred_at", "ts_text")}
            when meta_bad then 'metadata|not a JSON object'
            when tags_bad then 'request_tags|not a JSON array'
            when token_problem is not null then token_problem
            when t_prompt is null then 'prompt_tokens|missing required field'
            when t_completion is null then 'completion_tokens|missing required field'
            when input_tokens < 0 then 'prompt_tokens|inconsistent usage: cached, cache-write and audio tokens in metadata exceed prompt_tokens'
            when output_tokens < 0 then 'completion_tokens|inconsistent usage: reasoning and audio tokens in metadata exceed completion_tokens'
            when cache_write_5m_tokens < 0 then 'metadata|inconsistent usage: 1-hour cache writes exceed the cache writes total'
        end as problem,
        list_transform(tag_list, lambda t: {_TAG_KEY}) as tag_keys
    from canonical
)
select
    j.line_no, j.byte_offset, j.byte_length,
    problem,
    rid as request_id,
    occurred_at,
    provider,
    served_model as model,
    service_tier,
    coalesce({attributed('feature')}, '{UNATTRIBUTED}') as feature,
    {attributed('user_id')} as user_id,
    {attributed('user_segment')} as user_segment,
    {attributed('customer_id')} as customer_id,
    {attributed('conversation_id')} as conversation_id,
    try_cast(try_cast(request_duration_ms as double) as bigint) as latency_ms,
    case when is_cache_hit then 'cache_hit' else coalesce({blank_null('status')}, 'success') end as status,
    {_TAGS} as tags,
    case when is_cache_hit then 0 else input_tokens end as input_tokens,
    case when is_cache_hit then 0 else cache_read end as cache_read_tokens,
    case when is_cache_hit then 0 else cache_write_5m_tokens end as cache_write_5m_tokens,
    case when is_cache_hit then 0 else cache_write_1h_tokens end as cache_write_1h_tokens,
    case when is_cache_hit then 0 else output_tokens end as output_tokens,
    case when is_cache_hit then 0 else {d('reasoning')} end as reasoning_tokens,
    case when is_cache_hit then 0 else audio_in end as audio_input_tokens,
    case when is_cache_hit then 0 else audio_out end as audio_output_tokens,
    case when is_cache_hit then 0 else {d('web_search')} end as web_search_requests,
    case when problem is not null then cast(json_merge_patch('{{}}', json_object({record},
        'metadata', case when meta is not null then json_object(
            'usage_object', json_extract(meta, '$.usage_object'),
            'additional_usage_values', json_extract(meta, '$.additional_usage_values'),
            'service_tier', json_extract(meta, '$.service_tier')) end)) as varchar) end as record
from judged j
union all
select line_no, byte_offset, byte_length, line_problem,
    null, null, null, null, null, null, null, null, null, null, null, null, null,
    null, null, null, null, null, null, null, null, null, null
from raw
where line_problem is not null
order by line_no
"""


def _is_csv(file_name: str) -> bool:
    return file_name.lower().removesuffix(".gz").endswith(".csv")


_JUDGE_QUERIES: dict[AttributionConfig, str] = {}
_JSONL_QUERY = _jsonl_query()
_CSV_RECORDS_QUERY = _csv_records_query()


def parse_litellm(data: bytes, file_name: str, attribution: AttributionConfig | None = None) -> AdapterResult:
    """Parse one landed SpendLogs export (JSON Lines or CSV, gzip or not) into canonical rows and rejections."""
    attribution = attribution or AttributionConfig.default()
    judge = _JUDGE_QUERIES.get(attribution) or _JUDGE_QUERIES.setdefault(attribution, _judge_query(attribution))
    text, file_problem = decompress(data, file_name)
    lines = split_lines(text)
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        con.register("lines_in", lines)
        if _is_csv(file_name):
            records = _single_line_records(lines)
            if records is None:
                records = con.sql(_CSV_RECORDS_QUERY).to_arrow_table()
            header = _header(records)
            rows_in = _csv_rows_fast(text, records, header)
            if rows_in is None:
                con.register("csv_records", records)
                rows_in = con.sql(_csv_query(header)).to_arrow_table()
        else:
            rows_in = con.sql(_JSONL_QUERY).to_arrow_table()
        con.register("rows_in", rows_in)
        judged = con.sql(judge).to_arrow_table()
    result = AdapterResult.from_judged(judged, source=SOURCE, text=text)
    if file_problem is not None:
        result = reject_file_problem(result, file_problem, last_line=_last_line(lines))
    return result


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


def _last_line(lines: pa.Table) -> int:
    return lines["line_no"][-1].as_py() if lines.num_rows else 0
