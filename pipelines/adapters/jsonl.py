"""The judging query shared by the JSON Lines gateway formats (Helicone, Portkey, LiteLLM): lines in, rows out.

A format is a declaration (`Format`): the columns read as text, the JSON columns, the token counts, the
provider map, where attribution keys point, the field names its reasons give, the columns a rejected record
keeps and the SQL of the canonical columns. `judging_query` makes one DuckDB query of it, over `lines_in`
(numbered lines, as `split_lines` makes them) or over `rows_in` (the columns already read, as LiteLLM's CSV
reader makes them). Its CTEs, in order:

    classified  each line's problem: not UTF-8, not JSON, not an object        (lines_in only)
    parsed      each readable line parsed once into the columns read           (lines_in only)
    fields      one text column per column read, JSON columns as JSON text     (or rows_in)
    decoded     each JSON column as JSON, also when exported as a JSON string
    typed       the required fields, the attribution values, the format's parsed values
    counted     each token count as text and the field it names; the provider; occurred_at
    tokens      each token count as BIGINT
    ...         the format's own steps (LiteLLM's token buckets)
    canonical   the first problem among the token counts
    judged      the row's first problem, as 'field|reason', in a fixed order

The query returns one row per line: the canonical columns and, for a rejected row, the kept record; an
unreadable line has only its problem. A row is accepted only when it has no problem; no Python runs per row.
Content and cost columns are never read, so they reach neither rows nor rejected records. A text column holds
the JSON string it was given, whatever its first character (only a JSON object or array is not text), and
`tags` keep no key that names a user id (`attribution.without_user_keys`).

JSON Lines are judged chunk by chunk (`lines.text_chunks`: bounded memory, a line over the line limit rejected
unread); a format read through `read_rows` (LiteLLM's CSV) is judged whole (`lines.read_whole`: at most
`lines.whole_text_bytes`, lines over the limit cut out and rejected unread).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.adapters import CANONICAL_COLUMNS, AdapterResult, UnreadableFile, judged_chunks, judged_whole, merge_skipped
from pipelines.adapters.attribution import (
    ALL_FIELDS,
    FIELDS,
    TAG_FIELDS,
    UNATTRIBUTED,
    FieldKeys,
    KeySyntax,
    sql_string,
    without_user_keys,
)
from pipelines.adapters.lines import (
    BOM,
    WHOLE_TEXT_LINES,
    decompress,
    numbered,
    prefetch,
    read_whole,
    text_chunks,
    whole_text_bytes,
)
from pipelines.adapters.providers import EXPECTED, provider_sql
from pipelines.adapters.sql import (
    DATE_TIME,
    LINE_PROBLEM,
    OFFSET_REQUIRED,
    blank_null,
    date_range_problem,
    json_of_kind,
    timestamptz,
    token_problem,
)
from pipelines.settings import MAX_LINE_BYTES_ENV
from pipelines.storage.database import in_memory

OUTPUT_COLUMNS = (*(c for c in CANONICAL_COLUMNS if c not in ("source", "source_row")), "record")
"""What the query returns after line_no, byte_offset, byte_length and problem (`AdapterResult.from_judged` reads it)."""


@dataclass(frozen=True)
class JsonColumn:
    """A column holding JSON (`OBJECT` or `ARRAY`); `alias` names its decoded value in the query."""

    name: str
    kind: str
    alias: str


@dataclass(frozen=True)
class Required:
    """A required field: the name reasons give it, and SQL for its value as text (null when absent or blank)."""

    field: str
    text: str


def required(column: str) -> Required:
    """A required column read as it is, blanks trimmed."""
    return Required(column, blank_null(f'"{column}"'))


@dataclass(frozen=True)
class Token:
    """A token count: SQL for it as text and for the field its problems name; `name` is also its reason's field."""

    name: str
    text: str
    label: str
    required: bool = False


def column_token(name: str, required: bool = False) -> Token:
    """A token count that is a column of its own."""
    return Token(name, f'trim("{name}")', sql_string(name), required)


