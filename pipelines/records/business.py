"""Outcome events, revenue records, GPU capacity and experiment assignments: landed files in, typed lake rows and
rejections out.

Each source is read by `pipelines.records.read` (JSON Lines, JSON arrays, CSV or Parquet, gzip allowed)
into one JSON record per row, then typed and judged by one DuckDB query: a row with a problem is
rejected with the field and the reason, the rest of the file loads. Shapes and examples are in
docs/business-inputs.md.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.adapters import EARLIEST_DATE
from pipelines.adapters.sql import DATE_HOUR_MINUTE, OFFSET_REQUIRED, UTC_OFFSET, date_range_problem, timestamptz
from pipelines.records.read import ParseResult, RecordFormat, RecordSource, judge, read_records

MAX_TEXT = 512
"""Longer text is not a name or an id; the row is rejected."""
MAX_AMOUNT = 10**10
"""Revenue amounts beyond ±10^10 (in any currency) are not one invoice; exact USD conversion is bounded there."""
MAX_GPU_COUNT = 100_000
MAX_HOURLY_RATE = 10_000
MAX_CAPACITY_TOKENS_PER_HOUR = 10**10

AMOUNT = pa.decimal128(38, 9)
HOURS = pa.decimal128(38, 6)

OUTCOMES_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("outcome_id", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("event_date", pa.date32()),
        ("outcome_type", pa.string()),
        ("feature", pa.string()),
        ("request_id", pa.string()),
        ("conversation_id", pa.string()),
        ("value_usd", AMOUNT),
    ]
)

REVENUE_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("customer_id", pa.string()),
        ("user_segment", pa.string()),
        ("plan", pa.string()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("amount", AMOUNT),
        ("currency", pa.string()),
    ]
)

GPU_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("cluster", pa.string()),
        ("event_date", pa.date32()),
        ("gpu_type", pa.string()),
        ("gpu_count", pa.int64()),
        ("hours", HOURS),
        ("hourly_rate", AMOUNT),
        ("currency", pa.string()),
        ("capacity_tokens_per_hour", pa.int64()),
    ]
)

EXPERIMENTS_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("experiment", pa.string()),
        ("variant", pa.string()),
        ("user_id", pa.string()),
        ("conversation_id", pa.string()),
        ("customer_id", pa.string()),
        ("assigned_at", pa.timestamp("us", tz="UTC")),
        ("event_date", pa.date32()),
        ("is_control", pa.bool_()),
    ]
)
UNIT_FIELDS = ("user_id", "conversation_id", "customer_id")
"""The unit an assignment names: exactly one of them per record."""

_DATE = r"\d{4}-\d{2}-\d{2}"
_CLUSTER = r"[a-z0-9_.-]+"
_CURRENCY = r"[A-Z]{3}"


# -- SQL fragments --------------------------------------------------------------------------------


def _quoted(text: str) -> str:
    """SQL: the first 40 characters of a value, quoted for a reason."""
    return f"''' || left({text}, 40) || ''''"


def _text(field: str) -> str:
    """SQL: a field of the record as trimmed text, null when absent, JSON null or blank."""
    return f"nullif(trim(r ->> '{field}'), '')"


def _texts(**aliases: str) -> str:
    """SQL select items: each record field (the value) as trimmed text under its alias (the key)."""
    return ",\n".join(f"        {_text(field)} as {alias}" for alias, field in aliases.items())


def _not_single(fields: tuple[str, ...]) -> str:
    """CASE branches rejecting a field given as a JSON object or array."""
    return "\n".join(
        f"            when json_type(r, '$.{f}') in ('OBJECT', 'ARRAY') "
        f"then '{f}|not a single value (found ' || lower(json_type(r, '$.{f}')) || ')'"
        for f in fields
    )


def _required(field: str, text: str) -> str:
    return f"when {text} is null then '{field}|missing required field'"


def _too_long(fields: dict[str, str]) -> str:
    """CASE branches rejecting text too long to be a name or an id (field -> SQL text)."""
    return "\n".join(
        f"            when length({text}) > {MAX_TEXT} then '{field}|value is longer than {MAX_TEXT} characters'"
        for field, text in fields.items()
    )


def _timestamp_problems(field: str, text: str, typed: str) -> str:
    """CASE branches judging a required timestamp the way gateway logs are judged."""
    return f"""{_required(field, text)}
            when not regexp_matches({text}, '^{DATE_HOUR_MINUTE}') then '{field}|invalid timestamp: {_quoted(text)}
            when not regexp_matches({text}, '{UTC_OFFSET}$') then '{field}|timestamp has no UTC offset: {_quoted(text)}
            when {typed} is null then '{field}|invalid timestamp: {_quoted(text)}
            {date_range_problem(field, typed, text)}"""


def _date(text: str) -> str:
    return f"case when regexp_full_match({text}, '{_DATE}') then try_cast({text} as date) end"


def _date_problems(field: str, text: str, typed: str, *, future: bool) -> str:
    """CASE branches judging a required YYYY-MM-DD date; with `future`, a date after tomorrow (UTC) is rejected."""
    branches = f"""{_required(field, text)}
            when {typed} is null then '{field}|not a date (YYYY-MM-DD): {_quoted(text)}
            when {typed} < date '{EARLIEST_DATE}' then '{field}|date is before {EARLIEST_DATE}: {_quoted(text)}"""
    if future:
        branches += f"\n            when {typed} > current_date + 1 then '{field}|date is more than a day in the future: {_quoted(text)}"
    return branches


