"""Outcome events, revenue records, GPU capacity, experiment assignments, overhead costs and grid carbon intensity:
landed files in, typed lake rows and rejections out.

Each source is read by `pipelines.records.read` (JSON Lines, JSON arrays, CSV or Parquet, gzip allowed)
into one JSON record per row, then typed and judged by one DuckDB query: a row with a problem is
rejected with the field and the reason, the rest of the file loads. Shapes and examples are in
docs/business-inputs.md.
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.adapters.sql import OFFSET_REQUIRED, timestamptz
from pipelines.records.fragments import (
    CLUSTER_PATTERN,
    currency_problems,
    date_of,
    date_problems,
    judging_query,
    number_problems,
    quoted_value,
    required_field,
    texts,
    timestamp_problems,
    too_long,
)
from pipelines.records.read import ParseResult, RecordFormat, RecordSource, judge, read_records

MAX_AMOUNT = 10**10
"""Revenue amounts beyond ±10^10 (in any currency) are not one invoice; exact USD conversion is bounded there."""
MAX_GPU_COUNT = 100_000
MAX_HOURLY_RATE = 10_000
MAX_CAPACITY_TOKENS_PER_HOUR = 10**10
MAX_POWER_WATTS = 5_000
"""Above 5 kW is not one accelerator's average draw."""
MAX_GCO2E_PER_KWH = 3_000
"""No grid emits more than ~1,200 gCO2e/kWh; 3,000 leaves room for marginal factors and still catches unit slips."""
OVERHEAD_CATEGORIES = ("egress", "storage", "observability", "load_balancing", "engineering", "other")
OVERHEAD_BASES = ("cost", "tokens", "requests")
"""How an overhead record is spread over features, besides `feature:<name>` (a direct charge)."""

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
        ("avg_power_watts", AMOUNT),
    ]
)

OVERHEAD_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("category", pa.string()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("amount", AMOUNT),
        ("currency", pa.string()),
        ("allocate_by", pa.string()),
        ("provider", pa.string()),
        ("cluster", pa.string()),
        ("description", pa.string()),
    ]
)

CARBON_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("region", pa.string()),
        ("event_date", pa.date32()),
        ("gco2e_per_kwh", AMOUNT),
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

# -- outcomes -------------------------------------------------------------------------------------

_OUTCOME_FIELDS = ("outcome_id", "timestamp", "outcome_type", "feature", "request_id", "conversation_id", "value_usd")

