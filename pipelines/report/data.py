"""What the spend report shows, read from the marts (read-only) by the selects in sql/report/.

Every number on the page comes from a mart through one of those files: sums, shares and unit costs are
computed in SQL in exact decimals. A section whose mart the pipeline has not built yet comes back with
`missing` set, and the page says "no data yet" for it. Budgets of a month other than the one
marts.budget_status holds (the latest with spend) are projected by the mart's own logic for that month.
The home's budgets.yaml and chargeback.yaml are read too, to say what is wrong with them or whether they exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb

from pipelines.insights.anomalies import PARAMS as ANOMALY_PARAMS
from pipelines.insights.budgets import BudgetError, budget_status, load_budgets, month_start, observed_month
from pipelines.insights.chargeback import ChargebackError, load_chargeback
from pipelines.storage.database import bound, connect, sql_text, table_exists
from pipelines.storage.home import Home

ANOMALY_THRESHOLD = ANOMALY_PARAMS["threshold"]

# Section -> (the marts its select reads, sql/report/<file>).
SECTIONS = {
    "trend": (("marts.daily_spend",), "trend"),
    "models": (("marts.daily_spend",), "models"),
    "feature_models": (("marts.daily_spend",), "feature_models"),
    "unit_costs": (("marts.unit_economics_by_feature",), "unit_costs"),
    "outcomes": (("marts.cost_per_outcome",), "outcomes"),
    "outcomes_full_cost": (("marts.cost_per_outcome",), "full_cost_per_outcome"),
    "full_cost": (("marts.full_cost",), "full_cost"),
    "breakeven": (("marts.self_host_breakeven",), "breakeven"),
    "energy": (("marts.energy_carbon",), "energy"),
    "energy_sources": (("marts.energy_carbon",), "energy_sources"),
    "cache": (("marts.cache_savings",), "cache"),
    "segments": (("marts.daily_spend",), "segments"),
    "customers": (("marts.revenue_ratio",), "customers"),
    "revenue": (("marts.revenue_ratio",), "revenue"),
    "reconciliation": (("marts.billing_reconciliation",), "reconciliation"),
    "reconciliation_days": (("marts.billing_reconciliation",), "reconciliation_days"),
    "unpriced": (("marts.price_coverage_daily",), "unpriced"),
    "anomaly_scores": (("marts.spend_anomalies",), "anomaly_scores"),
    "anomalies": (("marts.spend_anomalies",), "anomalies"),
    "scenarios": (("marts.scenarios",), "scenarios"),
    "experiments": (("marts.experiment_results",), "experiments"),
    "latency_cost": (("marts.latency_cost",), "latency_cost"),
    "chargeback": (("marts.chargeback_statements", "marts.chargeback_lines"), "chargeback"),
}


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
    cost_per_request_usd: Decimal | None = None
    cost_per_1m_tokens_usd: Decimal | None = None
    net_saved_usd: Decimal | None = None
    unpriced_pct: Decimal | None = None
    features: list[str] = field(default_factory=list)
    trend: Section = field(default_factory=Section)
    models: Section = field(default_factory=Section)
    feature_models: Section = field(default_factory=Section)
    unit_costs: Section = field(default_factory=Section)
    outcomes: Section = field(default_factory=Section)
    outcomes_full_cost: Section = field(default_factory=Section)
    full_cost: Section = field(default_factory=Section)
    breakeven: Section = field(default_factory=Section)
    energy: Section = field(default_factory=Section)
    energy_sources: Section = field(default_factory=Section)
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
    experiments: Section = field(default_factory=Section)
    latency_cost: Section = field(default_factory=Section)
    chargeback: Section = field(default_factory=Section)
    chargeback_payers: int = 0
    """The payers of the home's chargeback.yaml (0: no file)."""
    chargeback_error: str | None = None
    closes: list[dict] = field(default_factory=list)
    """The closed months of the window (sql/report/closes.sql): the header says which ones its figures restate."""

    @property
    def has_data(self) -> bool:
        return self.first_day is not None


def load_report_data(home: Home, month: str | None = None, built_at: dt.datetime | None = None) -> ReportData:
    """Everything the page shows; `month` (YYYY-MM) limits it to one calendar month."""
    if month is not None:
        month_start(month)
    data = ReportData(built_at=built_at or dt.datetime.now(dt.timezone.utc), month=month)
    _load_chargeback_file(home, data)
    if not home.warehouse.is_file():
        _mark_all_missing(data, "no data yet: no warehouse yet, run `tokenledger run` first")
        return data
    with connect(home, read_only=True) as con:
        _load(con, home, data)
    return data


def _mark_all_missing(data: ReportData, reason: str) -> None:
    for value in vars(data).values():
        if isinstance(value, Section):
            value.missing = reason


def _rows(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> list[dict]:
    sql = sql_text(f"report/{name}")
    cursor = con.execute(sql, bound(sql, params))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _section(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...], name: str, params: dict) -> Section:
    missing = [table for table in tables if not table_exists(con, table)]
    if missing:
        return Section(missing=f"no data yet: {missing[0]} has not been built")
    return Section(rows=_rows(con, name, params))


def _window(month: str | None) -> dict:
    """The report's parameters: event dates [start, end) and months start_month .. end_month."""
    if month is None:
        return {"start": dt.date.min, "end": dt.date.max, "start_month": "", "end_month": "9999-12"}
    start = month_start(month)
    return {"start": start, "end": (start + dt.timedelta(days=32)).replace(day=1), "start_month": month, "end_month": month}


def _load(con: duckdb.DuckDBPyConnection, home: Home, data: ReportData) -> None:
    if not table_exists(con, "marts.daily_spend"):
        _mark_all_missing(data, "no data yet: marts.daily_spend has not been built")
        _load_budgets(con, home, data)
        return
    window = _window(data.month)
    if all(table_exists(con, t) for t in ("marts.unit_economics_by_feature", "marts.cache_savings")):
        summary = _rows(con, "summary", window)[0]
        data.first_day, data.last_day = summary["first_day"], summary["last_day"]
        data.requests, data.unpriced_requests, data.tokens = int(summary["requests"]), int(summary["unpriced_requests"]), int(summary["tokens"])
        data.cost_usd = Decimal(summary["cost_usd"])
        data.cost_per_request_usd, data.cost_per_1m_tokens_usd = summary["cost_per_request_usd"], summary["cost_per_1m_tokens_usd"]
        data.net_saved_usd, data.unpriced_pct = summary["net_saved_usd"], summary["unpriced_pct"]
    data.features = [row["feature"] for row in _rows(con, "features", window)]
    if table_exists(con, "finance.closed_periods"):
        data.closes = _rows(con, "closes", window)
    scenario_month = data.month or (data.last_day.strftime("%Y-%m") if data.last_day else "")
    for name, (tables, query) in SECTIONS.items():
        setattr(data, name, _section(con, tables, query, {**window, "month": scenario_month}))
    _load_budgets(con, home, data)


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
    span = observed_month(con, data.month)
    if span is None:
        data.budgets = Section(missing="no spend in this month yet")
        return
    kept = _rows(con, "budgets", {"month": span.month}) if table_exists(con, "marts.budget_status") else []
    data.budgets = Section(rows=kept or budget_status(con, budgets, data.month).to_pylist())


def _load_chargeback_file(home: Home, data: ReportData) -> None:
    try:
        data.chargeback_payers = load_chargeback(home.root).payers.num_rows
    except ChargebackError as exc:
        data.chargeback_error = str(exc)
