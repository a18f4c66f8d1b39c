"""The billing line item schema and the judging query every bill format is declared in.

A format gives `billing_query` the fields it reads from each record (`records_in`, one JSON record per row
as `pipelines.records.read` makes them), the CASE branches that reject a row, and the SQL of the columns
that are its own; the rest take DEFAULT_COLUMNS. Out comes one query returning the reader's columns, a
`problem` ('field|reason' or null) and BILLING_SCHEMA's columns. Rules every format shares: amounts are
DECIMAL, a credit keeps the export's sign (a positive one reverses a credit), only usage rows have a token bucket.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.adapters import EARLIEST_DATE
from pipelines.adapters.sql import DATE_TIME, SPACE_BEFORE_OFFSET, blank_null

MONEY = pa.decimal128(38, 15)
QUANTITY = pa.decimal128(38, 9)

BILLING_SCHEMA = pa.schema(
    [
        ("source_format", pa.string()),
        ("source_row", pa.int64()),
        ("charge_date", pa.date32()),
        ("charge_period_start", pa.timestamp("us", tz="UTC")),
        ("charge_period_end", pa.timestamp("us", tz="UTC")),
        ("billing_period_start", pa.date32()),
        ("provider", pa.string()),
        ("bill_provider", pa.string()),
        ("service_name", pa.string()),
        ("account", pa.string()),
        ("model", pa.string()),
        ("token_bucket", pa.string()),
        ("service_tier", pa.string()),
        ("quantity", QUANTITY),
        ("unit", pa.string()),
        ("billed_cost", MONEY),
        ("effective_cost", MONEY),
        ("list_cost", MONEY),
        ("included_credits", MONEY),
        ("currency", pa.string()),
        ("charge_category", pa.string()),
        ("is_correction", pa.bool_()),
        ("description", pa.string()),
        ("extra", pa.string()),
    ]
)

CHARGE_CATEGORIES = ("usage", "credit", "tax", "adjustment", "purchase")

DEFAULT_COLUMNS = {
    "charge_period_start": "try_cast(start_text as timestamptz)",
    "charge_period_end": "try_cast(end_text as timestamptz)",
    "billing_period_start": "cast(null as date)",
    "account": "account",
    "model": "cast(null as varchar)",
    "service_tier": "cast(null as varchar)",
    "quantity": "quantity",
    "unit": "unit",
    "list_cost": "cast(null as decimal(38, 15))",
    "included_credits": "cast(0 as decimal(38, 15))",
    "currency": "upper(currency_text)",
    "is_correction": "false",
    "description": "description",
    "extra": "cast(null as varchar)",
}
"""A column's SQL when the format does not give its own (over the fields it reads, by these names)."""

_COLUMNS = [name for name in BILLING_SCHEMA.names if name not in ("source_format", "source_row", "charge_date")]


def text(path: str) -> str:
    """SQL: a field of the record as trimmed text, null when absent, blank or the text `NULL` (what SQL engines write
    for an empty cell when they export a CSV, as the FOCUS project's sample data does)."""
    return f"nullif({blank_null(f'(record ->> {chr(39)}{path}{chr(39)})')}, 'NULL')"


def text_in(column: str, key: str) -> str:
    """SQL: `key` (a plain name) of a column holding a JSON object, as text: a CSV cell of JSON text, such as CUR 2.0's
    `product` map in a CSV export, or the object a Parquet map becomes; null when absent, blank or not JSON."""
    return f"case when json_valid({text(column)}) then {blank_null(f'json_extract_string({text(column)}, {chr(39)}$.{key}{chr(39)})')} end"


MAX_LINE_AMOUNT = 10**10
"""A bill line beyond ±10^10 (in any currency) is not one line of usage; exact USD conversion is bounded there."""


def money_problem(label: str, expr: str, *, required: bool, digits_only: bool = True) -> str:
    """CASE branches: a missing (when required), non-numeric or implausibly large amount. DuckDB's cast reads 1_000
    as 1000: it is not a number here (`digits_only`), unless the caller judges the amount's form itself."""
    underscore = f" or contains({expr}, '_')" if digits_only else ""
    branches = (
        f"when {expr} is not null and (try_cast({expr} as decimal(38, 15)) is null{underscore}) "
        f"then '{label}|not a number: ' || left({expr}, 40)\n            "
        f"when abs(try_cast({expr} as decimal(38, 15))) >= {MAX_LINE_AMOUNT} "
        f"then '{label}|beyond ±{MAX_LINE_AMOUNT} is not plausible for one bill line: ' || left({expr}, 40)"
    )
    if required:
        branches = f"when {expr} is null then '{label}|missing amount'\n            " + branches
    return branches


