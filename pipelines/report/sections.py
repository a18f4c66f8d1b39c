"""The sections of the spend report, in page order: each a chart (or a few) with its numbers in a table behind it.

A section renders from the report data alone and never disappears: where its table does not exist yet or has no
rows for the period, it says so in a "no data yet" note.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from html import escape
from typing import NamedTuple

from pipelines.insights.anomalies import CAUSES
from pipelines.insights.anomalies import PARAMS as ANOMALY_PARAMS
from pipelines.insights.whatif import ALL_FEATURES
from pipelines.report.blocks import (
    MAX_BARS,
    as_float,
    axis_pct,
    axis_plain,
    axis_usd,
    bars,
    count,
    data_table,
    empty,
    no_data,
    pct,
    top,
    unit_usd,
    usd,
)
from pipelines.report.chargeback import chargeback
from pipelines.report.charts import bar_chart, interval_chart, line_chart, scatter_chart
from pipelines.report.cost_sections import energy, full_cost, per_outcome, self_hosted
from pipelines.report.data import ANOMALY_THRESHOLD, ReportData

NO_SPEND = "no data yet: no spend for this period"


def _trend(data: ReportData) -> str:
    if note := no_data(data.trend, "no data yet: no spend in marts.daily_spend for this period"):
        return note
    rows = data.trend.rows
    days = sorted({row["event_date"] for row in rows})
    cost = {(row["event_date"], row["feature"]): row["cost_usd"] for row in rows}
    features = sorted({row["feature"] for row in rows}, key=lambda f: -sum(as_float(cost.get((d, f))) for d in days))
    # a day without requests of a feature spent $0; a day whose requests of it are all unpriced has no known cost (None)
    series = [(feature, [None if (c := cost.get((day, feature), 0)) is None else float(c) for day in days]) for feature in features]
    chart = line_chart("Daily spend per feature (USD)", [d.isoformat() for d in days], series, axis_usd)
    table_rows = []
    for day in days:
        costs = [cost.get((day, f), Decimal(0)) for f in features]
        table_rows.append([day.isoformat(), *[usd(c) for c in costs], usd(sum((c for c in costs if c is not None), Decimal(0)))])
    totals = [sum((c for d in days if (c := cost.get((d, f), Decimal(0))) is not None), Decimal(0)) for f in features]
    table_rows.append(["total", *[usd(t) for t in totals], usd(data.cost_usd)])
    numeric = set(range(1, len(features) + 2))
    return chart + data_table("daily spend per feature, USD", ["date", *features, "total"], table_rows, numeric)


def _models(data: ReportData) -> str:
    if note := no_data(data.models, "no data yet: no spend in marts.daily_spend for this period"):
        return note
    rows = data.models.rows
    shown = rows[:MAX_BARS]
    chart = bars("Share of spend per model", [f"{row['provider']}/{row['model']}" for row in shown], shown,
                 [("share of spend", "share_pct")], axis_pct, pct)
    table_rows = [
        [row["provider"], row["model"], count(row["requests"]), count(row["tokens"]), usd(row["cost_usd"]), pct(row["share_pct"]),
         count(row["unpriced_requests"])]
        for row in rows
    ]
    mix_table = data_table("spend per model", ["provider", "model", "requests", "tokens", "cost", "share", "unpriced requests"],
                           table_rows, {2, 3, 4, 5, 6})

    by_feature: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in data.feature_models.rows:
        by_feature[row["feature"]][row["model"]] = row
    models = [f"{row['provider']}/{row['model']}" for row in rows if row["cost_usd"]]
    features = sorted(by_feature)
    priced = {feature: any(r["share_pct"] is not None for r in by_feature[feature].values()) for feature in features}
    share = {(feature, model): row["share_pct"] for feature in features for model, row in by_feature[feature].items()}
    stacked_series = [(model, [as_float(share.get((feature, model))) for feature in features]) for model in models]
    stacked = bar_chart(
        "Model mix within each feature (share of the feature's spend)", features, stacked_series, axis_pct, stacked=True,
        value_labels=[[pct(share.get((feature, model))) for feature in features] for model in models]
        + [["100%" if priced[feature] else "no priced spend" for feature in features]],
    )
    feature_rows = [
        [row["feature"], row["model"], usd(row["cost_usd"]), pct(row["share_pct"]), count(row["unpriced_requests"])]
        for row in data.feature_models.rows
    ]
    return (
        chart + mix_table + "<h3>Model mix per feature</h3>" + stacked
        + data_table("spend per feature and model", ["feature", "model", "cost", "share of feature", "unpriced requests"],
                     feature_rows, {2, 3, 4})
    )


def _unit_costs(data: ReportData) -> str:
    if note := no_data(data.unit_costs, "no data yet: no priced requests in core.request_costs for this period"):
        return note
    rows = data.unit_costs.rows
    names = [row["feature"] for row in rows]
    per_request = bars("Cost per request by feature", names, rows, [("cost per request", "cost_per_request_usd")],
                       axis_usd, unit_usd)
    per_mtok = bars("Cost per 1M tokens by feature", names, rows, [("cost per 1M tokens", "cost_per_1m_tokens_usd")],
                    axis_usd, unit_usd)
    table_rows = [
        [r["feature"], count(r["requests"]), count(r["priced_requests"]), count(r["priced_tokens"]), usd(r["cost_usd"]),
         unit_usd(r["cost_per_request_usd"]), unit_usd(r["cost_per_1m_tokens_usd"])]
        for r in rows
    ]
    headers = ["feature", "requests", "priced requests", "priced tokens", "cost (inference only)", "per request", "per 1M tokens"]
    return (
        "<h3>Per request</h3>" + per_request + "<h3>Per 1M billed tokens</h3>" + per_mtok
        + data_table("unit costs per feature (priced requests only, inference only)", headers, table_rows, {1, 2, 3, 4, 5, 6})
        + "<h3>Per outcome</h3>" + per_outcome(data)
    )


def _cache(data: ReportData) -> str:
    if data.cache.missing:
        return empty(data.cache.missing)
    rows = [r for r in data.cache.rows if r["cached_tokens"] or r["write_premium_usd"]]
    if not rows:
        return empty("no cached tokens in this period")
    chart = bars("Cache savings by feature", [r["feature"] for r in rows], rows,
                 [("saved on cache reads", "saved_usd"), ("extra paid for cache writes", "write_premium_usd")], axis_usd)
    money = ("cached_cost_usd", "uncached_cost_usd", "saved_usd", "write_premium_usd", "net_saved_usd")
    table_rows = [[r["feature"], count(r["cached_tokens"]), *[usd(r[k]) for k in money]] for r in rows]
    totals = [sum((r[k] or Decimal(0) for r in rows), Decimal(0)) for k in money]
    table_rows.append(["total", count(sum(r["cached_tokens"] or 0 for r in rows)), *[usd(t) for t in totals]])
    return chart + data_table(
        "cache savings per feature",
        ["feature", "cached tokens", "paid for them", "at the uncached input price", "saved", "cache-write premium", "net saved"],
        table_rows,
        {1, 2, 3, 4, 5, 6},
    )


def _customers(data: ReportData) -> str:
    return (
        _segments(data) + "<h3>Top customers by cost</h3>" + _top_customers(data)
        + "<h3>Cost to revenue</h3>" + _cost_to_revenue(data)
    )


def _segments(data: ReportData) -> str:
    if note := no_data(data.segments, NO_SPEND):
        return note
    rows = data.segments.rows
    table_rows = [
        [r["user_segment"], count(r["requests"]), usd(r["cost_usd"]), pct(r["share_pct"]), count(r["unpriced_requests"])]
        for r in rows
    ]
    return (
        "<h3>Segments</h3>"
        + bars("Spend per user segment", [r["user_segment"] for r in rows], rows, [("cost", "cost_usd")], axis_usd)
        + data_table("spend per segment", ["segment", "requests", "cost", "share", "unpriced requests"], table_rows, {1, 2, 3, 4})
    )


def _top_customers(data: ReportData) -> str:
    if note := no_data(data.customers, "no requests for this period"):
        return note
    rows = data.customers.rows
    table_rows = [[r["customer_id"], r["user_segment"] or "", count(r["requests"]), usd(r["cost_usd"])] for r in rows]
    return (
        bars("Top customers by cost", [r["customer_id"] for r in rows], rows, [("cost", "cost_usd")], axis_usd)
        + data_table("top customers", ["customer", "segment", "requests", "cost"], table_rows, {2, 3})
    )


def _cost_to_revenue(data: ReportData) -> str:
    if data.revenue.missing:
        return empty(data.revenue.missing + " (revenue records give cost-to-revenue and gross margin per customer)")
    if not any(r["revenue_usd"] for r in data.revenue.rows):
        return empty(
            "no revenue recorded for this period: land revenue records to see cost to revenue and gross margin per customer"
        )
    ranked = top([r for r in data.revenue.rows if r["cost_to_revenue_pct"] is not None], "cost_to_revenue_pct")
    chart = ""
    if ranked:
        chart = bars("Cost to revenue per customer (highest first)", [r["customer_id"] for r in ranked], ranked,
                     [("inference cost / revenue", "cost_to_revenue_pct")], axis_pct, pct)
    table_rows = [
        [r["customer_id"], r["user_segment"] or "", usd(r["revenue_usd"]), usd(r["cost_usd"]), pct(r["cost_to_revenue_pct"]),
         usd(r["gross_margin_usd"])]
        for r in data.revenue.rows
    ]
    headers = ["customer", "segment", "revenue", "inference cost", "cost / revenue", "gross margin"]
    return chart + data_table("cost to revenue per customer", headers, table_rows, {2, 3, 4, 5})


def _budgets(data: ReportData) -> str:
    if data.budget_error:
        return f'<p class="error">{escape(data.budget_error)}</p>'
    no_budgets = "no budgets yet: add budgets.yaml to the home folder (monthly USD per feature and per segment)"
    if note := no_data(data.budgets, no_budgets):
        return note
    rows = data.budgets.rows
    first = rows[0]
    chart = bars(
        f"Budgets for {first['month']}: budget, spent so far and month-end projection",
        [f"{r['scope']}: {r['name']}" for r in rows], rows,
        [("budget", "budget_usd"), ("spent so far", "spent_usd"), ("projected month end", "projected_usd")], axis_usd,
    )
    note = (
        f"<p class=\"note\">Month {escape(first['month'])}: {first['days_observed']} days observed "
        f"({first['first_day']} .. {first['last_day']}), {first['days_remaining']} days left of {first['days_in_month']}. "
        "Projection = spent + spent / days observed × days left.</p>"
    )
    table_rows = [
        [r["scope"], r["name"], usd(r["budget_usd"]), usd(r["spent_usd"]), usd(r["burn_rate_usd_per_day"]),
         usd(r["projected_usd"]), pct(r["projected_pct_of_budget"]), count(r["unpriced_requests"]), r["status"]]
        for r in rows
    ]
    headers = ["scope", "name", "budget", "spent", "burn per day", "projected", "projected / budget", "unpriced requests",
               "status"]
    return note + chart + data_table("budget status", headers, table_rows, {2, 3, 4, 5, 6, 7}, status_column=8, open_=True)


def _anomalies(data: ReportData) -> str:
    if note := no_data(data.anomaly_scores, NO_SPEND):
        return note
    scores = data.anomaly_scores.rows
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
    chart = line_chart("Robust spend score per feature and day", [d.isoformat() for d in days], series, axis_plain,
                       markers=markers, guides=[(threshold, f"+{threshold}"), (-threshold, f"-{threshold}")])
    score_rows = [[d.isoformat(), *[_score(by_key.get((d, f))) for f in features]] for d in days]
    scores_table = data_table("robust score per feature and day (⚑ flagged)", ["date", *features], score_rows,
                              set(range(1, len(features) + 1)))
    return chart + scores_table + _flagged(data)


def _score(row: dict | None) -> str:
    """A day's robust score to two places, marked ⚑ when flagged; blank without one."""
    if row is None or row["robust_score"] is None:
        return ""
    return f"{row['robust_score']:.2f}" + (" ⚑" if row["is_anomaly"] else "")