@dataclass(frozen=True)
class Format:
    """One JSON Lines gateway format, as the judging query needs it."""

    source: str
    columns: tuple[str, ...]
    """Columns read, as text (numbers as their text; objects and arrays as null)."""
    json_columns: tuple[JsonColumn, ...]
    request_id: Required
    timestamp: Required
    provider: Required
    model: Required
    timestamp_rule: str
    """`sql.OFFSET_REQUIRED` (a naive time is rejected with its own reason) or `sql.NAIVE_IS_UTC`."""
    tokens: tuple[Token, ...]
    """In the order their problems are looked for."""
    keys: KeySyntax
    key_objects: dict[str, str]
    """Attribution key prefix → alias of the decoded JSON object whose keys (or dotted paths) it names."""
    outputs: dict[str, str]
    """SQL over a judged row for service_tier, latency_ms, status, the token buckets and web_search_requests."""
    record_columns: tuple[str, ...]
    """Columns a rejected row's record keeps, as text: never content, cost, or anything holding a user id."""
    record_extra: tuple[tuple[str, str], ...] = ()
    """More (key, SQL) pairs for the kept record."""
    key_tags: dict[str, str] = dataclasses.field(default_factory=dict)
    """Attribution key prefix → alias of a text list of `name:value` tags (`<prefix><name>` reads the value)."""
    parsed: tuple[str, ...] = ()
    """More `<expression> as <name>` in `typed` (values parsed out of the decoded JSON)."""
    steps: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """The format's own CTEs after `tokens`: (name, `<expression> as <name>`s), each over the one before."""
    problems: tuple[str, ...] = ()
    """More CASE branches, looked at after every token check."""
    tags_from: str | None = None
    """Attribution key prefix whose JSON object becomes `tags`; None when `outputs` gives tags (as a JSON object).
    Either way tags lose every key that names a user id."""
    skip: str | None = None
    """SQL over the judged row: why a record that is not a provider call is skipped (counted, neither loaded nor
    rejected), or null. LiteLLM's failed-before-any-provider rows (an auth failure: no provider, no tokens)."""
    failed: str = "false"
    """SQL over the judged row: the request failed (an error status), so a required token count it lacks is 0."""
    provider_quoted_whole: bool = False
    """An unknown provider is quoted whole in its reason (LiteLLM's reason); otherwise its first 40 characters."""


def judging_query(
    fmt: Format, keys: FieldKeys, rows_in: bool = False, tags_without: tuple[str, ...] = (), providers: tuple[tuple[str, str], ...] = ()
) -> str:
    """The query judging every line of `lines_in` (or every row of `rows_in`) as `fmt`, with attribution `keys`;
    `tags` lose the keys `tags_without` (`attribution.user_keys`). Provider names go through the one table of
    `adapters.providers`, with `providers` (attribution.yaml's) first."""
    key_sql = _KeySql(fmt, keys)
    decoded = [f"{json_of_kind(_quoted(j.name), j.kind)} as {j.alias}" for j in fmt.json_columns]
    # A JSON column that is present but not of its kind (null and blank count as absent).
    bad = [
        f"{j.alias} is null and coalesce(trim({_quoted(j.name)}), '') not in ('', 'null') as {j.name}_bad"
        for j in fmt.json_columns
    ]
    counted = [f"{t.text} as raw_{t.name}, {t.label} as label_{t.name}" for t in fmt.tokens]
    typed = [f"try_cast(raw_{t.name} as bigint) as t_{t.name}" for t in fmt.tokens]
    problems = ", ".join(token_problem(f"label_{t.name}", f"raw_{t.name}", f"t_{t.name}") for t in fmt.tokens)
    steps, last_step = "", "tokens"
    for name, expressions in fmt.steps:
        steps += f"\n{name} as (\n    select *{_listed(expressions)}\n    from {last_step}\n),"
        last_step = name
    return f"""
with {"fields as (select * from rows_in)" if rows_in else _reading(fmt)},
decoded as (
    select *{_listed(decoded)}
    from fields
    where line_problem is null
),
typed as (
    select *{_listed([*bad, *fmt.parsed, *key_sql.value_lists()])},
        {fmt.request_id.text} as rid,
        {fmt.timestamp.text} as ts_text,
        {fmt.provider.text} as provider_raw,
        {fmt.model.text} as served_model
    from decoded
),
counted as (
    select *{_listed(counted)},
        {provider_sql("provider_raw", providers)} as provider_ours,
        {timestamptz("ts_text", fmt.timestamp_rule)} as occurred_at
    from typed
),
tokens as (
    select *{_listed(typed)}
    from counted
),{steps}
canonical as (
    select *,
        coalesce({problems}) as token_problem
    from {last_step}
),
judged as (
    select *,
        case
            {_problems(fmt)}
        end as problem,
        {key_sql.tags() if fmt.tags_from else fmt.outputs["tags"]} as tags_given,
        cast({fmt.skip or 'null'} as varchar) as skip_reason
    from canonical
)
select
    line_no, byte_offset, byte_length,
    problem,
    {_outputs(fmt, key_sql, tags_without)},
    skip_reason
from judged
union all
select line_no, byte_offset, byte_length, line_problem, {", ".join(["null"] * len(OUTPUT_COLUMNS))}, null
from fields
where line_problem is not null
order by line_no
"""


