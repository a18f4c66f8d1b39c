"""Adapter for the `portkey` gateway format: Portkey log exports in, canonical request rows out.

Accepted files are JSON Lines (`.jsonl`, `.jsonl.gz`), one exported log object per line (fields as in
`requested_data`: id, trace_id, created_at, ai_org, ai_model, req_units, res_units, metadata, …). Each line
is read into text columns and judged by one DuckDB query; no Python runs per row.

Token semantics (../shared/formats/FORMATS.md §3; docs/formats/portkey.md): the export carries one input
count and one output count and no cache, cache-write or reasoning split, so

    input_tokens  = req_units        (cached input is priced as uncached input)
    output_tokens = res_units        (reasoning, where any, is priced as output — the same rate)

Portkey's own `cost` is never read, and `request` / `response` (the bodies) are never read into any column,
so they cannot reach rows or rejected records. `created_at` must carry a UTC offset (`Z` or `+hh:mm`); a
time without one is rejected, not guessed.
"""

from __future__ import annotations

import duckdb

from pipelines.adapters import EARLIEST_DATE, AdapterResult, reject_file_problem
from pipelines.adapters.attribution import FIELDS, UNATTRIBUTED, AttributionConfig, AttributionConfigError, FieldKeys, sql_string
from pipelines.adapters.lines import decompress, split_lines
from pipelines.adapters.sql import LINE_PROBLEM, blank_null, json_of_kind, token_problem

SOURCE = "portkey"
SUFFIXES = (".jsonl", ".jsonl.gz")

# Portkey `ai_org` (matched case-insensitively) → our provider.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure-openai": "azure_openai",
    "bedrock": "aws_bedrock",
    "google": "google",
    "vertex-ai": "google",
}

# Where the attribution dimensions are found by default: `metadata.<key>` is a key of the request's
# metadata (the `x-portkey-metadata` header; `_user` is Portkey's reserved user key); a bare name is a column.
DEFAULT_KEYS = FieldKeys(
    feature=("metadata.feature", "metadata.team"),
    user_id=("metadata._user",),
    user_segment=("metadata.user_segment",),
    customer_id=("metadata.customer_id",),
    conversation_id=("metadata.conversation_id", "trace_id"),
)
ATTRIBUTION_COLUMNS = ("trace_id", "prompt_slug")
METADATA_PREFIX = "metadata."

# Fields read, as text. `cost`, `request`, `response` are deliberately not among them.
COLUMNS = (
    "id", "created_at", "ai_org", "ai_model", "req_units", "res_units", "total_units",
    "response_time", "response_status_code", "is_success", "mode", *ATTRIBUTION_COLUMNS,
)
_TOKENS = ("req_units", "res_units")
# What a rejected record keeps: no metadata (it carries `_user`), no content, no cost.
_RECORD_COLUMNS = (
    "id", "trace_id", "created_at", "ai_org", "ai_model", "req_units", "res_units", "total_units",
    "response_status_code", "is_success", "mode",
)
_NAIVE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)$"


def attribution_keys(attribution: AttributionConfig | None) -> FieldKeys:
    """The Portkey keys: `attribution.portkey` once attribution.py carries them, else the defaults here."""
    keys = getattr(attribution, "portkey", None) or DEFAULT_KEYS
    for field in FIELDS:
        for key in keys.keys(field):
            check_key(f"portkey.{field}", key)
    return keys


def check_key(where: str, key: str) -> None:
    """Raise AttributionConfigError unless `key` is `metadata.<key>` or one of ATTRIBUTION_COLUMNS."""
    if key.startswith(METADATA_PREFIX):
        if len(key) == len(METADATA_PREFIX):
            raise AttributionConfigError(f"'{where}' has an empty metadata key in '{key}'")
        return
    if key not in ATTRIBUTION_COLUMNS:
        raise AttributionConfigError(
            f"'{where}' has unknown key '{key}' (expected metadata.<key> or one of the columns "
            f"{', '.join(ATTRIBUTION_COLUMNS)})"
        )


