"""SQL fragments the business-input sources are judged with: one query per source over `records_in` (one JSON
record per row, from `pipelines.records.read`) that types each field and names the first problem of a row as
'<field>|<reason>'. `pipelines.records.business` builds its sources' queries from them."""

from __future__ import annotations

from pipelines.adapters import EARLIEST_DATE
from pipelines.adapters.sql import DATE_HOUR_MINUTE, UTC_OFFSET, date_range_problem

MAX_TEXT = 512
"""Longer text is not a name or an id; the row is rejected."""

DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
CLUSTER_PATTERN = r"[a-z0-9_.-]+"
CURRENCY_PATTERN = r"[A-Z]{3}"


# -- SQL fragments --------------------------------------------------------------------------------


def quoted_value(text: str) -> str:
    """SQL: the first 40 characters of a value, quoted for a reason."""
    return f"''' || left({text}, 40) || ''''"


def field_text(field: str) -> str:
    """SQL: a field of the record as trimmed text, null when absent, JSON null or blank."""
    return f"nullif(trim(r ->> '{field}'), '')"


def texts(**aliases: str) -> str:
    """SQL select items: each record field (the value) as trimmed text under its alias (the key)."""
    return ",\n".join(f"        {field_text(field)} as {alias}" for alias, field in aliases.items())


def not_single(fields: tuple[str, ...]) -> str:
    """CASE branches rejecting a field given as a JSON object or array."""
    return "\n".join(
        f"            when json_type(r, '$.{f}') in ('OBJECT', 'ARRAY') "
        f"then '{f}|not a single value (found ' || lower(json_type(r, '$.{f}')) || ')'"
        for f in fields
    )


def required_field(field: str, text: str) -> str:
    return f"when {text} is null then '{field}|missing required field'"


def too_long(fields: dict[str, str]) -> str:
    """CASE branches rejecting text too long to be a name or an id (field -> SQL text)."""
    return "\n".join(
        f"            when length({text}) > {MAX_TEXT} then '{field}|value is longer than {MAX_TEXT} characters'"
        for field, text in fields.items()
    )


def timestamp_problems(field: str, text: str, typed: str) -> str:
    """CASE branches judging a required timestamp the way gateway logs are judged."""
    return f"""{required_field(field, text)}
            when not regexp_matches({text}, '^{DATE_HOUR_MINUTE}') then '{field}|invalid timestamp: {quoted_value(text)}
            when not regexp_matches({text}, '{UTC_OFFSET}$') then '{field}|timestamp has no UTC offset: {quoted_value(text)}
            when {typed} is null then '{field}|invalid timestamp: {quoted_value(text)}
            {date_range_problem(field, typed, text)}"""


def date_of(text: str) -> str:
    return f"case when regexp_full_match({text}, '{DATE_PATTERN}') then try_cast({text} as date) end"


def date_problems(field: str, text: str, typed: str, *, future: bool) -> str:
    """CASE branches judging a required YYYY-MM-DD date; with `future`, a date after tomorrow (UTC) is rejected."""
    branches = f"""{required_field(field, text)}
            when {typed} is null then '{field}|not a date (YYYY-MM-DD): {quoted_value(text)}
            when {typed} < date '{EARLIEST_DATE}' then '{field}|date is before {EARLIEST_DATE}: {quoted_value(text)}"""
    if future:
        branches += f"\n            when {typed} > current_date + 1 then '{field}|date is more than a day in the future: {quoted_value(text)}"
    return branches


def number_problems(
    field: str,
    text: str,
    *,
    required: bool = True,
    whole: bool = False,
    minimum: int | None = None,
    positive: bool = False,
    maximum: int | None = None,
    magnitude: int | None = None,
) -> str:
    """CASE branches judging a number read as text: presence, form and plausible range."""
    value = f"try_cast({text} as decimal(38, 9))"
    branches = [required_field(field, text)] if required else []
    # DuckDB reads 1_000 as 1000; a file that writes it is not writing a number this reader should guess at
    branches.append(f"when {text} is not null and ({value} is null or contains({text}, '_')) then '{field}|not a number: {quoted_value(text)}")
    if whole:
        branches.append(f"when {value} <> trunc({value}) then '{field}|not a whole number: {quoted_value(text)}")
    if positive:
        branches.append(f"when {value} <= 0 then '{field}|must be positive: {quoted_value(text)}")
    if minimum is not None:
        branches.append(f"when {value} < {minimum} then '{field}|must not be negative: {quoted_value(text)}")
    if maximum is not None:
        branches.append(f"when {value} > {maximum} then '{field}|above {maximum} is not plausible: {quoted_value(text)}")
    if magnitude is not None:
        branches.append(f"when abs({value}) >= {magnitude} then '{field}|beyond ±{magnitude} is not plausible for one record: {quoted_value(text)}")
    return "\n            ".join(branches)


def currency_problems(field: str, text: str) -> str:
    return f"""{required_field(field, text)}
            when not regexp_full_match(upper({text}), '{CURRENCY_PATTERN}') then '{field}|not an ISO 4217 currency code: {quoted_value(text)}"""


def kept_record(fields: tuple[str, ...]) -> str:
    """SQL: the record as received, limited to the source's own fields (nothing else is kept in the audit)."""
    kept = ", ".join(f"'{f}', r -> '$.{f}'" for f in fields)
    return f"case when r is null then record else cast(json_object({kept}) as varchar) end"


def judging_query(fields: tuple[str, ...], texts: str, typed: str, problems: str, columns: str) -> str:
    """One judging query over `records_in`: text fields, typed fields, the first problem, the schema's columns."""
    return f"""
with raw as (
    select row_number, byte_offset, byte_length, record, problem as read_problem,
        case when problem is null then record end as r
    from records_in
),
texts as (
    select *,
{texts}
    from raw
),
typed as (
    select *,
{typed}
    from texts
)
select
    row_number, byte_offset, byte_length,
    {kept_record(fields)} as record,
    coalesce(read_problem, case
{not_single(fields)}
            {problems}
        end) as problem,
{columns}
from typed
order by row_number
"""