def _without_skipped(judged: pa.Table) -> tuple[pa.Table, tuple[tuple[str, int], ...]]:
    """The judged rows less the skipped ones, and how many were skipped for each reason."""
    reasons = judged["skip_reason"]
    skipped = pc.is_valid(reasons)
    counts = pc.value_counts(reasons.filter(skipped)).to_pylist() if pc.any(skipped).as_py() else []
    return judged.filter(pc.invert(skipped)).drop_columns(["skip_reason"]), merge_skipped([[(c["values"], c["counts"]) for c in counts]])


def _quoted(name: str) -> str:
    return f'"{name}"'


def _listed(expressions) -> str:
    """SQL: each expression on its own line after a comma, to follow `select *`."""
    return "".join(f",\n        {e}" for e in expressions)


def _reading(fmt: Format) -> str:
    """CTEs reading `lines_in` into `fields`, the columns `rows_in` would hold."""
    structure = ", ".join([*(f'"{c}": "VARCHAR"' for c in fmt.columns), *(f'"{j.name}": "JSON"' for j in fmt.json_columns)])
    # A value read as text that starts like an object or an array may be a string that does: its JSON type says.
    text = [
        f"case when left(e.{_quoted(c)}, 1) in ('{{', '[') and json_type(line, {sql_string(f'$.{_quoted(c)}')}) in ('OBJECT', 'ARRAY') "
        f"then null else e.{_quoted(c)} end as {_quoted(c)}"
        for c in fmt.columns
    ]
    json_text = [f"cast(e.{_quoted(j.name)} as varchar) as {_quoted(j.name)}" for j in fmt.json_columns]
    return f"""classified as (
    select line_no, byte_offset, byte_length, line,
        {LINE_PROBLEM} as line_problem
    from lines_in
),
parsed as (
    select *, case when line_problem is null then from_json(line, '{{{structure}}}') end as e
    from classified
),
fields as (
    select line_no, byte_offset, byte_length, line_problem{_listed([*text, *json_text])}
    from parsed
)"""


def _problems(fmt: Format) -> str:
    """The judged CASE branches: required fields, provider, timestamp, JSON columns, tokens, the format's own."""
    ts = fmt.timestamp.field
    shown = "provider_raw" if fmt.provider_quoted_whole else "left(provider_raw, 40)"
    branches = [
        *(f"when {sql} is null then '{r.field}|missing required field'" for sql, r in (
            ("rid", fmt.request_id), ("ts_text", fmt.timestamp), ("provider_raw", fmt.provider), ("served_model", fmt.model))),
        f"when provider_ours is null then '{fmt.provider.field}|unknown provider ''' || {shown} || ''' "
        f"(expected one of {EXPECTED})'",
    ]
    if fmt.timestamp_rule == OFFSET_REQUIRED:
        branches.append(
            f"when regexp_full_match(ts_text, '^{DATE_TIME}$') "
            f"then '{ts}|timestamp has no UTC offset: ''' || left(ts_text, 40) || ''''"
        )
    branches += [
        f"when occurred_at is null then '{ts}|invalid timestamp: ''' || left(ts_text, 40) || ''''",
        date_range_problem(ts, "occurred_at", "ts_text"),
        *(f"when {j.name}_bad then '{j.name}|not a JSON {j.kind.lower()}'" for j in fmt.json_columns),
        "when token_problem is not null then token_problem",
        *(f"when t_{t.name} is null and not ({fmt.failed}) then '{t.name}|missing required field'" for t in fmt.tokens if t.required),
        *fmt.problems,
    ]
    return "\n            ".join(branches)