def _flagged(data: ReportData) -> str:
    flagged = data.anomalies.rows
    if not flagged:
        return '<p class="note">No day is flagged in this period.</p>'
    table_rows = [
        [r["event_date"].isoformat(), r["dimension"], (f"{r['provider']}/" if r["provider"] else "") + r["subject"],
         usd(r["cost_usd"]), usd(r["baseline_median_usd"]), f"{r['robust_score']:.1f}", r["direction"], r["cause"],
         CAUSES.get(r["cause"], "")]
        for r in flagged
    ]
    headers = ["date", "by", "feature or model", "spend", "baseline median", "score", "direction", "cause", "why"]
    return data_table(f"{len(flagged)} flagged days", headers, table_rows, {3, 4, 5}, open_=True)


def _scenarios(data: ReportData) -> str:
    no_scenarios = "no scenarios for this month yet: `tokenledger whatif --feature F --to-model M` adds one"
    if note := no_data(data.scenarios, no_scenarios):
        return note
    rows = data.scenarios.rows
    growth = [r for r in rows if r["kind"] == "growth" and r["feature"] == ALL_FEATURES]
    parts = []
    if growth:
        first = growth[0]
        parts.append(
            f"<p class=\"note\"><span class=\"estimate\">estimate</span> Month {escape(first['month'])}: "
            f"projected from {first['first_day']} .. {first['last_day']} ({escape(usd(first['actual_usd']))} so far).</p>"
        )
        parts.append(bars("Month-end spend, all features, at 1×, 2×, 3× and 10× the volume",
                          [f"{r['growth_factor']}×" for r in growth], growth, [("projected month end", "scenario_month_end_usd")],
                          axis_usd))
    switches = [r for r in rows if r["kind"] == "model_switch" and r["growth_factor"] == 1]
    if switches:
        labels = [f"{r['feature']} → {r['to_model']} ({pct(r['share'] * 100, 0)})" for r in switches]
        parts.append(bars("Model-switch what-ifs: month-end spend now and under the scenario", labels, switches,
                          [("as is", "baseline_month_end_usd"), ("scenario", "scenario_month_end_usd")], axis_usd))
    table_rows = [
        [r["kind"], r["feature"], r["to_model"] or "", pct(r["share"] * 100, 0) if r["share"] is not None else "",
         f"{r['growth_factor']}×", usd(r["actual_usd"]), usd(r["scenario_usd"]), usd(r["baseline_month_end_usd"]),
         usd(r["scenario_month_end_usd"]), usd(r["delta_month_end_usd"]), r["description"]]
        for r in rows
    ]
    headers = ["kind", "feature", "to model", "share", "growth", "month to date", "scenario to date",
               "month end as is", "month end scenario", "delta", "what it assumes"]
    parts.append(data_table("scenarios (estimates)", headers, table_rows, {5, 6, 7, 8, 9}))
    return "".join(parts)


