"""What the spend report shows, read from the warehouse (read-only) and aggregated in DuckDB.

Every query groups in SQL; Python only divides a handful of aggregates (cost per request, per 1M
tokens, per outcome) in Decimal. A section whose table the pipeline has not built yet comes back with
`missing` set, and the page says "no data yet" for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb

from pipelines.anomalies import PARAMS as ANOMALY_PARAMS
from pipelines.budgets import BudgetError, budget_status, load_budgets, month_start, observed_month
from pipelines.home import Home
from pipelines.warehouse import connect, table_exists

BILLED_TOKENS = (
    "input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens"
    " + output_tokens + reasoning_tokens + audio_input_tokens + audio_output_tokens"
)
TOP = 10

CACHE_SQL = """
with requests as (
    select *
    from core.request_costs
    where is_priced and event_date >= $start and event_date < $end
),

rates as (
    -- the effective (negotiated where an override applied) per-1M rates of the price entry each request used
    select
        requests.feature,
        requests.cache_read_tokens,
        requests.cache_write_5m_tokens,
        requests.cache_write_1h_tokens,
        requests.cache_read_cost_usd,
        coalesce(1 - overrides.discount_pct * 0.01, 1) as multiplier,
        coalesce(overrides.input_per_mtok, prices.input_per_mtok * coalesce(1 - overrides.discount_pct * 0.01, 1)) as input_rate,
        coalesce(overrides.cache_read_per_mtok, prices.cache_read_per_mtok * coalesce(1 - overrides.discount_pct * 0.01, 1)) as cache_read_rate,
        coalesce(overrides.cache_write_5m_per_mtok, prices.cache_write_5m_per_mtok * coalesce(1 - overrides.discount_pct * 0.01, 1)) as cache_write_5m_rate,
        coalesce(overrides.cache_write_1h_per_mtok, prices.cache_write_1h_per_mtok * coalesce(1 - overrides.discount_pct * 0.01, 1)) as cache_write_1h_rate,
    from requests
    inner join reference.prices as prices on prices.price_id = requests.price_id
    left join reference.price_overrides as overrides on overrides.override_id = requests.override_id
)

select
    feature,
    cast(sum(cache_read_tokens) as bigint) as cached_tokens,
    cast(sum(cache_read_cost_usd) as decimal(38, 15)) as cached_cost_usd,
    cast(sum(cast(cache_read_tokens as decimal(38, 0)) * input_rate * 0.000001) as decimal(38, 15)) as uncached_cost_usd,
    cast(sum(cast(cache_read_tokens as decimal(38, 0)) * (input_rate - coalesce(cache_read_rate, input_rate)) * 0.000001) as decimal(38, 15)) as saved_usd,
    cast(sum(
        (cast(cache_write_5m_tokens as decimal(38, 0)) * (coalesce(cache_write_5m_rate, input_rate) - input_rate)
         + cast(cache_write_1h_tokens as decimal(38, 0)) * (coalesce(cache_write_1h_rate, cache_write_5m_rate, input_rate) - input_rate)) * 0.000001
    ) as decimal(38, 15)) as write_premium_usd,
