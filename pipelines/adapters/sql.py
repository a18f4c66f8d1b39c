"""SQL fragments every adapter shares: judging a token count, a timestamp or a JSON line read as text.

Each function returns a SQL expression (or CASE branches) over column names it is given; nothing here
runs a query. Reasons come as 'field|reason', the way every judging query reports a problem.
"""

from __future__ import annotations

from pipelines.adapters import EARLIEST_DATE

DATE_HOUR_MINUTE = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
"""The start every ISO 8601 time must have: a date, `T` or a space, hours and minutes."""
DATE_TIME = DATE_HOUR_MINUTE + r"(:\d{2}(\.\d+)?)?"
"""An ISO 8601 date and time without its offset: seconds and a fraction of any length are optional."""
UTC_OFFSET = r"([Zz]|[+-]\d{2}(:?\d{2})?)"
"""The shape of an ISO 8601 UTC offset: `Z`, or a sign and hours with optional minutes (`+02`, `+0200`, `+02:00`).
Used to tell a time that has an offset from one that has none; `VALID_OFFSET` is what a time must carry."""
VALID_OFFSET = r"([Zz]|[+-](0\d|1[0-4])(:?[0-5]\d)?)"
"""An offset a clock can have: hours 00..14, minutes 00..59. DuckDB reads `+25:00` and `+99:99` (shifting the time by
up to four days into another event date); such a time is invalid, not moved."""

OFFSET_REQUIRED = f"^{DATE_TIME}{VALID_OFFSET}$"
"""The rule for logs that must say their zone (envelope, Portkey, business inputs): a naive time is rejected, never guessed."""
NAIVE_IS_UTC = f"^{DATE_TIME}{VALID_OFFSET}?$"
"""The rule for Helicone and LiteLLM, whose tables store UTC and write it without an offset: a naive time is UTC."""
SPACE_BEFORE_OFFSET = rf"^{DATE_TIME}\s*{VALID_OFFSET}$"
"""The rule for billing exports: a time with a space before its offset still has one, so it is reported as
not a valid timestamp (DuckDB cannot read it) rather than as one without an offset."""


def timestamptz(text: str, rule: str) -> str:
    """SQL: the text as TIMESTAMPTZ when it matches `rule` (one of the patterns above), else null.

    A naive time is read in the session's zone, which every judging connection sets to UTC.
    """
    return f"case when regexp_full_match({text}, '{rule}') then try_cast({text} as timestamptz) end"


_DECIMAL = r"\s*[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?\s*"
"""A number written in decimal: what a token count may look like (checked to be whole apart)."""
MAX_TOKENS = 10**12
"""More tokens than this in one request is a broken record, not usage (and would overflow daily sums)."""


_PARTS = r"^\s*[+-]?([0-9]+)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\s*$"


def _not_whole(raw: str) -> str:
    """SQL: true when the text, a number with a fraction or an exponent, is not exactly a whole number, judged on its
    digits (the mantissa's fraction against the exponent), never through a double: `1e-400` and `1.0000000000000001`
    round to a whole double, and were read as 0 and 1."""
    number = (f"list_transform([regexp_extract({raw}, '{_PARTS}', ['i', 'f', 'e'])], lambda p: {{'i': p.i, 'f': rtrim(p.f, '0'), "
              "'e': coalesce(try_cast(nullif(p.e, '') as bigint), case when p.e = '' then 0 when starts_with(p.e, '-') "
              "then -9223372036854775807 else 9223372036854775807 end)})[1]")
    # zero, else: a non-negative exponent covers the fraction's digits; a negative one needs no fraction and as many
    # trailing zeros in the whole digits
    whole = (f"list_transform([{number}], lambda n: (ltrim(n.i, '0') = '' and n.f = '') or (n.e >= 0 and length(n.f) <= n.e) "
             "or (n.e < 0 and n.f = '' and length(n.i) - length(rtrim(n.i, '0')) >= -n.e))[1]")
    return f"case when regexp_full_match({raw}, '{_PARTS}') then not {whole} else false end"