def _estimate(row: dict) -> str:
    """A status's estimate: the sum of its rows' estimates, and how many rows have none (only unpriced requests)."""
    known = usd(row["estimated_cost_usd"])
    unknown = row["unknown_estimates"]
    return f"{known} + {count(unknown)} unpriced" if unknown else known


def _reconciliation(data: ReportData) -> str:
    about = " (provider bills reconcile the estimate from request logs)"
    if note := no_data(data.reconciliation, "no billing rows for this period", about):
        return note
    rows = data.reconciliation.rows
    chart = bars("Estimated vs billed by reconciliation status", [r["status"] for r in rows], rows,
                 [("estimated", "estimated_cost_usd"), ("billed", "billed_cost_usd")], axis_usd)
    table_rows = [
        [r["status"], count(r["rows"]), _estimate(r), usd(r["billed_cost_usd"]), usd(r["variance_usd"])]
        for r in rows
    ]
    body = chart + data_table("reconciliation by status", ["status", "rows", "estimated", "billed", "variance"], table_rows,
                              {1, 2, 3, 4}, status_column=0, open_=True)
    if data.reconciliation_days.rows:
        day_rows = [
            [r["charge_date"], r["provider"], r["model"] or "(all models)", usd(r["estimated_cost_usd"]),
             usd(r["billed_cost_usd"]), usd(r["variance_usd"]), pct(r["variance_pct"]), r["status"]]
            for r in data.reconciliation_days.rows
        ]
        headers = ["date", "provider", "model", "estimated", "billed", "variance", "variance %", "status"]
        body += data_table("largest differences", headers, day_rows, {3, 4, 5, 6}, status_column=7)
    return body