OUTCOMES_QUERY = judging_query(
    _OUTCOME_FIELDS,
    texts=texts(
        outcome_id="outcome_id", ts_text="timestamp", outcome_type="outcome_type", feature="feature", request_id="request_id",
        conversation_id="conversation_id", value_text="value_usd",
    ),
    typed=f"""        {timestamptz('ts_text', OFFSET_REQUIRED)} as occurred_at,
        try_cast(value_text as decimal(38, 9)) as value_usd""",
    problems=f"""{required_field('outcome_id', 'outcome_id')}
            {timestamp_problems('timestamp', 'ts_text', 'occurred_at')}
            {required_field('outcome_type', 'outcome_type')}
            {required_field('feature', 'feature')}
            when request_id is null and conversation_id is null then 'request_id|missing: an outcome needs request_id or conversation_id'
            {number_problems('value_usd', 'value_text', required=False, minimum=0, magnitude=MAX_AMOUNT)}
{too_long({f: f for f in ('outcome_id', 'outcome_type', 'feature', 'request_id', 'conversation_id')})}""",
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

REVENUE_QUERY = judging_query(
    _REVENUE_FIELDS,
    texts=texts(
        customer_id="customer_id", user_segment="user_segment", plan="plan", start_text="period_start", end_text="period_end",
        amount_text="amount", currency_text="currency",
    ),
    typed=f"""        {date_of('start_text')} as period_start,
        {date_of('end_text')} as period_end,
        try_cast(amount_text as decimal(38, 9)) as amount""",
    problems=f"""{required_field('customer_id', 'customer_id')}
            {required_field('user_segment', 'user_segment')}
            {date_problems('period_start', 'start_text', 'period_start', future=False)}
            {date_problems('period_end', 'end_text', 'period_end', future=False)}
            when period_end <= period_start then 'period_end|must be after period_start (the end is exclusive): {quoted_value('end_text')}
            when period_end - period_start > 3660 then 'period_end|a period longer than ten years is not plausible: {quoted_value('end_text')}
            {number_problems('amount', 'amount_text', magnitude=MAX_AMOUNT)}
            {currency_problems('currency', 'currency_text')}
{too_long({f: f for f in ('customer_id', 'user_segment', 'plan')})}""",
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

_GPU_FIELDS = ("cluster", "date", "gpu_type", "gpu_count", "hours", "hourly_rate", "currency", "capacity_tokens_per_hour", "avg_power_watts")

GPU_QUERY = judging_query(
    _GPU_FIELDS,
    texts=texts(
        cluster_text="cluster", date_text="date", gpu_type="gpu_type", count_text="gpu_count", hours_text="hours",
        rate_text="hourly_rate", currency_text="currency", capacity_text="capacity_tokens_per_hour", power_text="avg_power_watts",
    ),
    typed=f"""        lower(cluster_text) as cluster,
        {date_of('date_text')} as event_date,
        try_cast(count_text as decimal(38, 9)) as gpu_count,
        try_cast(hours_text as decimal(38, 6)) as hours,
        try_cast(rate_text as decimal(38, 9)) as hourly_rate,
        try_cast(capacity_text as decimal(38, 9)) as capacity_tokens_per_hour,
        try_cast(power_text as decimal(38, 9)) as avg_power_watts""",
    problems=f"""{required_field('cluster', 'cluster')}
            when not regexp_full_match(cluster, '{CLUSTER_PATTERN}') then 'cluster|not a cluster name (letters, digits, _ . -, as in provider self_hosted:<cluster>): {quoted_value('cluster')}
            {date_problems('date', 'date_text', 'event_date', future=True)}
            {required_field('gpu_type', 'gpu_type')}
            {number_problems('gpu_count', 'count_text', whole=True, positive=True, maximum=MAX_GPU_COUNT)}
            {number_problems('hours', 'hours_text', minimum=0, maximum=24)}
            {number_problems('hourly_rate', 'rate_text', minimum=0, maximum=MAX_HOURLY_RATE)}
            {currency_problems('currency', 'currency_text')}
            {number_problems('capacity_tokens_per_hour', 'capacity_text', required=False, whole=True, positive=True, maximum=MAX_CAPACITY_TOKENS_PER_HOUR)}
            {number_problems('avg_power_watts', 'power_text', required=False, positive=True, maximum=MAX_POWER_WATTS)}
{too_long({'cluster': 'cluster', 'gpu_type': 'gpu_type'})}""",
    columns="""    cluster,
    event_date,
    gpu_type,
    try_cast(gpu_count as bigint) as gpu_count,  -- computed on rejected rows too (1e20 is one)
    hours,
    hourly_rate,
    upper(currency_text) as currency,
    try_cast(capacity_tokens_per_hour as bigint) as capacity_tokens_per_hour,
    avg_power_watts,""",
)


def parse_gpu(data: bytes, name: str) -> ParseResult:
    """GPU capacity: one record per cluster, day and GPU type, with its hours, hourly rate and (optional) average
    power draw per GPU."""
    return judge(read_records(data, name), GPU_QUERY, GPU_SCHEMA)


# -- experiment assignments -----------------------------------------------------------------------

_EXPERIMENT_FIELDS = ("experiment", "variant", *UNIT_FIELDS, "assigned_at", "is_control")
_TRUE, _FALSE = ("true", "1", "yes", "t", "y"), ("false", "0", "no", "f", "n")

EXPERIMENTS_QUERY = judging_query(
    tuple(f for f in _EXPERIMENT_FIELDS if f != "user_id"),  # a rejected record keeps no raw user id
    texts=texts(
        experiment="experiment", variant="variant", user_id="user_id", conversation_id="conversation_id",
        customer_id="customer_id", ts_text="assigned_at", control_text="is_control",
    ),
    typed=f"""        {timestamptz('ts_text', OFFSET_REQUIRED)} as assigned_at,
        case when lower(control_text) in {_TRUE} then true when lower(control_text) in {_FALSE} then false end as is_control,
        (user_id is not null)::int + (conversation_id is not null)::int + (customer_id is not null)::int as units_named""",
    problems=f"""{required_field('experiment', 'experiment')}
            {required_field('variant', 'variant')}
            when units_named = 0 then 'user_id|missing: an assignment names one of user_id, conversation_id, customer_id'
            when units_named > 1 then 'user_id|an assignment names one unit, found ' || units_named || ' of user_id, conversation_id, customer_id'
            {timestamp_problems('assigned_at', 'ts_text', 'assigned_at')}
            when control_text is not null and is_control is null then 'is_control|not true or false: {quoted_value('control_text')}
{too_long({f: f for f in ('experiment', 'variant', *UNIT_FIELDS)})}""",
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


# -- overhead -------------------------------------------------------------------------------------

_OVERHEAD_FIELDS = ("category", "period_start", "period_end", "amount", "currency", "allocate_by", "provider", "cluster", "description")

OVERHEAD_QUERY = judging_query(
    _OVERHEAD_FIELDS,
    texts=texts(
        category_text="category", start_text="period_start", end_text="period_end", amount_text="amount", currency_text="currency",
        base_text="allocate_by", provider_text="provider", cluster_text="cluster", description="description",
    ),
    typed=f"""        lower(category_text) as category,
        {date_of('start_text')} as period_start,
        {date_of('end_text')} as period_end,
        try_cast(amount_text as decimal(38, 9)) as amount,
        case when lower(base_text) in {OVERHEAD_BASES} then lower(base_text)
             when lower(base_text) like 'feature:%' and trim(substr(base_text, 9)) <> '' then 'feature:' || trim(substr(base_text, 9))
        end as allocate_by,
        lower(provider_text) as provider,
        lower(cluster_text) as cluster""",
    problems=f"""{required_field('category', 'category_text')}
            when category not in {OVERHEAD_CATEGORIES} then 'category|not one of {", ".join(OVERHEAD_CATEGORIES)}: {quoted_value('category_text')}
            {date_problems('period_start', 'start_text', 'period_start', future=False)}
            {date_problems('period_end', 'end_text', 'period_end', future=False)}
            when period_end <= period_start then 'period_end|must be after period_start (the end is exclusive): {quoted_value('end_text')}
            when period_end - period_start > 3660 then 'period_end|a period longer than ten years is not plausible: {quoted_value('end_text')}
            {number_problems('amount', 'amount_text', magnitude=MAX_AMOUNT)}
            {currency_problems('currency', 'currency_text')}
            {required_field('allocate_by', 'base_text')}
            when allocate_by is null then 'allocate_by|not cost, tokens, requests or feature:<name>: {quoted_value('base_text')}
            when provider is not null and cluster is not null then 'cluster|give provider or cluster, not both: {quoted_value('cluster_text')}
            when starts_with(provider, 'self_hosted:') then 'provider|a self-hosted cluster goes in cluster: {quoted_value('provider_text')}
            when cluster is not null and not regexp_full_match(cluster, '{CLUSTER_PATTERN}') then 'cluster|not a cluster name (letters, digits, _ . -): {quoted_value('cluster_text')}
{too_long({'provider': 'provider', 'cluster': 'cluster', 'allocate_by': 'allocate_by', 'description': 'description'})}""",
    columns="""    category,
    period_start,
    period_end,
    amount,
    upper(currency_text) as currency,
    allocate_by,
    coalesce(provider, '') as provider,
    coalesce(cluster, '') as cluster,
    coalesce(description, '') as description,""",
)


def parse_overhead(data: bytes, name: str) -> ParseResult:
    """Overhead costs around inference (egress, storage, observability, ...): one record per bill and period, end
    exclusive, with the base it is spread over. Absent provider, cluster and description are kept as '' in the
    lake (they are part of the duplicate key; core.overhead shows null)."""
    return judge(read_records(data, name), OVERHEAD_QUERY, OVERHEAD_SCHEMA)


# -- carbon ---------------------------------------------------------------------------------------

_CARBON_FIELDS = ("date", "region", "gco2e_per_kwh")

CARBON_QUERY = judging_query(
    _CARBON_FIELDS,
    texts=texts(date_text="date", region_text="region", intensity_text="gco2e_per_kwh"),
    typed=f"""        {date_of('date_text')} as event_date,
        lower(region_text) as region,
        try_cast(intensity_text as decimal(38, 9)) as gco2e_per_kwh""",
    problems=f"""{date_problems('date', 'date_text', 'event_date', future=True)}
            {required_field('region', 'region_text')}
            {number_problems('gco2e_per_kwh', 'intensity_text', minimum=0, maximum=MAX_GCO2E_PER_KWH)}
{too_long({'region': 'region_text'})}""",
    columns="""    region,
    event_date,
    gco2e_per_kwh,""",
)


def parse_carbon(data: bytes, name: str) -> ParseResult:
    """Grid carbon intensity: one record per region and day, in grams CO2e per kWh."""
    return judge(read_records(data, name), CARBON_QUERY, CARBON_SCHEMA)


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
    # amount too: a credit note (or an add-on) for the period an invoice pays is a record of its own, not a repeat
    key=("customer_id", "period_start", "period_end", "plan", "amount"),
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

OVERHEAD = RecordSource(
    table="overhead",
    landing="overhead",
    formats={"overhead": RecordFormat(parse_overhead)},
    schema=OVERHEAD_SCHEMA,
    key=("category", "period_start", "period_end", "allocate_by", "provider", "cluster", "description"),
    dates="period_start",
)
"""The same bill landed again (same category, period, base, scope and description) replaces the earlier record."""

CARBON = RecordSource(
    table="carbon_intensity",
    landing="carbon",
    formats={"carbon": RecordFormat(parse_carbon)},
    schema=CARBON_SCHEMA,
    key=("region", "event_date"),
    dates="event_date",
)

SOURCES = (OUTCOMES, REVENUE, GPU, EXPERIMENTS, OVERHEAD, CARBON)