def quantity_problem(label: str) -> str:
    """A CASE branch: a quantity (the field `quantity`) that is not a number."""
    return (
        "when quantity is not null and (try_cast(quantity as decimal(38, 9)) is null or contains(quantity, '_')) "
        f"then '{label}|not a number: ' || left(quantity, 40)"
    )


def currency_problem(label: str) -> str:
    """CASE branches: no currency, or not three letters (the field `currency_text`; `$$$` loaded in CUR and GCP)."""
    return (f"when currency_text is null then '{label}|missing currency'\n"
            f"            when not regexp_full_match(upper(currency_text), '[A-Z]{{3}}') "
            f"then '{label}|not an ISO 4217 currency code: ' || left(currency_text, 40)")


def in_utc(expr: str) -> str:
    """SQL: the text of a time the export defines as UTC, with its offset written. A trailing ` UTC` becomes `+00:00`
    (BigQuery writes a TIMESTAMP as text that way, `2025-10-06 07:00:00 UTC`, from `bq extract` and console downloads,
    and DuckDB does not read the name); so does no offset at all. FOCUS: "Date/time values MUST be in UTC" (its own
    sample data writes `2024-09-18 22:00:00`); CUR's and Google Cloud's times are UTC, and their Parquet timestamps
    may carry no zone. Formats whose times are not defined as UTC keep `timestamp_problem`'s rule: no offset, no time."""
    return f"regexp_replace(regexp_replace({expr}, '\\s+UTC$', '+00:00'), '^({DATE_TIME})$', '\\1+00:00')"


def timestamp_problem(label: str, expr: str, *, required: bool = True) -> str:
    """CASE branches: a missing (when required) timestamp, one without an offset, or one DuckDB cannot read."""
    branches = (
        f"when {expr} is not null and not regexp_full_match({expr}, '{SPACE_BEFORE_OFFSET}') "
        f"then '{label}|not an ISO 8601 timestamp with an offset: ' || left({expr}, 40)\n"
        f"            when {expr} is not null and try_cast({expr} as timestamptz) is null "
        f"then '{label}|not a valid timestamp: ' || left({expr}, 40)"
    )
    if required:
        branches = f"when {expr} is null then '{label}|missing timestamp'\n            " + branches
    return branches + "\n            " + _in_range(label, f"try_cast({expr} as timestamptz)", starts=required)


def _in_range(label: str, ts: str, *, starts: bool) -> str:
    """A CASE branch: a charge time before the first partition day, or (a start) more than a day ahead, or (an
    end) past 2100: a typo or a wrong unit, and a year past 9999 stopped every run when its date was read."""
    latest = "now() + interval 1 day" if starts else "timestamptz '2100-01-01'"
    return (f"when {ts} < timestamptz '{EARLIEST_DATE}' or {ts} > {latest} "
            f"then '{label}|timestamp outside {EARLIEST_DATE} .. {'tomorrow' if starts else '2100'}: ' || cast({ts} as varchar)")


def unix_time(expr: str) -> str:
    """SQL: Unix seconds as TIMESTAMPTZ, null unless they are a whole number between 1970 and 2100 (to_timestamp
    raises past year 294247, and a year past 9999 cannot be read as a date)."""
    return f"case when try_cast({expr} as bigint) between 0 and 4102444800 then to_timestamp(try_cast({expr} as bigint)) end"


def unix_time_problem(label: str, expr: str) -> str:
    """CASE branches: Unix seconds missing, not whole, or not a charge time (see `_in_range`), judged as seconds so
    nothing raises."""
    seconds = f"try_cast({expr} as bigint)"
    return (f"when {expr} is null or {seconds} is null then '{label}|missing or not a Unix time: ' || coalesce(left({expr}, 40), 'absent')\n"
            f"            when {seconds} < epoch(timestamptz '{EARLIEST_DATE}') or {seconds} > epoch(now()) + 86400 "
            f"then '{label}|Unix time outside {EARLIEST_DATE} .. tomorrow: ' || left({expr}, 40)")