def _coverage(data: ReportData) -> str:
    text = (
        f"<p><b>{pct(data.unpriced_pct, 2)}</b> of requests ({count(data.unpriced_requests)} of {count(data.requests)}) "
        "have no price: they are not counted as $0 — every cost on this page leaves them out, so it is a floor.</p>"
    )
    if data.unpriced.missing:
        return empty(data.unpriced.missing)
    rows = data.unpriced.rows
    if not rows:
        return text + '<p class="note">Every request in this period is priced.</p>'
    shown = rows[:MAX_BARS]
    labels = [f"{r['provider']}/{r['model']} ({r['unpriced_reason']})" for r in shown]
    chart = bars("Unpriced requests by model and reason", labels, shown, [("requests", "requests")], axis_plain, count)
    table_rows = [
        [r["provider"], r["model"], r["unpriced_reason"], count(r["requests"]), count(r["tokens"]), r["first_seen"],
         r["last_seen"]]
        for r in rows
    ]
    headers = ["provider", "model", "reason", "requests", "tokens", "first seen", "last seen"]
    return text + chart + data_table("unpriced requests", headers, table_rows, {3, 4})


_EXPERIMENT_METRICS = (
    ("cost_per_outcome", "Cost per outcome"),
    ("outcome_rate", "Outcome rate"),
    ("p95_latency", "p95 latency"),
)


