"""SQL fragments every adapter shares: judging a token count read as text."""

from __future__ import annotations

from pipelines.adapters import EARLIEST_DATE

MAX_TOKENS = 10**12
"""More tokens than this in one request is a broken record, not usage (and would overflow daily sums)."""


def token_problem(label: str, raw: str, typed: str) -> str:
    """SQL naming what is wrong with a token count, as 'field|reason', or null when absent or valid.

    label is a SQL expression for the field name users see; raw is the value as text and typed its
    try_cast to BIGINT.
    """
    return f"""case
        when {raw} is null then null
        when {typed} is null or contains({raw}, '.') or contains(lower({raw}), 'e') then case
            when regexp_full_match({raw}, '-?[0-9]+') then {label} || '|token count exceeds the 64-bit integer range'
            when lower({raw}) in ('nan', '-nan', 'inf', '-inf', 'infinity', '-infinity') then {label} || '|token count is not a finite number'
            when try_cast({raw} as double) is not null then {label} || '|token count is not a whole number'
            else {label} || '|token count is not a number: ' || left({raw}, 40)
        end
        when {typed} < 0 then {label} || '|negative token count'
        when {typed} > {MAX_TOKENS} then {label} || '|token count above 10^12 is not plausible for one request'
    end"""


def blank_null(expr: str) -> str:
    """SQL: the text with surrounding blanks removed, null when nothing is left."""
    return f"nullif(trim({expr}), '')"


def json_kind(json_type: str) -> str:
    """SQL: a DuckDB JSON type name as the JSON kind users know (number, string, boolean, array...)."""
    return (
        f"case when {json_type} in ('UBIGINT', 'BIGINT', 'DOUBLE') then 'number' when {json_type} = 'VARCHAR' then 'string' "
        f"else lower({json_type}) end"
    )


def date_range_problem(field: str, occurred_at: str, text: str) -> str:
    """CASE branches rejecting a timestamp more than a day ahead or before the first partition day."""
    return (
        f"when {occurred_at} > now() + interval 1 day "
        f"then '{field}|timestamp is more than a day in the future: ''' || left({text}, 40) || ''''\n"
        f"            when {occurred_at} < timestamptz '{EARLIEST_DATE}' "
        f"then '{field}|timestamp is before {EARLIEST_DATE}: ''' || left({text}, 40) || ''''"
    )


LINE_PROBLEM = f"""case
            when line is null then '|line is not valid UTF-8'
            when not json_valid(line) then '|invalid JSON'
            when json_type(line) <> 'OBJECT' then '|record is not a JSON object (found ' || {json_kind("json_type(line)")} || ')'
        end"""
"""SQL: what makes a JSON Lines line unreadable as a record (as '|reason'), or null."""


def json_of_kind(expr: str, kind: str) -> str:
    """SQL: the JSON text in expr when it is a JSON `kind` ('OBJECT', 'ARRAY'), or a JSON string that
    encodes one (as exports double-encode JSON columns); null otherwise."""
    return f"""case
            when json_valid({expr}) and json_type({expr}) = '{kind}' then {expr}
            when json_valid({expr}) and json_type({expr}) = 'VARCHAR' and json_valid({expr}->>'$')
                 and json_type({expr}->>'$') = '{kind}' then {expr}->>'$'
        end"""


def line_problem(line: str, line_type: str) -> str:
    """SQL: LINE_PROBLEM with the line parsed once: `line_type` is try(json_type(line)), null when not JSON."""
    return f"""case
            when {line} is null then '|line is not valid UTF-8'
            when {line_type} is null then '|invalid JSON'
            when {line_type} <> 'OBJECT' then '|record is not a JSON object (found ' || {json_kind(line_type)} || ')'
        end"""