def _number_problems(
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
    branches = [_required(field, text)] if required else []
    branches.append(f"when {text} is not null and {value} is null then '{field}|not a number: {_quoted(text)}")
    if whole:
        branches.append(f"when {value} <> trunc({value}) then '{field}|not a whole number: {_quoted(text)}")
    if positive:
        branches.append(f"when {value} <= 0 then '{field}|must be positive: {_quoted(text)}")
    if minimum is not None:
        branches.append(f"when {value} < {minimum} then '{field}|must not be negative: {_quoted(text)}")
    if maximum is not None:
        branches.append(f"when {value} > {maximum} then '{field}|above {maximum} is not plausible: {_quoted(text)}")
    if magnitude is not None:
        branches.append(f"when abs({value}) >= {magnitude} then '{field}|beyond ±{magnitude} is not plausible for one record: {_quoted(text)}")
    return "\n            ".join(branches)


def _currency_problems(field: str, text: str) -> str:
    return f"""{_required(field, text)}
            when not regexp_full_match(upper({text}), '{_CURRENCY}') then '{field}|not an ISO 4217 currency code: {_quoted(text)}"""


def _kept_record(fields: tuple[str, ...]) -> str:
    """SQL: the record as received, limited to the source's own fields (nothing else is kept in the audit)."""
    kept = ", ".join(f"'{f}', r -> '$.{f}'" for f in fields)
    return f"case when r is null then record else cast(json_object({kept}) as varchar) end"


def _query(fields: tuple[str, ...], texts: str, typed: str, problems: str, columns: str) -> str:
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
    {_kept_record(fields)} as record,
    coalesce(read_problem, case
{_not_single(fields)}
            {problems}
        end) as problem,
{columns}
from typed
order by row_number
"""


# -- outcomes -------------------------------------------------------------------------------------

_OUTCOME_FIELDS = ("outcome_id", "timestamp", "outcome_type", "feature", "request_id", "conversation_id", "value_usd")

OUTCOMES_QUERY = _query(
    _OUTCOME_FIELDS,
    texts=_texts(
        outcome_id="outcome_id", ts_text="timestamp", outcome_type="outcome_type", feature="feature", request_id="request_id",
        conversation_id="conversation_id", value_text="value_usd",
    ),
    typed=f"""        {timestamptz('ts_text', OFFSET_REQUIRED)} as occurred_at,
        try_cast(value_text as decimal(38, 9)) as value_usd""",
    problems=f"""{_required('outcome_id', 'outcome_id')}
            {_timestamp_problems('timestamp', 'ts_text', 'occurred_at')}
            {_required('outcome_type', 'outcome_type')}
            {_required('feature', 'feature')}
            when request_id is null and conversation_id is null then 'request_id|missing: an outcome needs request_id or conversation_id'
            {_number_problems('value_usd', 'value_text', required=False, minimum=0, magnitude=MAX_AMOUNT)}
{_too_long({f: f for f in ('outcome_id', 'outcome_type', 'feature', 'request_id', 'conversation_id')})}""",
    columns="""    outcome_id,
    occurred_at,
    cast(occurred_at as date) as event_date,
    outcome_type,
    feature,
    request_id,
    conversation_id,
    value_usd,""",
)


def parse_outcomes(data: bytes, name: str) -> ParseResult:
    """Outcome events: one per business outcome, linked to requests by request_id or conversation_id."""
    return judge(read_records(data, name), OUTCOMES_QUERY, OUTCOMES_SCHEMA)


# -- revenue --------------------------------------------------------------------------------------

_REVENUE_FIELDS = ("customer_id", "user_segment", "period_start", "period_end", "amount", "currency", "plan")

REVENUE_QUERY = _query(
    _REVENUE_FIELDS,
    texts=_texts(
        customer_id="customer_id", user_segment="user_segment", plan="plan", start_text="period_start", end_text="period_end",
        amount_text="amount", currency_text="currency",
    ),
    typed=f"""        {_date('start_text')} as period_start,
        {_date('end_text')} as period_end,
        try_cast(amount_text as decimal(38, 9)) as amount""",
    problems=f"""{_required('customer_id', 'customer_id')}
            {_required('user_segment', 'user_segment')}
            {_date_problems('period_start', 'start_text', 'period_start', future=False)}
            {_date_problems('period_end', 'end_text', 'period_end', future=False)}
            when period_end <= period_start then 'period_end|must be after period_start (the end is exclusive): {_quoted('end_text')}
            when period_end - period_start > 3660 then 'period_end|a period longer than ten years is not plausible: {_quoted('end_text')}
            {_number_problems('amount', 'amount_text', magnitude=MAX_AMOUNT)}
            {_currency_problems('currency', 'currency_text')}
{_too_long({f: f for f in ('customer_id', 'user_segment', 'plan')})}""",
    columns="""    customer_id,
    user_segment,
    coalesce(plan, '') as plan,
    period_start,
    period_end,
    amount,
    upper(currency_text) as currency,""",
)


def parse_revenue(data: bytes, name: str) -> ParseResult:
    """Revenue records: one per invoice or subscription period, end exclusive.

    A record without a plan is kept with plan '' in the lake (core.revenue shows null): plan is part of the
    duplicate key, and a null key part would never match the same record landed again in another file.
    """
    return judge(read_records(data, name), REVENUE_QUERY, REVENUE_SCHEMA)


# -- gpu ------------------------------------------------------------------------------------------

_GPU_FIELDS = ("cluster", "date", "gpu_type", "gpu_count", "hours", "hourly_rate", "currency", "capacity_tokens_per_hour")

GPU_QUERY = _query(
    _GPU_FIELDS,
    texts=_texts(
        cluster_text="cluster", date_text="date", gpu_type="gpu_type", count_text="gpu_count", hours_text="hours",
        rate_text="hourly_rate", currency_text="currency", capacity_text="capacity_tokens_per_hour",
    ),
    typed=f"""        lower(cluster_text) as cluster,
        {_date('date_text')} as event_date,
        try_cast(count_text as decimal(38, 9)) as gpu_count,
        try_cast(hours_text as decimal(38, 6)) as hours,
        try_cast(rate_text as decimal(38, 9)) as hourly_rate,
        try_cast(capacity_text as decimal(38, 9)) as capacity_tokens_per_hour""",
    problems=f"""{_required('cluster', 'cluster')}
            when not regexp_full_match(cluster, '{_CLUSTER}') then 'cluster|not a cluster name (letters, digits, _ . -, as in provider self_hosted:<cluster>): {_quoted('cluster')}
            {_date_problems('date', 'date_text', 'event_date', future=True)}
            {_required('gpu_type', 'gpu_type')}
            {_number_problems('gpu_count', 'count_text', whole=True, positive=True, maximum=MAX_GPU_COUNT)}
            {_number_problems('hours', 'hours_text', minimum=0, maximum=24)}
            {_number_problems('hourly_rate', 'rate_text', minimum=0, maximum=MAX_HOURLY_RATE)}
            {_currency_problems('currency', 'currency_text')}
            {_number_problems('capacity_tokens_per_hour', 'capacity_text', required=False, whole=True, positive=True, maximum=MAX_CAPACITY_TOKENS_PER_HOUR)}
{_too_long({'cluster': 'cluster', 'gpu_type': 'gpu_type'})}""",
    columns="""    cluster,
    event_date,
    gpu_type,
    cast(gpu_count as bigint) as gpu_count,
    hours,
    hourly_rate,
    upper(currency_text) as currency,
    cast(capacity_tokens_per_hour as bigint) as capacity_tokens_per_hour,""",
)


def parse_gpu(data: bytes, name: str) -> ParseResult:
    """GPU capacity: one record per cluster, day and GPU type, with its hours and hourly rate."""
    return judge(read_records(data, name), GPU_QUERY, GPU_SCHEMA)


# -- experiment assignments -----------------------------------------------------------------------

_EXPERIMENT_FIELDS = ("experiment", "variant", *UNIT_FIELDS, "assigned_at", "is_control")
_TRUE, _FALSE = ("true", "1", "yes", "t", "y"), ("false", "0", "no", "f", "n")

EXPERIMENTS_QUERY = _query(
    tuple(f for f in _EXPERIMENT_FIELDS if f != "user_id"),  # a rejected record keeps no raw user id
    texts=_texts(
        experiment="experiment", variant="variant", user_id="user_id", conversation_id="conversation_id",
        customer_id="customer_id", ts_text="assigned_at", control_text="is_control",
    ),
    typed=f"""        {timestamptz('ts_text', OFFSET_REQUIRED)} as assigned_at,
        case when lower(control_text) in {_TRUE} then true when lower(control_text) in {_FALSE} then false end as is_control,
        (user_id is not null)::int + (conversation_id is not null)::int + (customer_id is not null)::int as units_named""",
    problems=f"""{_required('experiment', 'experiment')}
            {_required('variant', 'variant')}
            when units_named = 0 then 'user_id|missing: an assignment names one of user_id, conversation_id, customer_id'
            when units_named > 1 then 'user_id|an assignment names one unit, found ' || units_named || ' of user_id, conversation_id, customer_id'
            {_timestamp_problems('assigned_at', 'ts_text', 'assigned_at')}
            when control_text is not null and is_control is null then 'is_control|not true or false: {_quoted('control_text')}
{_too_long({f: f for f in ('experiment', 'variant', *UNIT_FIELDS)})}""",
    columns="""    experiment,
    variant,
    user_id,
    conversation_id,
    customer_id,
    assigned_at,
    cast(assigned_at as date) as event_date,
    is_control,""",
)


def parse_experiments(data: bytes, name: str) -> ParseResult:
    """Experiment assignments: a unit (user, conversation or customer) in one variant of an experiment from
    `assigned_at` on. `user_id` is raw here; ingestion pseudonymizes it (`RecordSource.pseudonymized`)."""
    result = judge(read_records(data, name), EXPERIMENTS_QUERY, EXPERIMENTS_SCHEMA)
    return result


# -- sources --------------------------------------------------------------------------------------

OUTCOMES = RecordSource(
    table="outcomes",
    landing="outcomes",
    formats={"outcomes": RecordFormat(parse_outcomes)},
    schema=OUTCOMES_SCHEMA,
    key=("outcome_id",),
    dates="event_date",
)

REVENUE = RecordSource(
    table="revenue",
    landing="revenue",
    formats={"revenue": RecordFormat(parse_revenue)},
    schema=REVENUE_SCHEMA,
    key=("customer_id", "period_start", "period_end", "plan"),
    dates="period_start",
)

GPU = RecordSource(
    table="gpu_capacity",
    landing="gpu",
    formats={"gpu": RecordFormat(parse_gpu)},
    schema=GPU_SCHEMA,
    key=("cluster", "event_date", "gpu_type"),
    dates="event_date",
    pending=True,
)
"""A late or corrected GPU file re-prices the self-hosted requests of the days it covers."""

EXPERIMENTS = RecordSource(
    table="experiment_assignments",
    landing="experiments",
    formats={"experiments": RecordFormat(parse_experiments)},
    schema=EXPERIMENTS_SCHEMA,
    key=("experiment", "variant", *UNIT_FIELDS, "assigned_at"),
    dates="event_date",
    pseudonymized=("user_id",),
)
"""A unit assigned to two variants of one experiment (in one file or across files) is kept here and excluded
from the experiment's results by core.experiment_assignments, which counts it."""

SOURCES = (OUTCOMES, REVENUE, GPU, EXPERIMENTS)