from rates
group by feature
order by saved_usd desc, feature
"""


@dataclass
class Section:
    """Rows of one part of the report, or why there are none."""

    rows: list[dict] = field(default_factory=list)
    missing: str | None = None
    """Set when the table behind the section does not exist yet: the page says so."""


@dataclass
class ReportData:
    built_at: dt.datetime
    month: str | None
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    requests: int = 0
    unpriced_requests: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    features: list[str] = field(default_factory=list)
    trend: Section = field(default_factory=Section)
    models: Section = field(default_factory=Section)
    feature_models: Section = field(default_factory=Section)
    unit_costs: Section = field(default_factory=Section)
    outcomes: Section = field(default_factory=Section)
    cache: Section = field(default_factory=Section)
    segments: Section = field(default_factory=Section)
    customers: Section = field(default_factory=Section)
    revenue: Section = field(default_factory=Section)
    reconciliation: Section = field(default_factory=Section)
    reconciliation_days: Section = field(default_factory=Section)
    unpriced: Section = field(default_factory=Section)
    anomaly_scores: Section = field(default_factory=Section)
    anomalies: Section = field(default_factory=Section)
    budgets: Section = field(default_factory=Section)
    budget_error: str | None = None
    scenarios: Section = field(default_factory=Section)

    @property
    def has_data(self) -> bool:
        return self.first_day is not None


def load_report_data(home: Home, month: str | None = None, built_at: dt.datetime | None = None) -> ReportData:
    """Everything the page shows; `month` (YYYY-MM) limits it to one calendar month."""
    if month is not None:
        month_start(month)
    data = ReportData(built_at=built_at or dt.datetime.now(dt.timezone.utc), month=month)
    if not home.warehouse.is_file():
        _mark_all_missing(data, "no data yet: no warehouse yet, run `tokenledger run` first")
        return data
    with connect(home, read_only=True) as con:
        _load(con, home, data)
    return data


def _mark_all_missing(data: ReportData, reason: str) -> None:
    for name, value in vars(data).items():
        if isinstance(value, Section):
            value.missing = reason


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> list[dict]:
    cursor = con.execute(sql, params or {})
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _section(con, table: str, sql: str, params: dict) -> Section:
    if not table_exists(con, table):
        return Section(missing=f"no data yet: {table} has not been built")
    return Section(rows=_rows(con, sql, params))


def _ratio(numerator: Decimal | None, denominator, scale: int = 1) -> Decimal | None:
    if numerator is None or not denominator:
        return None
    return Decimal(numerator) * scale / Decimal(denominator)


def _load(con: duckdb.DuckDBPyConnection, home: Home, data: ReportData) -> None:
    if not table_exists(con, "marts.daily_spend"):
        _mark_all_missing(data, "no data yet: marts.daily_spend has not been built")
        _load_budgets(con, home, data)
        return
    if data.month:
        start = month_start(data.month)
        end = (start + dt.timedelta(days=32)).replace(day=1)
    else:
        start, end = dt.date.min, dt.date.max
    window = {"start": start, "end": end}
    summary = _rows(
        con,
        f"""
        select min(event_date) as first_day, max(event_date) as last_day, coalesce(sum(requests), 0) as requests,
               coalesce(sum(unpriced_requests), 0) as unpriced_requests, coalesce(sum({BILLED_TOKENS}), 0) as tokens,
               coalesce(sum(cost_usd), 0) as cost_usd
        from marts.daily_spend where event_date >= $start and event_date < $end
        """,
        window,
    )[0]
    data.first_day, data.last_day = summary["first_day"], summary["last_day"]
    data.requests, data.unpriced_requests = int(summary["requests"]), int(summary["unpriced_requests"])
    data.tokens, data.cost_usd = int(summary["tokens"]), Decimal(summary["cost_usd"])
    data.features = [r[0] for r in con.execute(
        "select distinct feature from marts.daily_spend where event_date >= $start and event_date < $end order by 1", window
    ).fetchall()]

    data.trend = Section(rows=_rows(con, """
        select event_date, feature, cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd, sum(requests) as requests
        from marts.daily_spend where event_date >= $start and event_date < $end
        group by all order by event_date, feature
    """, window))
    data.models = Section(rows=_rows(con, f"""
        select provider, model, sum(requests) as requests, cast(sum({BILLED_TOKENS}) as bigint) as tokens,
               cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd, sum(unpriced_requests) as unpriced_requests
        from marts.daily_spend where event_date >= $start and event_date < $end
        group by all order by cost_usd desc, requests desc
    """, window))
    data.feature_models = Section(rows=_rows(con, """
        select feature, provider || '/' || model as model, cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd
        from marts.daily_spend where event_date >= $start and event_date < $end
        group by all order by feature, cost_usd desc
    """, window))
    unit = _rows(con, f"""
        select feature, count(*) as requests, count(*) filter (where is_priced) as priced_requests,
               cast(coalesce(sum({BILLED_TOKENS}) filter (where is_priced), 0) as bigint) as priced_tokens,
               cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd
        from core.request_costs where event_date >= $start and event_date < $end
        group by feature order by cost_usd desc, feature
    """, window) if table_exists(con, "core.request_costs") else []
    for row in unit:
        row["cost_per_request_usd"] = _ratio(row["cost_usd"], row["priced_requests"])
        row["cost_per_1m_tokens_usd"] = _ratio(row["cost_usd"], row["priced_tokens"], 1_000_000)
    data.unit_costs = Section(rows=unit)

    data.outcomes = _section(con, "marts.cost_per_outcome", """
        select feature, outcome_type, sum(outcomes) as outcomes, sum(requests) as requests, cast(sum(cost_usd) as decimal(38, 15)) as cost_usd
        from marts.cost_per_outcome where event_date >= $start and event_date < $end
        group by all order by feature, outcome_type
    """, window)
    for row in data.outcomes.rows:
        row["cost_per_outcome_usd"] = _ratio(row["cost_usd"], row["outcomes"])

    if table_exists(con, "core.request_costs") and table_exists(con, "reference.prices") and table_exists(con, "reference.price_overrides"):
        data.cache = Section(rows=_rows(con, CACHE_SQL, window))
        for row in data.cache.rows:
            row["net_saved_usd"] = (row["saved_usd"] or Decimal(0)) - (row["write_premium_usd"] or Decimal(0))
    else:
        data.cache = Section(missing="no data yet: core.request_costs or the price book has not been built")

    data.segments = Section(rows=_rows(con, """
        select user_segment, sum(requests) as requests, cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd,
               sum(unpriced_requests) as unpriced_requests
        from marts.daily_spend where event_date >= $start and event_date < $end
        group by all order by cost_usd desc
    """, window))
    for row in data.segments.rows:
        row["share"] = _ratio(row["cost_usd"], data.cost_usd, 100)
    data.customers = _section(con, "core.request_costs", f"""
        select coalesce(customer_id, '(none)') as customer_id, any_value(user_segment) as user_segment, count(*) as requests,
               cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd
        from core.request_costs where event_date >= $start and event_date < $end
        group by 1 order by cost_usd desc, customer_id limit {TOP}
    """, window)
    revenue_window = {"start": start.strftime("%Y-%m") if data.month else "", "end": data.month or "9999-12"}
    data.revenue = _section(con, "marts.revenue_ratio", f"""
        select customer_id, any_value(user_segment) as user_segment, cast(sum(revenue_usd) as decimal(38, 15)) as revenue_usd,
               cast(sum(cost_usd) as decimal(38, 15)) as cost_usd, cast(sum(gross_margin_usd) as decimal(38, 15)) as gross_margin_usd
        from marts.revenue_ratio where left(cast(month as varchar), 7) >= $start and left(cast(month as varchar), 7) <= $end
        group by customer_id order by cost_usd desc nulls last limit {TOP * 2}
    """, revenue_window)
    for row in data.revenue.rows:
        row["cost_to_revenue_pct"] = _ratio(row["cost_usd"], row["revenue_usd"], 100)

    data.reconciliation = _section(con, "marts.billing_reconciliation", """
        select status, count(*) as rows, cast(coalesce(sum(estimated_cost_usd), 0) as decimal(38, 15)) as estimated_cost_usd,
               cast(coalesce(sum(billed_cost_usd), 0) as decimal(38, 15)) as billed_cost_usd,
               cast(coalesce(sum(variance_usd), 0) as decimal(38, 15)) as variance_usd
        from marts.billing_reconciliation where charge_date >= $start and charge_date < $end
        group by status order by status
    """, window)
    data.reconciliation_days = _section(con, "marts.billing_reconciliation", f"""
        select charge_date, provider, model, estimated_cost_usd, billed_cost_usd, variance_usd, variance_pct, status
        from marts.billing_reconciliation where charge_date >= $start and charge_date < $end and status <> 'matched'
        order by abs(coalesce(variance_usd, 0)) desc limit {TOP * 2}
    """, window)

    data.unpriced = _section(con, "core.request_costs", f"""
        select provider, model, unpriced_reason, count(*) as requests, cast(sum({BILLED_TOKENS}) as bigint) as tokens,
               min(event_date) as first_seen, max(event_date) as last_seen
        from core.request_costs where not is_priced and event_date >= $start and event_date < $end
        group by all order by requests desc, provider, model
    """, window)

    data.anomaly_scores = _section(con, "marts.spend_anomalies", """
        select event_date, subject as feature, robust_score, is_anomaly, cost_usd, baseline_median_usd
        from marts.spend_anomalies where dimension = 'feature' and event_date >= $start and event_date < $end
        order by event_date, subject
    """, window)
    data.anomalies = _section(con, "marts.spend_anomalies", """
        select event_date, dimension, subject, provider, cost_usd, baseline_median_usd, robust_score, direction, cause, requests
        from marts.spend_anomalies where is_anomaly and event_date >= $start and event_date < $end
        order by event_date desc, abs(robust_score) desc
    """, window)

    _load_budgets(con, home, data)
    scenario_month = data.month or (data.last_day.strftime("%Y-%m") if data.last_day else "")
    data.scenarios = _section(con, "marts.scenarios", """
        select scenario_id, kind, month, feature, to_model, share, growth_factor, requests, actual_usd, scenario_usd,
               baseline_month_end_usd, scenario_month_end_usd, delta_month_end_usd, first_day, last_day, description, built_at
        from marts.scenarios where month = $month
        order by kind, feature, scenario_id, growth_factor
    """, {"month": scenario_month})


def _load_budgets(con: duckdb.DuckDBPyConnection, home: Home, data: ReportData) -> None:
    try:
        budgets = load_budgets(home.root)
    except BudgetError as exc:
        data.budget_error = str(exc)
        data.budgets = Section(missing="budgets.yaml is invalid")
        return
    if not budgets:
        data.budgets = Section(missing="no budgets yet: add budgets.yaml to the home folder (monthly USD per feature and per segment)")
        return
    if observed_month(con, data.month) is None:
        data.budgets = Section(missing="no spend in this month yet")
        return
    data.budgets = Section(rows=budget_status(con, budgets, data.month).to_pylist())


ANOMALY_THRESHOLD = ANOMALY_PARAMS["threshold"]