def token_problem(label: str, raw: str, typed: str) -> str:
    """SQL naming what is wrong with a token count, as 'field|reason', or null when absent or valid.

    label is a SQL expression for the field name users see; raw is the value as text and typed its
    try_cast to BIGINT. A whole number written with a fraction or an exponent (1000.0, 1e3: a float column of
    an export, an OTLP doubleValue) is that count.
    """
    return f"""case
        when {raw} is null then null
        when {typed} is null or case when contains({raw}, '.') or contains(lower({raw}), 'e') then {_not_whole(raw)} end then case
            when regexp_full_match({raw}, '-?[0-9]+') then {label} || '|token count exceeds the 64-bit integer range'
            when lower({raw}) in ('nan', '-nan', 'inf', '-inf', 'infinity', '-infinity') then {label} || '|token count is not a finite number'
            -- 1e19, 1e400 (a double's infinity): whole, but past the range
            when abs(try_cast({raw} as double)) >= 9223372036854775808 then {label} || '|token count exceeds the 64-bit integer range'
            when try_cast({raw} as double) is not null then {label} || '|token count is not a whole number'
            else {label} || '|token count is not a number: ' || left({raw}, 40)
        end
        -- DuckDB's cast also reads 0x10, 0b101 and 1_000: a count is digits (a whole 1000.0 or 1e3 is one too)
        when cast({typed} as varchar) <> {raw} and not regexp_full_match({raw}, '{_DECIMAL}')
            then {label} || '|token count is not a number: ' || left({raw}, 40)
        when {typed} < 0 then {label} || '|negative token count'
        when {typed} > {MAX_TOKENS} then {label} || '|token count above 10^12 is not plausible for one request'
    end"""


def latency_ms(raw: str) -> str:
    """SQL: a latency in milliseconds as BIGINT, null when absent or not a finite number of at least 0.

    Latency is a measurement, not usage: a value that cannot be one (negative from skewed clocks, `1e309`,
    text) leaves the request priced with its latency unknown, as OpenTelemetry spans that end before they
    start do, rather than rejecting what the request cost."""
    return f"case when try_cast({raw} as double) >= 0 then try_cast(try_cast({raw} as double) as bigint) end"


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


def key_given_twice(line: str, objects: tuple[str, ...] = ("",)) -> str:
    """CASE branch: a key given twice in one object of the record, at the top (`""`) or at one of the dotted `objects`
    (`usage.prompt_tokens_details`), rejected as ambiguous: JSON parsers differ on which value they keep (DuckDB's
    the first, Python's the last), so no value is guessed. The field named is the key's dotted path; a `|` in a key
    is written `\\x7c`, as it would split the field from the reason. The keys are listed once per line; only a line
    with a repeat is searched for which one."""
    paths = ", ".join("'$'" if not o else "'$" + "".join(f'."{part}"' for part in o.split(".")) + "'" for o in objects)
    prefixes = ", ".join(f"'{o}.'" if o else "''" for o in objects)
    keys = f"json_keys({line}, [{paths}])"
    repeated = " or ".join(f"len({keys}[{n}]) <> list_unique({keys}[{n}])" for n in range(1, len(objects) + 1))
    first = (
        f"flatten(list_transform(list_zip([{prefixes}], {keys}), lambda pk: list_transform(list_filter(coalesce(pk[2], []), "
        "lambda k, i: list_position(pk[2], k) < i), lambda k: pk[1] || k)))[1]"
    )
    return (
        f"when {repeated} then replace(left({first}, 200), '|', '\\x7c') "
        "|| '|key given twice in one object: which value is meant is ambiguous'"
    )


LINE_PROBLEM = f"""case
            when line is null then '|line is not valid UTF-8'
            when not json_valid(line) then '|invalid JSON'
            when json_type(line) <> 'OBJECT' then '|record is not a JSON object (found ' || {json_kind("json_type(line)")} || ')'
            {key_given_twice("line")}
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


def line_problem(line: str, line_type: str, objects: tuple[str, ...] = ("",)) -> str:
    """SQL: LINE_PROBLEM with the line parsed once: `line_type` is try(json_type(line)), null when not JSON. A key
    given twice is looked for at the top and in each of the dotted `objects` (`key_given_twice`)."""
    return f"""case
            when {line} is null then '|line is not valid UTF-8'
            when {line_type} is null then '|invalid JSON'
            when {line_type} <> 'OBJECT' then '|record is not a JSON object (found ' || {json_kind(line_type)} || ')'
            {key_given_twice(line, objects)}
        end"""
