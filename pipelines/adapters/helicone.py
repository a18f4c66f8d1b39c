"""Adapter for the `helicone` gateway format: rows of Helicone's ClickHouse `request_response_rmt` in, canonical rows out.

Accepted files are JSON Lines (`.jsonl`, `.jsonl.gz`), one table row per line, as ClickHouse writes them
with `FORMAT JSONEachRow` (64-bit integers may come quoted, "350", or bare, 350: both are read). Each line is
read into text columns and judged by one DuckDB query; no Python runs per row.

Token semantics (../shared/formats/FORMATS.md §3 and §6.2; docs/formats/helicone.md): Helicone's
`prompt_tokens` is the uncached input only. Cache reads and cache writes are in their own columns and are
not part of it (Helicone's own cost function prices `prompt_tokens` as "fresh, uncached tokens" and adds the
cache columns on top; with Anthropic's usage `prompt_tokens` is Anthropic's `input_tokens`). So

    input_tokens          = prompt_tokens
    cache_read_tokens     = prompt_cache_read_tokens
    cache_write_5m_tokens = prompt_cache_write_tokens     (the table has no TTL split)
    output_tokens         = completion_tokens

`cost` (Helicone's estimate, USD × 1e9) is never read, and `request_body` / `response_body` (or any
`request` / `response` object) are never read into any column, so they cannot reach rows or rejected
records. `request_created_at` is a ClickHouse DateTime64(3) stored in UTC, written without an offset:
a naive time is read as UTC; one with an offset is converted.
"""

from __future__ import annotations

import duckdb

from pipelines.adapters import EARLIEST_DATE, AdapterResult, reject_file_problem
from pipelines.adapters.attribution import FIELDS, UNATTRIBUTED, AttributionConfig, AttributionConfigError, FieldKeys, sql_string
from pipelines.adapters.lines import decompress, split_lines
from pipelines.adapters.sql import LINE_PROBLEM, blank_null, json_of_kind, token_problem

SOURCE = "helicone"
SUFFIXES = (".jsonl", ".jsonl.gz")

# Helicone `provider` (upper-case in the table; matched case-insensitively) → our provider.
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

# Where the attribution dimensions are found by default: `properties.<name>` is a key of the
# `properties` map (custom properties, `Helicone-Property-<Name>` headers); a bare name is a column.
DEFAULT_KEYS = FieldKeys(
    feature=("properties.feature",),
    user_id=("user_id",),
    user_segment=("properties.user_segment",),
    customer_id=("properties.customer_id",),
    conversation_id=("properties.Helicone-Session-Id",),
)
# Columns that may name an attribution value. Content, money and token columns are not among them.
ATTRIBUTION_COLUMNS = ("user_id", "organization_id", "proxy_key_id")
PROPERTY_PREFIX = "properties."

# Columns read, as text. `cost`, `request_body`, `response_body` are deliberately not among them.
COLUMNS = (
    "request_id", "request_created_at", "status", "provider", "model", "latency",
    "prompt_tokens", "prompt_cache_write_tokens", "prompt_cache_read_tokens", "completion_tokens",
    *ATTRIBUTION_COLUMNS,
)
# Token columns: (name, required).
_TOKENS = (
    ("prompt_tokens", True),
    ("prompt_cache_write_tokens", False),
    ("prompt_cache_read_tokens", False),
    ("completion_tokens", True),
)
# What a rejected record keeps: no user ids, no properties (they may carry them), no content, no cost.
_RECORD_COLUMNS = (
    "request_id", "request_created_at", "status", "provider", "model", "latency",
    "prompt_tokens", "prompt_cache_write_tokens", "prompt_cache_read_tokens", "completion_tokens",
)
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$"


def attribution_keys(attribution: AttributionConfig | None) -> FieldKeys:
    """The Helicone keys: `attribution.helicone` once attribution.py carries them, else the defaults here."""
    keys = getattr(attribution, "helicone", None) or DEFAULT_KEYS
    for field in FIELDS:
        for key in keys.keys(field):
            check_key(f"helicone.{field}", key)
    return keys


def check_key(where: str, key: str) -> None:
    """Raise AttributionConfigError unless `key` is `properties.<name>` or one of ATTRIBUTION_COLUMNS."""
    if key.startswith(PROPERTY_PREFIX):
        if len(key) == len(PROPERTY_PREFIX):
            raise AttributionConfigError(f"'{where}' has an empty property name in '{key}'")
        return
    if key not in ATTRIBUTION_COLUMNS:
        raise AttributionConfigError(
            f"'{where}' has unknown key '{key}' (expected properties.<name> or one of the columns "
            f"{', '.join(ATTRIBUTION_COLUMNS)})"
        )