def _outputs(fmt: Format, key_sql: _KeySql, tags_without: tuple[str, ...]) -> str:
    """The select list after problem: OUTPUT_COLUMNS, from the judged row; tags without user keys, null when empty."""
    outputs = {
        "request_id": "rid",
        "occurred_at": "occurred_at",
        "provider": "provider_ours",
        "model": "served_model",
        "feature": f"coalesce({key_sql.attributed('feature')}, '{UNATTRIBUTED}')",
        **{field: key_sql.attributed(field) for field in FIELDS if field != "feature"},
        **fmt.outputs,
        "tags": f"nullif(cast(json({with_tag_fields(without_user_keys('tags_given', tags_without), key_sql)}) as varchar), '{{}}')",
        "record": f"case when problem is not null then {_record(fmt)} end",
    }
    return ",\n    ".join(f"{outputs[c]} as {c}" for c in OUTPUT_COLUMNS)


def with_tag_fields(tags: str, key_sql: "_KeySql") -> str:
    """SQL: `tags` (a JSON object or null) with `experiment` and `variant` set to what their keys found; a
    dimension found nowhere leaves the tags as they are."""
    values = {field: key_sql.attributed(field) for field in TAG_FIELDS}
    patch = "json_merge_patch('{}', json_object(" + ", ".join(f"'{field}', {sql}" for field, sql in values.items()) + "))"
    return f"case when coalesce({', '.join(values.values())}) is null then {tags} else json_merge_patch(coalesce({tags}, '{{}}'), {patch}) end"


def _record(fmt: Format) -> str:
    """SQL: the kept record as JSON text, its null fields left out."""
    pairs = [*(f"'{c}', \"{c}\"" for c in fmt.record_columns), *(f"'{key}', {sql}" for key, sql in fmt.record_extra)]
    return f"cast(json_merge_patch('{{}}', json_object({', '.join(pairs)})) as varchar)"


