"""The spend report as one self-contained HTML page: inline CSS, inline SVG charts, one tiny inline script.

Every chart has its numbers in a table right behind it (a <details> toggle); sections whose table does
not exist yet say "no data yet" instead of disappearing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from html import escape

from pipelines.insights.anomalies import CAUSES
from pipelines.insights.anomalies import PARAMS as ANOMALY_PARAMS
from pipelines.insights.whatif import ALL_FEATURES
from pipelines.report.charts import bar_chart, line_chart
from pipelines.report.data import ANOMALY_THRESHOLD, ReportData

MAX_BARS = 12

CSS = """
:root { --ink: #1d2330; --muted: #5b6474; --line: #d9dee7; --bg: #f6f7fa; --card: #fff; --accent: #4e79a7; --warn: #b45309; --bad: #b91c1c; --ok: #15803d; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--ink); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 20px 32px 16px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: #cfd6e4; }
nav { padding: 8px 32px; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; white-space: nowrap; }
nav button { float: right; font: inherit; padding: 2px 10px; border: 1px solid var(--line); border-radius: 4px; background: #fff; cursor: pointer; }
main { padding: 16px 32px 40px; max-width: 1280px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 8px 0 16px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.kpi b { display: block; font-size: 20px; }
.kpi span { color: var(--muted); font-size: 12px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 0 0 16px; }
section h2 { margin: 0 0 6px; font-size: 18px; }
section h3 { margin: 14px 0 4px; font-size: 15px; }
.note { color: var(--muted); margin: 2px 0 8px; }
.empty { color: var(--warn); background: #fff7ed; border: 1px solid #fed7aa; border-radius: 6px; padding: 8px 12px; }
.error { color: var(--bad); background: #fef2f2; border: 1px solid #fecaca; border-radius: 6px; padding: 8px 12px; white-space: pre-wrap; }
.estimate { display: inline-block; background: #eef2ff; color: #3730a3; border-radius: 4px; padding: 0 6px; font-size: 12px; }
svg.chart { max-width: 900px; display: block; margin: 6px 0; }
svg.chart text { fill: var(--ink); font-family: inherit; }
svg.chart .axis, svg.chart .legend { fill: var(--muted); }
svg.chart .grid { stroke: #e8ebf1; }
svg.chart .guide { stroke: var(--bad); stroke-dasharray: 4 3; }
svg.chart .axisline { stroke: #9aa3b2; }
details { margin: 4px 0 8px; }
summary { cursor: pointer; color: var(--accent); }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f1f3f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.status-on_track, .status-matched { color: var(--ok); }
.status-projected_over, .status-under_billed, .status-estimated_only { color: var(--warn); font-weight: 600; }
.status-over_budget, .status-over_billed, .status-billed_only { color: var(--bad); font-weight: 600; }
footer { color: var(--muted); padding: 0 32px 32px; }
"""

SCRIPT = """
document.getElementById('toggle-tables').addEventListener('click', function (event) {
  var all = document.querySelectorAll('details.data');
  var open = event.target.getAttribute('data-open') !== 'true';
  all.forEach(function (d) { d.open = open; });
  event.target.setAttribute('data-open', String(open));
  event.target.textContent = open ? 'Hide all tables' : 'Show all tables';
});
"""

SECTIONS = (
    ("trend", "Spend trend"),
    ("models", "Model mix"),
    ("unit-costs", "Unit costs"),
    ("cache", "Cache savings"),
    ("customers", "Segments & customers"),
    ("budgets", "Budgets"),
    ("anomalies", "Anomalies"),
    ("scenarios", "What-if"),
    ("reconciliation", "Reconciliation"),
    ("coverage", "Price coverage"),
)


# -- formatting -----------------------------------------------------------------------------------

def usd(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "n/a"
    quantized = Decimal(value).quantize(Decimal(1).scaleb(-places))
    return f"-${-quantized:,}" if quantized < 0 else f"${quantized:,}"


def unit_usd(value: Decimal | None) -> str:
    """A small unit cost with enough places to be readable: $0.002916, $0.0537, $12.34."""
    if value is None:
        return "n/a"
    size = abs(Decimal(value))
    return usd(value, 6 if size < Decimal("0.01") else 4 if size < 1 else 2)


def pct(value: Decimal | None, places: int = 1) -> str:
    return "n/a" if value is None else f"{Decimal(value).quantize(Decimal(1).scaleb(-places)):,}%"


def count(value) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def axis_usd(value: float) -> str:
    size = abs(value)
    if size == 0:
        return "$0"
    if size >= 1000:
        return f"${value:,.0f}"
    if size >= 1:
        return f"${value:,.2f}".rstrip("0").rstrip(".")
    return f"${value:.4f}".rstrip("0")


def axis_pct(value: float) -> str:
    return f"{value:.0f}%"


def axis_plain(value: float) -> str:
    return f"{value:g}"


# -- building blocks ------------------------------------------------------------------------------

def table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: set[int] | None = None, status_column: int | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            css = "num" if i in numeric else f"status-{value}" if i == status_column else ""
            cells.append(f'<td class="{css}">{escape(str(value))}</td>' if css else f"<td>{escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def data_table(caption: str, headers, rows, numeric=None, status_column=None, open_: bool = False) -> str:
    return (
        f'<details class="data"{" open" if open_ else ""}><summary>Table: {escape(caption)}</summary>'
        + table(headers, rows, numeric, status_column)
        + "</details>"
    )


def empty(message: str) -> str:
    return f'<p class="empty">{escape(message)}</p>'


def section(anchor: str, title: str, note: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2><p class="note">{note}</p>{body}</section>'


def _f(value) -> float:
    """Decimal to float, for chart geometry only."""
    return float(value or 0)


def _top(rows: list[dict], key: str, limit: int = MAX_BARS) -> list[dict]:
    return sorted(rows, key=lambda row: row[key] or 0, reverse=True)[:limit]


# -- sections -------------------------------------------------------------------------------------

def _trend(data: ReportData) -> str:
    if data.trend.missing:
        return empty(data.trend.missing)
    rows = data.trend.rows
    if not rows:
        return empty("no data yet: no spend in marts.daily_spend for this period")
    days = sorted({row["event_date"] for row in rows})
    cost = {(row["event_date"], row["feature"]): row["cost_usd"] for row in rows}
    features = sorted({row["feature"] for row in rows}, key=lambda f: -sum(_f(cost.get((d, f))) for d in days))
    series = [(feature, [_f(cost.get((day, feature), 0)) for day in days]) for feature in features]
    chart = line_chart("Daily spend per feature (USD)", [d.isoformat() for d in days], series, axis_usd)
    table_rows = [
        [day.isoformat()] + [usd(cost.get((day, f), Decimal(0))) for f in features] + [usd(sum((cost.get((day, f), Decimal(0)) for f in features), Decimal(0)))]
        for day in days
    ]
    table_rows.append(["total"] + [usd(sum((cost.get((d, f), Decimal(0)) for d in days), Decimal(0))) for f in features] + [usd(data.cost_usd)])
    numeric = set(range(1, len(features) + 2))
    return chart + data_table("daily spend per feature, USD", ["date", *features, "total"], table_rows, numeric)


def _models(data: ReportData) -> str:
    if data.models.missing:
        return empty(data.models.missing)
    rows = data.models.rows
    if not rows:
        return empty("no data yet: no spend in marts.daily_spend for this period")
    top = rows[:MAX_BARS]
    names = [f"{row['provider']}/{row['model']}" for row in top]
    chart = bar_chart("Share of spend per model", names, [("share of spend", [_f(r["share_pct"]) for r in top])], axis_pct,
                      value_labels=[[pct(r["share_pct"]) for r in top]])
    table_rows = [
        [row["provider"], row["model"], count(row["requests"]), count(row["tokens"]), usd(row["cost_usd"]), pct(row["share_pct"]),
         count(row["unpriced_requests"])]
        for row in rows
    ]
    mix_table = data_table("spend per model", ["provider", "model", "requests", "tokens", "cost", "share", "unpriced requests"], table_rows, {2, 3, 4, 5, 6})

    by_feature: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in data.feature_models.rows:
        by_feature[row["feature"]][row["model"]] = row
    models = [f"{row['provider']}/{row['model']}" for row in rows if row["cost_usd"]]
    features = sorted(by_feature)
    priced = {feature: any(r["share_pct"] is not None for r in by_feature[feature].values()) for feature in features}
    share = {(feature, model): row["share_pct"] for feature in features for model, row in by_feature[feature].items()}
    stacked_series = [(model, [_f(share.get((feature, model))) for feature in features]) for model in models]
    stacked = bar_chart(
        "Model mix within each feature (share of the feature's spend)", features, stacked_series, axis_pct, stacked=True,
        value_labels=[[pct(share.get((feature, model))) for feature in features] for model in models]
        + [["100%" if priced[feature] else "no priced spend" for feature in features]],
    )
    feature_rows = [[row["feature"], row["model"], usd(row["cost_usd"]), pct(row["share_pct"])] for row in data.feature_models.rows]
    return (
        chart + mix_table + "<h3>Model mix per feature</h3>" + stacked
        + data_table("spend per feature and model", ["feature", "model", "cost", "share of feature"], feature_rows, {2, 3})
    )


def _unit_costs(data: ReportData) -> str:
    if data.unit_costs.missing:
        return empty(data.unit_costs.missing)
    rows = data.unit_costs.rows
    if not rows:
        return empty("no data yet: no priced requests in core.request_costs for this period")
    names = [row["feature"] for row in rows]
    per_request = bar_chart("Cost per request by feature", names, [("cost per request", [_f(r["cost_per_request_usd"]) for r in rows])], axis_usd,
                            value_labels=[[unit_usd(r["cost_per_request_usd"]) for r in rows]])
    per_mtok = bar_chart("Cost per 1M tokens by feature", names, [("cost per 1M tokens", [_f(r["cost_per_1m_tokens_usd"]) for r in rows])], axis_usd,
                         value_labels=[[unit_usd(r["cost_per_1m_tokens_usd"]) for r in rows]])
    table_rows = [
        [r["feature"], count(r["requests"]), count(r["priced_requests"]), count(r["priced_tokens"]), usd(r["cost_usd"]),
         unit_usd(r["cost_per_request_usd"]), unit_usd(r["cost_per_1m_tokens_usd"])]
        for r in rows
    ]
    body = (
        "<h3>Per request</h3>" + per_request + "<h3>Per 1M billed tokens</h3>" + per_mtok
        + data_table("unit costs per feature (priced requests only)",
                     ["feature", "requests", "priced requests", "priced tokens", "cost", "per request", "per 1M tokens"], table_rows, {1, 2, 3, 4, 5, 6})
    )
    body += "<h3>Per outcome</h3>"
    if data.outcomes.missing:
        return body + empty(data.outcomes.missing + " (outcome events link requests to resolved tickets, accepted suggestions…)")
    outcomes = [r for r in data.outcomes.rows if r["outcomes"]]
    if not outcomes:
        return body + empty("no outcomes recorded for this period")
    labels = [f"{r['feature']} · {r['outcome_type']}" for r in outcomes]
    chart = bar_chart("Cost per outcome", labels, [("cost per outcome", [_f(r["cost_per_outcome_usd"]) for r in outcomes])], axis_usd,
                      value_labels=[[unit_usd(r["cost_per_outcome_usd"]) for r in outcomes]])
    table_rows = [
        [r["feature"], r["outcome_type"], count(r["outcomes"]), count(r["requests"]), usd(r["cost_usd"]), unit_usd(r["cost_per_outcome_usd"])]
        for r in data.outcomes.rows
    ]
    return body + chart + data_table("cost per outcome", ["feature", "outcome", "outcomes", "requests", "cost", "per outcome"], table_rows, {2, 3, 4, 5})


def _cache(data: ReportData) -> str:
    if data.cache.missing:
        return empty(data.cache.missing)
    rows = [r for r in data.cache.rows if r["cached_tokens"] or r["write_premium_usd"]]
    if not rows:
        return empty("no cached tokens in this period")
    names = [r["feature"] for r in rows]
    chart = bar_chart(
        "Cache savings by feature",
        names,
        [("saved on cache reads", [_f(r["saved_usd"]) for r in rows]), ("extra paid for cache writes", [_f(r["write_premium_usd"]) for r in rows])],
        axis_usd,
        value_labels=[[usd(r["saved_usd"]) for r in rows], [usd(r["write_premium_usd"]) for r in rows]],
    )
    table_rows = [
        [r["feature"], count(r["cached_tokens"]), usd(r["cached_cost_usd"]), usd(r["uncached_cost_usd"]), usd(r["saved_usd"]),
         usd(r["write_premium_usd"]), usd(r["net_saved_usd"])]
        for r in rows
    ]
    totals = [sum((r[k] or Decimal(0) for r in rows), Decimal(0)) for k in ("cached_cost_usd", "uncached_cost_usd", "saved_usd", "write_premium_usd", "net_saved_usd")]
    table_rows.append(["total", count(sum(r["cached_tokens"] or 0 for r in rows)), *[usd(t) for t in totals]])
    return chart + data_table(
        "cache savings per feature",
        ["feature", "cached tokens", "paid for them", "at the uncached input price", "saved", "cache-write premium", "net saved"],
        table_rows,
        {1, 2, 3, 4, 5, 6},
    )


def _customers(data: ReportData) -> str:
    parts = []
    if data.segments.missing:
        parts.append(empty(data.segments.missing))
    elif data.segments.rows:
        rows = data.segments.rows
        parts.append("<h3>Segments</h3>" + bar_chart("Spend per user segment", [r["user_segment"] for r in rows],
                                                     [("cost", [_f(r["cost_usd"]) for r in rows])], axis_usd, value_labels=[[usd(r["cost_usd"]) for r in rows]]))
        parts.append(data_table("spend per segment", ["segment", "requests", "cost", "share", "unpriced requests"],
                                [[r["user_segment"], count(r["requests"]), usd(r["cost_usd"]), pct(r["share_pct"]), count(r["unpriced_requests"])] for r in rows],
                                {1, 2, 3, 4}))
    else:
        parts.append(empty("no data yet: no spend for this period"))
    parts.append("<h3>Top customers by cost</h3>")
    if data.customers.missing:
        parts.append(empty(data.customers.missing))
    elif data.customers.rows:
        rows = data.customers.rows
        parts.append(bar_chart("Top customers by cost", [r["customer_id"] for r in rows], [("cost", [_f(r["cost_usd"]) for r in rows])], axis_usd,
                               value_labels=[[usd(r["cost_usd"]) for r in rows]]))
        parts.append(data_table("top customers", ["customer", "segment", "requests", "cost"],
                                [[r["customer_id"], r["user_segment"] or "", count(r["requests"]), usd(r["cost_usd"])] for r in rows], {2, 3}))
    else:
        parts.append(empty("no requests for this period"))
    parts.append("<h3>Cost to revenue</h3>")
    if data.revenue.missing:
        parts.append(empty(data.revenue.missing + " (revenue records give cost-to-revenue and gross margin per customer)"))
    elif any(r["revenue_usd"] for r in data.revenue.rows):
        rows = [r for r in data.revenue.rows if r["cost_to_revenue_pct"] is not None]
        ranked = _top(rows, "cost_to_revenue_pct")
        if ranked:
            parts.append(bar_chart("Cost to revenue per customer (highest first)", [r["customer_id"] for r in ranked],
                                   [("inference cost / revenue", [_f(r["cost_to_revenue_pct"]) for r in ranked])], axis_pct,
                                   value_labels=[[pct(r["cost_to_revenue_pct"]) for r in ranked]]))
        parts.append(data_table("cost to revenue per customer", ["customer", "segment", "revenue", "inference cost", "cost / revenue", "gross margin"],
                                [[r["customer_id"], r["user_segment"] or "", usd(r["revenue_usd"]), usd(r["cost_usd"]), pct(r["cost_to_revenue_pct"]),
                                  usd(r["gross_margin_usd"])] for r in data.revenue.rows], {2, 3, 4, 5}))
    else:
        parts.append(empty("no revenue recorded for this period: land revenue records to see cost to revenue and gross margin per customer"))
    return "".join(parts)


def _budgets(data: ReportData) -> str:
    if data.budget_error:
        return f'<p class="error">{escape(data.budget_error)}</p>'
    if data.budgets.missing:
        return empty(data.budgets.missing)
    rows = data.budgets.rows
    if not rows:
        return empty("no budgets yet: add budgets.yaml to the home folder (monthly USD per feature and per segment)")
    first = rows[0]
    names = [f"{r['scope']}: {r['name']}" for r in rows]
    chart = bar_chart(
        f"Budgets for {first['month']}: budget, spent so far and month-end projection",
        names,
        [("budget", [_f(r["budget_usd"]) for r in rows]), ("spent so far", [_f(r["spent_usd"]) for r in rows]),
         ("projected month end", [_f(r["projected_usd"]) for r in rows])],
        axis_usd,
        value_labels=[[usd(r["budget_usd"]) for r in rows], [usd(r["spent_usd"]) for r in rows], [usd(r["projected_usd"]) for r in rows]],
    )
    note = (
        f"<p class=\"note\">Month {escape(first['month'])}: {first['days_observed']} days observed "
        f"({first['first_day']} .. {first['last_day']}), {first['days_remaining']} days left of {first['days_in_month']}. "
        "Projection = spent + spent / days observed × days left.</p>"
    )
    table_rows = [
        [r["scope"], r["name"], usd(r["budget_usd"]), usd(r["spent_usd"]), usd(r["burn_rate_usd_per_day"]), usd(r["projected_usd"]),
         pct(r["projected_pct_of_budget"]), count(r["unpriced_requests"]), r["status"]]
        for r in rows
    ]
    return note + chart + data_table(
        "budget status", ["scope", "name", "budget", "spent", "burn per day", "projected", "projected / budget", "unpriced requests", "status"],
        table_rows, {2, 3, 4, 5, 6, 7}, status_column=8, open_=True,
    )


def _anomalies(data: ReportData) -> str:
    if data.anomaly_scores.missing:
        return empty(data.anomaly_scores.missing)
    scores = data.anomaly_scores.rows
    if not scores:
        return empty("no data yet: no spend for this period")
    days = sorted({r["event_date"] for r in scores})
    features = sorted({r["feature"] for r in scores})
    by_key = {(r["event_date"], r["feature"]): r for r in scores}
    series, markers = [], set()
    for s_index, feature in enumerate(features):
        points = []
        for d_index, day in enumerate(days):
            row = by_key.get((day, feature))
            points.append(row["robust_score"] if row and row["robust_score"] is not None else None)
            if row and row["is_anomaly"]:
                markers.add((s_index, d_index))
        series.append((feature, points))
    threshold = ANOMALY_THRESHOLD
    chart = line_chart("Robust spend score per feature and day", [d.isoformat() for d in days], series, axis_plain, markers=markers,
                       guides=[(threshold, f"+{threshold}"), (-threshold, f"-{threshold}")])
    flagged = data.anomalies.rows
    if flagged:
        listing = data_table(
            f"{len(flagged)} flagged days", ["date", "by", "feature or model", "spend", "baseline median", "score", "direction", "cause", "why"],
            [[r["event_date"].isoformat(), r["dimension"], (f"{r['provider']}/" if r["provider"] else "") + r["subject"], usd(r["cost_usd"]),
              usd(r["baseline_median_usd"]), f"{r['robust_score']:.1f}", r["direction"], r["cause"], CAUSES.get(r["cause"], "")] for r in flagged],
            {3, 4, 5}, open_=True,
        )
    else:
        listing = '<p class="note">No day is flagged in this period.</p>'
    score_rows = [[d.isoformat()] + [("" if by_key.get((d, f)) is None or by_key[(d, f)]["robust_score"] is None
                                      else f"{by_key[(d, f)]['robust_score']:.2f}" + (" ⚑" if by_key[(d, f)]["is_anomaly"] else "")) for f in features]
                  for d in days]
    return chart + data_table("robust score per feature and day (⚑ flagged)", ["date", *features], score_rows, set(range(1, len(features) + 1))) + listing


def _scenarios(data: ReportData) -> str:
    if data.scenarios.missing:
        return empty(data.scenarios.missing)
    rows = data.scenarios.rows
    if not rows:
        return empty("no scenarios for this month yet: `tokenledger whatif --feature F --to-model M` adds one")
    growth = [r for r in rows if r["kind"] == "growth" and r["feature"] == ALL_FEATURES]
    parts = []
    if growth:
        first = growth[0]
        parts.append(
            f"<p class=\"note\"><span class=\"estimate\">estimate</span> Month {escape(first['month'])}: "
            f"projected from {first['first_day']} .. {first['last_day']} ({escape(usd(first['actual_usd']))} so far).</p>"
        )
        parts.append(bar_chart("Month-end spend, all features, at 1×, 2×, 3× and 10× the volume", [f"{r['growth_factor']}×" for r in growth],
                               [("projected month end", [_f(r["scenario_month_end_usd"]) for r in growth])], axis_usd,
                               value_labels=[[usd(r["scenario_month_end_usd"]) for r in growth]]))
    switches = [r for r in rows if r["kind"] == "model_switch" and r["growth_factor"] == 1]
    if switches:
        labels = [f"{r['feature']} → {r['to_model']} ({pct(r['share'] * 100, 0)})" for r in switches]
        parts.append(bar_chart("Model-switch what-ifs: month-end spend now and under the scenario", labels,
                               [("as is", [_f(r["baseline_month_end_usd"]) for r in switches]), ("scenario", [_f(r["scenario_month_end_usd"]) for r in switches])],
                               axis_usd, value_labels=[[usd(r["baseline_month_end_usd"]) for r in switches], [usd(r["scenario_month_end_usd"]) for r in switches]]))
    table_rows = [
        [r["kind"], r["feature"], r["to_model"] or "", pct(r["share"] * 100, 0) if r["share"] is not None else "", f"{r['growth_factor']}×",
         usd(r["actual_usd"]), usd(r["scenario_usd"]), usd(r["baseline_month_end_usd"]), usd(r["scenario_month_end_usd"]), usd(r["delta_month_end_usd"]),
         r["description"]]
        for r in rows
    ]
    parts.append(data_table("scenarios (estimates)", ["kind", "feature", "to model", "share", "growth", "month to date", "scenario to date",
                                                      "month end as is", "month end scenario", "delta", "what it assumes"],
                            table_rows, {5, 6, 7, 8, 9}))
    return "".join(parts)


def _reconciliation(data: ReportData) -> str:
    if data.reconciliation.missing:
        return empty(data.reconciliation.missing + " (provider bills reconcile the estimate from request logs)")
    rows = data.reconciliation.rows
    if not rows:
        return empty("no billing rows for this period")
    chart = bar_chart("Estimated vs billed by reconciliation status", [r["status"] for r in rows],
                      [("estimated", [_f(r["estimated_cost_usd"]) for r in rows]), ("billed", [_f(r["billed_cost_usd"]) for r in rows])], axis_usd,
                      value_labels=[[usd(r["estimated_cost_usd"]) for r in rows], [usd(r["billed_cost_usd"]) for r in rows]])
    body = chart + data_table("reconciliation by status", ["status", "rows", "estimated", "billed", "variance"],
                              [[r["status"], count(r["rows"]), usd(r["estimated_cost_usd"]), usd(r["billed_cost_usd"]), usd(r["variance_usd"])] for r in rows],
                              {1, 2, 3, 4}, status_column=0, open_=True)
    if data.reconciliation_days.rows:
        body += data_table("largest differences", ["date", "provider", "model", "estimated", "billed", "variance", "variance %", "status"],
                           [[r["charge_date"], r["provider"], r["model"] or "(all models)", usd(r["estimated_cost_usd"]), usd(r["billed_cost_usd"]),
                             usd(r["variance_usd"]), pct(r["variance_pct"]) if r["variance_pct"] is not None else "n/a", r["status"]]
                            for r in data.reconciliation_days.rows], {3, 4, 5, 6}, status_column=7)
    return body


def _coverage(data: ReportData) -> str:
    text = (
        f"<p><b>{pct(data.unpriced_pct, 2)}</b> of requests ({count(data.unpriced_requests)} of {count(data.requests)}) have no price: "
        "they are not counted as $0 — every cost on this page leaves them out, so it is a floor.</p>"
    )
    if data.unpriced.missing:
        return empty(data.unpriced.missing)
    rows = data.unpriced.rows
    if not rows:
        return text + '<p class="note">Every request in this period is priced.</p>'
    top = rows[:MAX_BARS]
    chart = bar_chart("Unpriced requests by model and reason", [f"{r['provider']}/{r['model']} ({r['unpriced_reason']})" for r in top],
                      [("requests", [float(r["requests"]) for r in top])], axis_plain, value_labels=[[count(r["requests"]) for r in top]])
    return text + chart + data_table("unpriced requests", ["provider", "model", "reason", "requests", "tokens", "first seen", "last seen"],
                                     [[r["provider"], r["model"], r["unpriced_reason"], count(r["requests"]), count(r["tokens"]), r["first_seen"], r["last_seen"]]
                                      for r in rows], {3, 4})


# -- the page -------------------------------------------------------------------------------------

def _kpis(data: ReportData) -> str:
    tiles = [
        (usd(data.cost_usd), "total spend (priced requests)"),
        (count(data.requests), "requests"),
        (unit_usd(data.cost_per_request_usd), "cost per request"),
        (unit_usd(data.cost_per_1m_tokens_usd), "cost per 1M tokens"),
        (usd(data.net_saved_usd if not data.cache.missing else None), "net cache savings"),
        (pct(data.unpriced_pct, 2), "requests without a price"),
    ]
    return '<div class="kpis">' + "".join(f'<div class="kpi"><b>{escape(v)}</b><span>{escape(label)}</span></div>' for v, label in tiles) + "</div>"


def render(data: ReportData) -> str:
    """The whole page as one HTML string."""
    built = data.built_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if data.has_data:
        days = (data.last_day - data.first_day).days + 1
        covers = f"Data: event dates {data.first_day} to {data.last_day} ({days} day{'s' if days != 1 else ''}"
        covers += f", month {data.month})" if data.month else ", everything in the warehouse)"
        covers += f" · {count(data.requests)} requests · {len(data.features)} features"
    else:
        covers = "Data: none yet" + (f" for {data.month}" if data.month else "") + " — run `tokenledger run` to fill the warehouse"
    feature_list = ", ".join(data.features) if data.features else "none yet"
    nav = "".join(f'<a href="#{anchor}">{escape(title)}</a>' for anchor, title in SECTIONS)
    body = [
        section("trend", "Spend trend per feature", "Daily cost of priced requests, per feature.", _trend(data)),
        section("models", "Model mix", "Which models the spend goes to, overall and inside each feature.", _models(data)),
        section("unit-costs", "Unit costs", "Cost per request, per 1M billed tokens (every token bucket) and per business outcome.", _unit_costs(data)),
        section("cache", "Cache savings",
                "What cached input tokens saved against the uncached input price of the same price entry (negotiated rates applied), "
                "and what cache writes cost above it.", _cache(data)),
        section("customers", "Segments and customers", "Spend per user segment and the customers who cost the most; cost to revenue where revenue is known.",
                _customers(data)),
        section("budgets", "Budgets", "Monthly budgets from budgets.yaml against spend so far and the month-end projection at the current burn rate.",
                _budgets(data)),
        section("anomalies", "Anomalies",
                f"Each day's spend against the median of the {ANOMALY_PARAMS['baseline_days']} days before it; robust score = (spend − median) / (1.4826 × MAD). "
                f"Days at |score| ≥ {ANOMALY_THRESHOLD} are flagged with their main cause.", _anomalies(data)),
        section("scenarios", "What-if scenarios",
                '<span class="estimate">estimates</span> Growth projections of the month and model-switch what-ifs re-priced from real token usage.',
                _scenarios(data)),
        section("reconciliation", "Reconciliation with provider bills", "Estimated cost from request logs beside what providers billed.", _reconciliation(data)),
        section("coverage", "Price coverage", "Requests to models the price book does not price.", _coverage(data)),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tokenledger spend report{' — ' + escape(data.month) if data.month else ''}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>AI inference spend report</h1><p id=\"covers\">{escape(covers)}</p>"
        f"<p id=\"built\">Built {escape(built)} from the tokenledger warehouse · amounts in USD</p>"
        f"<p id=\"features\">Features: {escape(feature_list)}</p></header>"
        f'<nav>{nav}<button id="toggle-tables" type="button" data-open="false">Show all tables</button></nav>'
        f"<main>{_kpis(data)}{''.join(body)}</main>"
        "<footer>Money is computed in exact decimals and rounded only for display. Costs of requests without a price are left out, never "
        "counted as $0. Scenarios are estimates.</footer>"
        f"<script>{SCRIPT}</script></body></html>"
    )