def _experiments(data: ReportData) -> str:
    note = no_data(data.experiments, "no experiments: tag requests with tags.experiment and tags.variant, "
                   "or land assignments in landing/experiments (docs/experiments.md)")
    if note:
        return note
    rows = data.experiments.rows
    # every variant that is not a control gets a row, those with a verdict first
    compared = sorted((r for r in rows if not r["is_control"]), key=lambda r: r["verdict"] == "too_few_units")
    labels = [f"{r['experiment']} · {r['feature']} · {r['variant']}" for r in compared]
    charts = []
    for metric, name in _EXPERIMENT_METRICS:
        points = [None if r[f"{metric}_ratio"] is None else float(r[f"{metric}_ratio"]) for r in compared]
        intervals = [
            (r[f"{metric}_ratio_low"], r[f"{metric}_ratio_high"]) if r[f"{metric}_ratio_low"] is not None else None for r in compared
        ]
        values = [
            ("n/a" if r[f"{metric}_ratio"] is None else f"x{r[f'{metric}_ratio']:.3f}") + f" {r[f'{metric}_verdict']}".replace("_", " ")
            for r in compared
        ]
        title = f"{name}: variant / control, 95% simultaneous interval"
        if all(point is None for point in points):
            charts.append(f'<h3 class="feature">{escape(title)}</h3>' + empty(f"no {name.lower()} to compare yet"))
            continue
        charts.append(f'<h3 class="feature">{escape(title)}</h3>'
                      + interval_chart(title, labels, points, intervals, lambda v: f"x{v:.2f}", values))
    headers = ["experiment", "feature", "variant", "units", "requests", "cost", "outcomes", "outcome rate", "per outcome",
               "p95 ms", "verdict"]
    table_rows = [
        [r["experiment"], r["feature"], r["variant"] + (" (control)" if r["is_control"] else ""), count(r["units"]), count(r["requests"]),
         usd(r["cost_usd"]), count(r["outcomes"]), f"{r['outcome_rate']:.3f}", unit_usd(r["cost_per_outcome"]),
         "" if r["p95_latency_ms"] is None else count(r["p95_latency_ms"]), "" if r["is_control"] else r["verdict"].replace("_", " ")]
        for r in rows
    ]
    warnings = sorted({r["experiment"] for r in rows if r["sample_ratio_mismatch"]})
    conflicts = {r["experiment"]: r["conflicting_units"] for r in rows if r["conflicting_units"]}
    text = "".join(
        [f'<p class="note">Sample-ratio mismatch in {escape(", ".join(warnings))}: the split of units does not match the design, '
         "so those verdicts are suspect.</p>" if warnings else ""]
        + [f'<p class="note">{escape(e)}: {n:,} units were in two variants and are left out.</p>' for e, n in sorted(conflicts.items())]
    )
    return text + "".join(charts) + data_table("experiment variants", headers, table_rows, {3, 4, 5, 6, 7, 8, 9}, open_=True)