def _map_path(name: str) -> str:
    """JSON path of one key of the flat metadata object (the whole name is the key, dots included)."""
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _judge_query(keys: FieldKeys) -> str:
    structure = "{" + ", ".join(f'"{c}": "VARCHAR"' for c in COLUMNS) + ', "metadata": "JSON"}'
    columns_sql = ",\n        ".join(
        f"case when left(e.\"{c}\", 1) not in ('{{', '[') then e.\"{c}\" end as \"{c}\"" for c in COLUMNS
    )
    typed = ",\n        ".join(f"trim({name}) as raw_{name}, try_cast(trim({name}) as bigint) as t_{name}" for name in _TOKENS)
    problems = ", ".join(token_problem(sql_string(name), f"raw_{name}", f"t_{name}") for name in _TOKENS)
    missing = "\n            ".join(f"when raw_{name} is null then '{name}|missing required field'" for name in _TOKENS)
    provider_map = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in PROVIDERS.items())

    paths = list(dict.fromkeys(
        _map_path(key[len(METADATA_PREFIX):]) for field in FIELDS for key in keys.keys(field) if key.startswith(METADATA_PREFIX)
    ))
    meta_values = f"json_extract(meta, [{', '.join(sql_string(p) for p in paths)}])" if paths else "cast(null as json[])"

    def one(key: str) -> str:
        if key.startswith(METADATA_PREFIX):
            value = f"meta_values[{paths.index(_map_path(key[len(METADATA_PREFIX):])) + 1}]"
            text = blank_null(f"json_extract_string({value}, '$')")
            return f"case when json_type({value}) in ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN') then {text} end"
        return blank_null(f'"{key}"')

    def attributed(field: str) -> str:
        parts = [one(key) for key in keys.keys(field)]
        return f"coalesce({', '.join(parts)})" if parts else "cast(null as varchar)"

    # Tags: the metadata without the keys user ids are read from (tags are not pseudonymized).
    user_keys = [key[len(METADATA_PREFIX):] for key in keys.user_id if key.startswith(METADATA_PREFIX)]
    tags_obj = (
        f"json_merge_patch(meta, json_object({', '.join(f'{sql_string(k)}, null' for k in user_keys)}))" if user_keys else "meta"
    )

    record = ", ".join(f"'{c}', \"{c}\"" for c in _RECORD_COLUMNS)
    expected = ", ".join(PROVIDERS)
    return f"""
with classified as (
    select line_no, byte_offset, byte_length, line,
        {LINE_PROBLEM} as line_problem
    from lines_in
),
parsed as (
    select line_no, byte_offset, byte_length, from_json(line, '{structure}') as e
    from classified
    where line_problem is null
),
fields as (
    select line_no, byte_offset, byte_length,
        {columns_sql},
        cast(e.metadata as varchar) as metadata_raw
    from parsed
),
decoded as (
    select *,
        {json_of_kind("metadata_raw", "OBJECT")} as meta
    from fields
),
typed as (
    select *,
        meta is null and coalesce(trim(metadata_raw), '') not in ('', 'null') as meta_bad,
        {blank_null('id')} as rid,
        {blank_null('created_at')} as ts_text,
        {blank_null('ai_org')} as provider_raw,
        {blank_null('ai_model')} as served_model,
        {meta_values} as meta_values,
        {typed}
    from decoded
),
canonical as (
    select *,
        case lower(provider_raw) {provider_map} end as provider_ours,
        case when regexp_full_match(ts_text, '{_TIMESTAMP}') then try_cast(ts_text as timestamptz) end as occurred_at,
        coalesce({problems}) as token_problem
    from typed
),
judged as (
    select *,
        case
            when rid is null then 'id|missing required field'
            when ts_text is null then 'created_at|missing required field'
            when provider_raw is null then 'ai_org|missing required field'
            when served_model is null then 'ai_model|missing required field'
            when provider_ours is null then 'ai_org|unknown provider ''' || left(provider_raw, 40) || ''' (expected one of {expected})'
            when regexp_full_match(ts_text, '{_NAIVE}') then 'created_at|timestamp has no UTC offset: ''' || left(ts_text, 40) || ''''
            when occurred_at is null then 'created_at|invalid timestamp: ''' || left(ts_text, 40) || ''''
            when occurred_at > now() + interval 1 day then 'created_at|timestamp is more than a day in the future: ''' || left(ts_text, 40) || ''''
            when occurred_at < timestamptz '{EARLIEST_DATE}' then 'created_at|timestamp is before {EARLIEST_DATE}: ''' || left(ts_text, 40) || ''''
            when meta_bad then 'metadata|not a JSON object'
            when token_problem is not null then token_problem
            {missing}
        end as problem
    from canonical
)
select
    line_no, byte_offset, byte_length,
    problem,
    rid as request_id,
    occurred_at,
    provider_ours as provider,
    served_model as model,
    'standard' as service_tier,
    coalesce({attributed('feature')}, '{UNATTRIBUTED}') as feature,
    {attributed('user_id')} as user_id,
    {attributed('user_segment')} as user_segment,
    {attributed('customer_id')} as customer_id,
    {attributed('conversation_id')} as conversation_id,
    try_cast(try_cast(response_time as double) as bigint) as latency_ms,
    coalesce({blank_null('response_status_code')},
        case lower(trim(is_success)) when 'true' then 'success' when 'false' then 'failure' end) as status,
    case when meta is not null and len(json_keys({tags_obj})) > 0 then cast(json({tags_obj}) as varchar) end as tags,
    t_req_units as input_tokens,
    0 as cache_read_tokens,
    0 as cache_write_5m_tokens,
    0 as cache_write_1h_tokens,
    t_res_units as output_tokens,
    0 as reasoning_tokens,
    0 as audio_input_tokens,
    0 as audio_output_tokens,
    0 as web_search_requests,
    case when problem is not null then cast(json_merge_patch('{{}}', json_object({record})) as varchar) end as record
from judged
union all
select line_no, byte_offset, byte_length, line_problem,
    null, null, null, null, null, null, null, null, null, null, null, null, null,
    null, null, null, null, null, null, null, null, null, null
from classified
where line_problem is not null
order by line_no
"""


_JUDGE_QUERIES: dict[FieldKeys, str] = {}


def parse_portkey(data: bytes, file_name: str, attribution: AttributionConfig | None = None) -> AdapterResult:
    """Parse one landed Portkey log export (JSON Lines, gzip or not) into canonical rows and rejections."""
    keys = attribution_keys(attribution)
    judge = _JUDGE_QUERIES.get(keys) or _JUDGE_QUERIES.setdefault(keys, _judge_query(keys))
    text, file_problem = decompress(data, file_name)
    lines = split_lines(text)
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        con.register("lines_in", lines)
        judged = con.sql(judge).to_arrow_table()
    result = AdapterResult.from_judged(judged, source=SOURCE, text=text)
    if file_problem is not None:
        last_line = lines["line_no"][-1].as_py() if lines.num_rows else 0
        result = reject_file_problem(result, file_problem, last_line=last_line)
    return result