class _KeySql:
    """SQL for the attribution values `keys` name: JSON keys or paths, tags, or columns."""

    def __init__(self, fmt: Format, keys: FieldKeys):
        self.fmt, self.keys = fmt, keys
        # Every JSON path the keys name, per decoded object: each object is parsed once per row for all of them.
        self.paths: dict[str, list[str]] = {alias: [] for alias in fmt.key_objects.values()}
        for field in ALL_FIELDS:
            for key in keys.keys(field):
                alias, path = self._path(key)
                if alias is not None and path not in self.paths[alias]:
                    self.paths[alias].append(path)

    def _path(self, key: str) -> tuple[str | None, str]:
        prefix = self.fmt.keys.prefix_of(key)
        if prefix is None or prefix.prefix not in self.fmt.key_objects:
            return None, ""
        rest = key[len(prefix.prefix) :]
        parts = rest.split(".") if prefix.dotted else [rest]
        path = "$." + ".".join('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)
        return self.fmt.key_objects[prefix.prefix], path

    def value_lists(self) -> list[str]:
        return [
            f"json_extract({alias}, [{', '.join(sql_string(p) for p in paths)}]) as {alias}_values"
            for alias, paths in self.paths.items() if paths
        ]

    def value(self, key: str) -> str:
        alias, path = self._path(key)
        if alias is not None:
            value = f"{alias}_values[{self.paths[alias].index(path) + 1}]"
            text = blank_null(f"json_extract_string({value}, '$')")
            return f"case when json_type({value}) in ('VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN') then {text} end"
        prefix = self.fmt.keys.prefix_of(key)
        if prefix is not None and prefix.prefix in self.fmt.key_tags:
            tags, start = self.fmt.key_tags[prefix.prefix], key[len(prefix.prefix) :] + ":"
            return (
                f"list_extract(list_transform(list_filter({tags}, lambda t: starts_with(t, {sql_string(start)})), "
                f"lambda t: {blank_null(f'substr(t, {len(start) + 1})')}), 1)"
            )
        return blank_null(f'"{key}"')

    def attributed(self, field: str) -> str:
        parts = [self.value(key) for key in self.keys.keys(field)]
        return f"coalesce({', '.join(parts)})" if parts else "cast(null as varchar)"

    def tags(self) -> str:
        """The `tags_from` object, as given (`_outputs` drops the keys that name a user id)."""
        return self.fmt.key_objects[self.fmt.tags_from]


ReadRows = Callable[[duckdb.DuckDBPyConnection, bytes, pa.Table], pa.Table]
"""Reads a file's numbered lines (registered as `lines_in`) into the `rows_in` columns of a format."""

_QUERIES: dict[tuple[str, FieldKeys, bool, tuple[str, ...]], str] = {}


def parse(
    fmt: Format, data: bytes, file_name: str, keys: FieldKeys, read_rows: ReadRows | None = None,
    tags_without: tuple[str, ...] = (), providers: tuple[tuple[str, str], ...] = (),
) -> AdapterResult:
    """Judge one landed file (gzip or not) as `fmt`: its lines as JSON Lines, chunk by chunk, or through
    `read_rows` (say a CSV reader) as a whole; `tags` lose the keys `tags_without`; `providers` (attribution.yaml's,
    lower-cased names → ours or self_hosted:<cluster>) are read beside the format's own provider names."""
    cache_key = (fmt.source, keys, read_rows is not None, tags_without, providers)
    query = _QUERIES.get(cache_key) or _QUERIES.setdefault(
        cache_key, judging_query(fmt, keys, rows_in=read_rows is not None, tags_without=tags_without, providers=providers)
    )
    with in_memory() as con:
        con.execute("set TimeZone = 'UTC'")
        if read_rows is None:
            chunks = prefetch(numbered(text_chunks(data, file_name)))
            return AdapterResult.concat(list(judged_chunks(chunks, lambda lines, text: _judge(con, query, lines, text, fmt.source))))
        whole = read_whole(data, file_name)
        con.register("lines_in", whole.lines)
        con.register("rows_in", read_rows(con, whole.text, whole.lines))
        judged = con.sql(query).to_arrow_table()
    judged, skipped = _without_skipped(judged)
    result = dataclasses.replace(AdapterResult.from_judged(judged, source=fmt.source, text=whole.text), skipped=skipped)
    return judged_whole(whole, result, whole.lines)


def _judge(con: duckdb.DuckDBPyConnection, query: str, lines: pa.Table, text: bytes, source: str) -> AdapterResult:
    """One chunk's numbered lines judged by `query`."""
    con.register("lines_in", lines)
    try:
        judged = con.sql(query).to_arrow_table()
    finally:
        con.unregister("lines_in")
    judged, skipped = _without_skipped(judged)
    return dataclasses.replace(AdapterResult.from_judged(judged, source=source, text=text), skipped=skipped)


DOCUMENT_SUFFIXES = (".json", ".json.gz")
"""A file of a JSON Lines format under these names holds one JSON document: a record, or an array of records."""


def document_as_lines(data: bytes, file_name: str) -> bytes:
    """A landed `.json` document (gzip allowed, pretty-printed or not) as JSON Lines: an array's elements one per line
    (row n is element n), any other value one line, each compact as DuckDB writes JSON. A document DuckDB refuses only
    for a string holding a lone surrogate escape is split by Python's parser instead, so that record alone is
    rejected, naming its field. UnreadableFile when the file is not one JSON document, or is longer than a whole
    file is read (`whole_text_bytes`)."""
    most = whole_text_bytes()
    too_long = UnreadableFile(
        f"a JSON document is read whole, at most {most} bytes ({WHOLE_TEXT_LINES} times the {MAX_LINE_BYTES_ENV} limit): "
        "this one is longer and was not read; land it as JSON Lines (.jsonl, .jsonl.gz), read line by line"
    )
    if not file_name.lower().endswith(".gz") and len(data) > most:
        raise too_long
    text, problem = decompress(data, file_name)
    if problem is not None:
        raise too_long if problem.reason.startswith("file is longer than") else UnreadableFile(problem.reason)
    start = len(BOM) if text.startswith(BOM) else 0
    try:
        document = text[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"file is not valid UTF-8 (byte {start + exc.start})") from None
    del text
    try:
        with in_memory() as con:
            records = con.execute(
                "select cast(unnest(case when json_type(j) = 'ARRAY' then json_extract(j, '$[*]') else [j] end) as varchar) "
                "from (select json($d) as j)",
                {"d": document},
            ).fetchall()
        records = [row[0] for row in records]
    except duckdb.Error as exc:
        records = _split_by_python(document)
        if records is None:
            reason = str(exc).split("\n")[0].split("Input:")[0].strip()  # DuckDB's message quotes the document after "Input:"
            raise UnreadableFile(f"not one JSON document ({reason})") from None
    return "".join(f"{record}\n" for record in records).encode()


def _split_by_python(document: str) -> list[str] | None:
    """The records of a document Python's parser reads (lone surrogate escapes included, which DuckDB's refuses), each
    written back as ASCII JSON, or None when it is not JSON to Python either. Whole numbers stay exact; a fraction
    or exponent is written as Python's float writes it (1E3 as 1000.0, the same count)."""
    try:
        value = json.loads(document)
        return [json.dumps(item) for item in (value if isinstance(value, list) else [value])]
    except (ValueError, RecursionError):
        return None