def _latency_cost(data: ReportData) -> str:
    note = no_data(data.latency_cost, NO_SPEND)
    if note:
        return note
    by_feature: dict[str, list[dict]] = defaultdict(list)
    for row in data.latency_cost.rows:
        if row["p95_latency_ms"] is not None and row["cost_per_request"] is not None:
            by_feature[row["feature"]].append(row)
    parts = []
    for feature, rows in sorted(by_feature.items()):
        names = [f"{r['provider']}/{r['model']}" for r in rows]
        labels = [f"{unit_usd(r['cost_per_request'])} per request, p95 {count(round(r['p95_latency_ms']))} ms, "
                  f"{r['outcome_rate']:.3f} outcomes per request" for r in rows]
        best = next((n for n, r in zip(names, rows) if r["is_best"]), None)
        parts.append(f'<h3 class="feature">{escape(feature)}</h3>')
        if best:
            parts.append(f'<p class="note">★ {escape(best)}: the cheapest model at an outcome rate and p95 at least as good as '
                         f"the most-used model's.</p>")
        parts.append(scatter_chart(
            f"Latency vs cost: {feature}", names, [float(r["p95_latency_ms"]) for r in rows], [as_float(r["cost_per_request"]) for r in rows],
            lambda v: f"{v:,.0f}", axis_usd, labels, [bool(r["is_best"]) for r in rows], "p95 latency, ms", "cost per request",
        ))
    headers = ["feature", "model", "requests", "cost", "per request", "outcomes", "outcome rate", "p95 ms"]
    table_rows = [
        [r["feature"], f"{r['provider']}/{r['model']}" + (" ★" if r["is_best"] else ""), count(r["requests"]), usd(r["cost_usd"]),
         unit_usd(r["cost_per_request"]), count(r["outcomes"]), f"{r['outcome_rate']:.3f}",
         "" if r["p95_latency_ms"] is None else count(round(r["p95_latency_ms"]))]
        for r in data.latency_cost.rows
    ]
    return "".join(parts) + data_table("latency and cost per model", headers, table_rows, {2, 3, 4, 5, 6, 7})