def credits_problem(label: str, texts: str) -> str:
    """CASE branches: a credit amount in the list `texts` that is not a number, or implausibly large."""
    amount = "try_cast(t as decimal(38, 15))"
    return (f"when len(list_filter(coalesce({texts}, []), lambda t: {amount} is null or contains(t, '_'))) > 0 "
            f"then '{label}|a credit amount is not a number'\n"
            f"            when len(list_filter(coalesce({texts}, []), lambda t: abs({amount}) >= {MAX_LINE_AMOUNT})) > 0 "
            f"then '{label}|beyond ±{MAX_LINE_AMOUNT} is not plausible for one bill line'")


def lookup(mapping: dict[str, str], expr: str) -> str:
    """SQL: the value `mapping` gives the text in expr, or null."""
    return f"case {expr} " + " ".join(f"when '{k}' then '{v}'" for k, v in mapping.items()) + " end"


def token_bucket(meter: str) -> str:
    """SQL: the token bucket a free-text meter name describes, or null. Azure abbreviates (`gpt-4o-0806-Inp-glbl`,
    `...-Outp-glbl`, `GPT 5 Inpt Glbl`, `gpt-4o-transcribe-txt-out-glbl`); Vertex calls cache reads `Input Text Caching` and bills `Context Caching Storage` per hour
    (no token bucket)."""
    t = f"lower(coalesce({meter}, ''))"
    return f"""case
            when {t} similar to '.*caching[ _-]?storage.*' then null
            when {t} similar to '.*cache[ _-]?(read|hit).*' or {t} similar to '.*cached.*' then 'cache_read'
            when {t} similar to '.*(input|text|audio|image|video)[ _-]caching.*' then 'cache_read'
            when {t} similar to '.*cache[ _-]?(write|creation).*1h.*' then 'cache_write_1h'
            when {t} similar to '.*cache[ _-]?(write|creation).*' then 'cache_write_5m'
            when {t} similar to '.*(reasoning|thinking).*' then 'reasoning'
            when {t} similar to '.*web[ _-]?search.*' then 'web_search'
            when {t} similar to '.*input.*' or {t} similar to '(.*[^a-z])?inpt?([^a-z].*)?' then 'input'
            when {t} similar to '.*output.*' or {t} similar to '(.*[^a-z])?(outpt?|out)([^a-z].*)?' then 'output'
        end"""


def billing_query(
    source_format: str,
    fields: tuple[str, ...],
    problems: tuple[str, ...],
    columns: dict[str, str],
    derived: tuple[str, ...] = (),
) -> str:
    """The judging query of one bill format over `records_in`.

    fields: `<SQL> as <name>` read from each record; derived: more, over those fields; problems: CASE
    branches, the first that applies rejects the row (a reader's problem comes first); columns: SQL for
    BILLING_SCHEMA columns that do not take DEFAULT_COLUMNS.
    """
    sql = {**DEFAULT_COLUMNS, **columns}
    listed = lambda exprs: "".join(f",\n        {e}" for e in exprs)  # noqa: E731
    derived_cte = f"\nderived as (\n    select *{listed(derived)}\n    from fields\n)," if derived else ""
    branches = "\n            ".join(problems)
    selected = "".join(f",\n        {sql[name]} as {name}" for name in _COLUMNS)
    return f"""
with fields as (
    select *{listed(fields)}
    from records_in
),{derived_cte}
judged as (
    select
        row_number, byte_offset, byte_length, record,
        coalesce(problem, case
            {branches}
        end) as problem,
        '{source_format}' as source_format{selected}
    from {"derived" if derived else "fields"}
)
select
    row_number, byte_offset, byte_length, record, problem,
    source_format,
    cast(charge_period_start as date) as charge_date,
    charge_period_start,
    charge_period_end,
    billing_period_start,
    provider,
    bill_provider,
    service_name,
    account,
    model,
    case when charge_category = 'usage' then token_bucket end as token_bucket,
    service_tier,
    try_cast(quantity as decimal(38, 9)) as quantity,
    unit,
    billed_cost,
    effective_cost,
    list_cost,
    included_credits,
    currency,
    charge_category,
    is_correction,
    description,
    extra,
from judged
"""