def _map_path(name: str) -> str:
    """JSON path of one key of a flat map (the whole name is the key, dots included)."""
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _judge_query(keys: FieldKeys) -> str:
    structure = "{" + ", ".join(f'"{c}": "VARCHAR"' for c in COLUMNS) + ', "properties": "JSON"}'
    columns_sql = ",\n        ".join(f"case when left(e.\"{c}\", 1) not in ('{{', '[') then e.\"{c}\" end as \"{c}\"" for c in COLUMNS)
    typed = ",\n        ".join(
        f"trim({name}) as raw_{name}, try_cast(trim({name}) as bigint) as t_{name}" for name, _ in _TOKENS
    )
    problems = ", ".join(token_problem(sql_string(name), f"raw_{name}", f"t_{name}") for name, _ in _TOKENS)
    missing = "\n            ".join(
        f"when raw_{name} is null then '{name}|missing required field'" for name, required in _TOKENS if required
    )
    provider_map = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in PROVIDERS.items())

    paths = list(dict.fromkeys(
        _map_path(key[len(PROPERTY_PREFIX):]) for field in FIELDS for key in keys.keys(field) if key.startswith(PROPERTY_PREFIX)
    ))
    prop_values = f"json_extract(props, [{', '.join(sql_string(p) for p in paths)}])" if paths else "cast(null as json[])"

    def one(key: str) -> str:
        if key.startswith(PROPERTY_PREFIX):
            value = f"prop_values[{paths.index(_map_path(key[len(PROPERTY_PREFIX):])) + 1}]"
            text = blank_null(f"json_extract_string({value}, '$')")
            return f"case when json_type({value}) in ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN') then {text} end"
        return blank_null(f'"{key}"')

    def attributed(field: str) -> str:
        parts = [one(key) for key in keys.keys(field)]
        return f"coalesce({', '.join(parts)})" if parts else "cast(null as varchar)"

    # Tags: the properties map without the keys user ids are read from (tags are not pseudonymized).
    user_props = [key[len(PROPERTY_PREFIX):] for key in keys.user_id if key.startswith(PROPERTY_PREFIX)]
    tags_obj = f"json_merge_patch(props, json_object({', '.join(f'{sql_string(k)}, null' for k in user_props)}))" if user_props else "props"

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
        cast(e.properties as varchar) as properties_raw
    from parsed
),
decoded as (
    select *,
        {json_of_kind("properties_raw", "OBJECT")} as props
    from fields
),
typed as (
    select *,
        props is null and coalesce(trim(properties_raw), '') not in ('', 'null') as props_bad,
        {blank_null('request_id')} as rid,
        {blank_null('request_created_at')} as ts_text,
        {blank_null('provider')} as provider_raw,
        {blank_null('model')} as served_model,
        {prop_values} as prop_values,
        {typed}
    from decoded
),
canonical as (
    select *,
        case upper(provider_raw) {provider_map} end as provider_ours,
        case when regexp_full_match(ts_text, '{_TIMESTAMP}') then try_cast(ts_text as timestamptz) end as occurred_at,
        coalesce({problems}) as token_problem
    from typed
),
judged as (
    select *,
        case
            when rid is null then 'request_id|missing required field'
            when ts_text is null then 'request_created_at|missing required field'
            when provider_raw is null then 'provider|missing required field'
            when served_model is null then 'model|missing required field'
            when provider_ours is null then 'provider|unknown provider ''' || left(provider_raw, 40) || ''' (expected one of {expected})'
            when occurred_at is null then 'request_created_at|invalid timestamp: ''' || left(ts_text, 40) || ''''
            when occurred_at > now() + interval 1 day then 'request_created_at|timestamp is more than a day in the future: ''' || left(ts_text, 40) || ''''
            when occurred_at < timestamptz '{EARLIEST_DATE}' then 'request_created_at|timestamp is before {EARLIEST_DATE}: ''' || left(ts_text, 40) || ''''
            when props_bad then 'properties|not a JSON object'
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
    try_cast(try_cast(latency as double) as bigint) as latency_ms,
    {blank_null('status')} as status,
    case when props is not null and len(json_keys({tags_obj})) > 0 then cast(json({tags_obj}) as varchar) end as tags,
    t_prompt_tokens as input_tokens,
    coalesce(t_prompt_cache_read_tokens, 0) as cache_read_tokens,
    coalesce(t_prompt_cache_write_tokens, 0) as cache_write_5m_tokens,
    0 as cache_write_1h_tokens,
    t_completion_tokens as output_tokens,
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


def parse_helicone(data: bytes, file_name: str, attribution: AttributionConfig | None = None) -> AdapterResult:
    """Parse one landed `request_response_rmt` export (JSON Lines, gzip or not) into canonical rows and rejections."""
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