class PageSection(NamedTuple):
    anchor: str
    nav: str
    """The section's name in the navigation bar."""
    title: str
    note: str
    """HTML under the title: what the section shows."""
    render: Callable[[ReportData], str]


SECTIONS = (
    PageSection("trend", "Spend trend", "Spend trend per feature",
                "Daily inference cost of priced requests, per feature (API prices and GPU bills, no overhead: see Full cost).",
                _trend),
    PageSection("models", "Model mix", "Model mix", "Which models the spend goes to, overall and inside each feature.", _models),
    PageSection("unit-costs", "Unit costs", "Unit costs",
                "Inference only (API prices and GPU bills, no overhead): cost per request, per 1M billed tokens (every token "
                "bucket) and per business outcome, where the full cost per outcome (overhead included) stands beside it.",
                _unit_costs),
    PageSection("full-cost", "Full cost", "Full cost per feature",
                "The full cost of each feature: inference (API), self-hosted GPU cost, its share of idle GPU capacity and "
                "the overhead around inference (egress, storage, observability, load balancing, engineering, other), "
                "every overhead bill allocated to the cent. Every other section shows inference-only cost.", full_cost),
    PageSection("self-hosted", "Self-hosted vs API", "Self-hosted vs API",
                "Per cluster, in its latest month: what a self-hosted token costs at each utilization of the cluster "
                "(the GPU bill over the tokens served), against each compared API model's price for the same requests, "
                "and the utilization where they break even.", self_hosted),
    PageSection("energy", "Energy & carbon", "Energy and carbon",
                "Energy (kWh) and emissions (kg CO2e) per feature, measured and estimated apart; "
                "requests without a figure are unknown, not zero.", energy),
    PageSection("cache", "Cache savings", "Cache savings",
                "What cached input tokens saved against the uncached input price of the same price entry "
                "(negotiated rates applied), and what cache writes cost above it.", _cache),
    PageSection("customers", "Segments & customers", "Segments and customers",
                "Spend per user segment and the customers who cost the most; "
                "cost to revenue where revenue is known.", _customers),
    PageSection("budgets", "Budgets", "Budgets",
                "Monthly budgets from budgets.yaml against spend so far "
                "and the month-end projection at the current burn rate.", _budgets),
    PageSection("chargeback", "Chargeback", "Chargeback",
                "Per payer of chargeback.yaml, its statement of the latest period: the charge after its monthly allowance, "
                "the cost, the margin, the allowance used, draft or final, and what changed after a close; earlier periods "
                "in a table. Amounts here are in each payer's currency.", chargeback),
    PageSection("anomalies", "Anomalies", "Anomalies",
                f"Each day's spend against the median of the {ANOMALY_PARAMS['baseline_days']} days before it; "
                "robust score = (spend − median) / (1.4826 × MAD). "
                f"Days at |score| ≥ {ANOMALY_THRESHOLD} are flagged with their main cause.", _anomalies),
    PageSection("scenarios", "What-if", "What-if scenarios",
                '<span class="estimate">estimates</span> Growth projections of the month '
                "and model-switch what-ifs re-priced from real token usage.", _scenarios),
    PageSection("experiments", "Experiments", "Experiments",
                "Each variant against its control: cost per outcome, outcome rate and p95 latency as ratios with 95% "
                "simultaneous intervals (a cluster bootstrap over units). Experiments are compared over all their units, "
                "whatever the month.", _experiments),
    PageSection("latency-cost", "Latency vs cost", "Latency vs cost",
                "Each model of a feature at its p95 latency (the request-weighted mean of daily p95) and cost per request.",
                _latency_cost),
    PageSection("reconciliation", "Reconciliation", "Reconciliation with provider bills",
                "Estimated cost from request logs beside what providers billed.", _reconciliation),
    PageSection("coverage", "Price coverage", "Price coverage", "Requests to models the price book does not price.", _coverage),
)
"""The page's sections in order: anchor, name in the navigation bar, title, note and renderer."""
