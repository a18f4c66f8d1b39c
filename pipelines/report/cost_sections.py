"""The report's parts on what inference costs beyond its price: the full cost per feature, cost per outcome inference
only and at full cost, self-hosted against API per cluster, and energy and carbon per feature (marts.full_cost,
marts.cost_per_outcome, marts.self_host_breakeven, marts.energy_carbon).

Like every section they render from the report data alone, say "no data yet" when their table is missing or empty,
and escape every text that comes from the data.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from html import escape

from pipelines.report.blocks import (
    as_float,
    axis_plain,
    axis_usd,
    bars,
    count,
    data_table,
    empty,
    no_data,
    pct,
    quantity,
    unit_usd,
    usd,
)
from pipelines.report.charts import bar_chart, breakeven_chart
from pipelines.report.data import ReportData

FULL_COST_CATEGORIES = (
    ("inference (API)", "inference_usd"),
    ("self-hosted", "self_hosted_usd"),
    ("idle capacity", "idle_capacity_usd"),
    ("egress", "egress_usd"),
    ("storage", "storage_usd"),
    ("observability", "observability_usd"),
    ("load balancing", "load_balancing_usd"),
    ("engineering", "engineering_usd"),
    ("other", "other_usd"),
)
"""The categories of marts.full_cost in stacking order: (name on the page, column)."""

NO_REQUEST_ROWS = {
    "unallocated_overhead": "overhead of days or restrictions no request matched",
    "idle_capacity": "idle GPU cost of cluster-days that served no tokens",
}

SELF_HOSTED_HOW = (
    "land GPU records with capacity_tokens_per_hour under landing/gpu and give the cluster's models a compare_with "
    "rule in model_tiers.yaml (docs/self-hosted.md)"
)

ENERGY_SOURCES_NOTE = (
    '<p class="note">Where the figures come from: <b>measured</b> kWh are the GPU records\' avg_power_watts × GPU hours '
    "× the cluster's PUE; <b>estimated</b> kWh are the default board power of the GPU type or a provider's published "
    "per-request figure, each listed with its source in pricing/energy.yaml (or the home's energy.yaml). kg CO2e = kWh × "
    "the grid carbon intensity of the cluster's region (landing/carbon). Measured and estimated figures are never added "
    "into one number. A request without a figure is <b>unknown, not zero</b>: it is counted, not charted.</p>"
)


def _sum(rows: list[dict], key: str) -> Decimal:
    return sum((row[key] or Decimal(0) for row in rows), Decimal(0))


def _known_sum(rows: list[dict], key: str) -> Decimal | None:
    """The sum of the rows' known values; None when no row has one (unknown is not zero)."""
    known = [row[key] for row in rows if row[key] is not None]
    return sum(known, Decimal(0)) if known else None


def full_cost(data: ReportData) -> str:
    if note := no_data(data.full_cost, "no data yet: no rows in marts.full_cost for this period"):
        return note
    rows = data.full_cost.rows
    total, overhead = _sum(rows, "total_usd"), _sum(rows, "overhead_usd")
    inference = total - overhead
    text = (
        f"<p>Full cost of this period: <b>{escape(usd(total))}</b> = {escape(usd(inference))} inference "
        f"(API prices, the GPU cost of self-hosted requests and idle GPU capacity) + {escape(usd(overhead))} overhead. "
        "This section is the <b>full cost</b>; the other sections (spend trend, model mix, unit costs, budgets, what-if…) "
        "show the <b>inference-only</b> cost, without overhead.</p>"
    )
    shown = [(name, column) for name, column in FULL_COST_CATEGORIES if any(row[column] for row in rows)]
    features = [row["feature"] for row in rows]
    chart = bar_chart(
        "Full cost per feature by category (USD)", features,
        [(name, [as_float(row[column]) for row in rows]) for name, column in shown], axis_usd, stacked=True,
        value_labels=[[usd(row[column]) for row in rows] for _, column in shown] + [[usd(row["total_usd"]) for row in rows]],
    )
    without_requests = [f"{escape(row['feature'])}: {NO_REQUEST_ROWS[row['feature']]}" for row in rows if row["feature"] in NO_REQUEST_ROWS]
    rows_note = f'<p class="note">Rows without requests: {"; ".join(without_requests)}.</p>' if without_requests else ""
    columns = [column for _, column in FULL_COST_CATEGORIES] + ["total_usd"]
    table_rows = [[row["feature"], count(row["requests"]), *[usd(row[column]) for column in columns]] for row in rows]
    table_rows.append(["total", count(sum(row["requests"] or 0 for row in rows)), *[usd(_sum(rows, column)) for column in columns]])
    headers = ["feature", "requests", *[name for name, _ in FULL_COST_CATEGORIES], "total"]
    return text + chart + rows_note + data_table(
        "full cost per feature and category, USD", headers, table_rows, set(range(1, len(headers))), open_=True
    )


def per_outcome(data: ReportData) -> str:
    """Cost per outcome, inference only, beside the full cost per outcome (marts.cost_per_outcome)."""
    if data.outcomes.missing:
        return empty(data.outcomes.missing + " (outcome events link requests to resolved tickets, accepted suggestions…)")
    full = {(r["feature"], r["outcome_type"]): r for r in data.outcomes_full_cost.rows}
    rows = [{**r, **{k: full.get((r["feature"], r["outcome_type"]), {}).get(k) for k in ("full_cost_usd", "full_cost_per_outcome_usd")}}
            for r in data.outcomes.rows]
    outcomes = [r for r in rows if r["outcomes"]]
    if not outcomes:
        return empty("no outcomes recorded for this period")
    labels = [f"{r['feature']} · {r['outcome_type']}" for r in outcomes]
    chart = bars("Cost per outcome: inference only and full cost", labels, outcomes,
                 [("inference only", "cost_per_outcome_usd"), ("full cost", "full_cost_per_outcome_usd")], axis_usd, unit_usd)
    table_rows = [
        [r["feature"], r["outcome_type"], count(r["outcomes"]), count(r["requests"]), usd(r["cost_usd"]),
         unit_usd(r["cost_per_outcome_usd"]), usd(r["full_cost_usd"]), unit_usd(r["full_cost_per_outcome_usd"])]
        for r in rows
    ]
    headers = ["feature", "outcome", "outcomes", "requests", "cost (inference only)", "per outcome (inference only)",
               "full cost", "per outcome (full cost)"]
    return chart + data_table("cost per outcome, inference only and full cost", headers, table_rows, {2, 3, 4, 5, 6, 7})


def _share(value: Decimal) -> str:
    """A utilization (a fraction) as a percentage, with two places under 1%."""
    return pct(value * 100, 2 if value < Decimal("0.01") else 1)


def _breakeven_cell(row: dict) -> str:
    if row["breakeven_utilization"] is not None:
        return _share(row["breakeven_utilization"])
    known = row["cost_per_1m_tokens_full_utilization_usd"] is not None and row["api_cost_per_1m_tokens_usd"] is not None
    return "API cheaper even at 100%" if known else "n/a"


def self_hosted(data: ReportData) -> str:
    if data.breakeven.missing:
        return empty(f"{data.breakeven.missing}: {SELF_HOSTED_HOW}")
    if not data.breakeven.rows:
        return empty(f"no self-hosted cluster is compared with an API model in this period: {SELF_HOSTED_HOW}")
    clusters: dict[str, list[dict]] = defaultdict(list)
    for row in data.breakeven.rows:
        clusters[row["cluster"]].append(row)
    return "".join(_cluster(cluster, rows) for cluster, rows in clusters.items())


def _cluster(cluster: str, rows: list[dict]) -> str:
    first = rows[0]
    full, actual, utilization = (
        first["cost_per_1m_tokens_full_utilization_usd"], first["cost_per_1m_tokens_usd"], first["utilization"]
    )
    summary = (
        f'<p class="note">{escape(first["month"])}: {count(first["tokens_served"])} tokens served of '
        f'{count(first["capacity_tokens"])} capacity (utilization {escape(_share(utilization) if utilization is not None else "n/a")}), '
        f'GPU bill {escape(usd(first["gpu_cost_usd"]))}: {escape(unit_usd(actual))} per 1M tokens at that utilization, '
        f"{escape(unit_usd(full))} at 100%. Models: {escape(first['self_hosted_models'] or '')}.</p>"
    )
    parts = [f'<h3 class="feature">{escape(cluster)}</h3>', summary]
    if full is None:
        parts.append(empty("no curve: the month's capacity or GPU bill is unknown "
                           "(every GPU record needs capacity_tokens_per_hour and a rate in USD or with an exchange rate)"))
    else:
        apis = []
        for row in rows:
            if row["api_cost_per_1m_tokens_usd"] is None:
                continue
            name, cost, breakeven = f"{row['compare_provider']}/{row['compare_model']}", row["api_cost_per_1m_tokens_usd"], row["breakeven_utilization"]
            label = f"{name}: {unit_usd(cost)} per 1M" + ("" if breakeven is not None else " · API cheaper even at 100%")
            apis.append((name, as_float(cost), None if breakeven is None else float(breakeven), label, f"break-even {_share(breakeven)}"
                         if breakeven is not None else ""))
        marker = None
        if utilization is not None and actual is not None:
            marker = (float(utilization), as_float(actual), f"you: {_share(utilization)}, {unit_usd(actual)} per 1M")
        parts.append(breakeven_chart(
            f"Self-hosted vs API: {cluster}", as_float(full), apis, marker, lambda u: f"{u * 100:.0f}%", axis_usd,
            "self-hosted cost per 1M tokens at each utilization",
        ))
    headers = ["API model", "month", "utilization", "self-hosted per 1M", "self-hosted per 1M at 100%", "API per 1M",
               "break-even utilization", "cheaper now", "GPU bill", "tokens served", "compared requests priced", "their API cost"]
    table_rows = [
        [f"{r['compare_provider']}/{r['compare_model']}", r["month"], "n/a" if r["utilization"] is None else _share(r["utilization"]),
         unit_usd(r["cost_per_1m_tokens_usd"]), unit_usd(r["cost_per_1m_tokens_full_utilization_usd"]),
         unit_usd(r["api_cost_per_1m_tokens_usd"]), _breakeven_cell(r),
         "n/a" if r["self_hosted_cheaper"] is None else "self-hosted" if r["self_hosted_cheaper"] else "API",
         usd(r["gpu_cost_usd"]), count(r["tokens_served"]), count(r["api_priced_requests"]), usd(r["api_cost_usd"])]
        for r in rows
    ]
    parts.append(data_table(f"self-hosted vs API: {cluster}", headers, table_rows, {2, 3, 4, 5, 6, 8, 9, 10, 11}, open_=True))
    return "".join(parts)


def _blank(value: Decimal | None, unit: str) -> str:
    return "" if value is None else quantity(value, unit)


def energy(data: ReportData) -> str:
    if note := no_data(data.energy, "no data yet: no requests in marts.energy_carbon for this period"):
        return ENERGY_SOURCES_NOTE + note
    rows = data.energy.rows
    unknown = sum(row["unknown_energy_requests"] for row in rows)
    requests = sum(row["requests"] for row in rows)
    measured, estimated = _known_sum(rows, "kwh_measured"), _known_sum(rows, "kwh_estimated")
    text = (
        f"<p>This period: <b>{escape(_blank(measured, 'kWh') or 'no')}</b> measured and "
        f"<b>{escape(_blank(estimated, 'kWh') or 'no')}</b> estimated (two figures, not added up); "
        f"<b>{count(unknown)}</b> of {count(requests)} requests have no energy figure: unknown, not zero.</p>"
    )
    known = [row for row in rows if row["kwh_measured"] is not None or row["kwh_estimated"] is not None]
    parts = [ENERGY_SOURCES_NOTE, text]
    if known:
        series = [(name, column) for name, column in (("measured", "kwh_measured"), ("estimated", "kwh_estimated"))
                  if any(row[column] is not None for row in known)]
        labels = [row["feature"] + (f" (+{row['unknown_energy_requests']:,} unknown)" if row["unknown_energy_requests"] else "")
                  for row in known]
        parts.append(bar_chart(
            "Energy per feature by basis (kWh; requests with unknown energy counted beside the name)", labels,
            [(name, [as_float(row[column]) for row in known]) for name, column in series], axis_plain,
            value_labels=[[f"{quantity(row[column], 'kWh')} {name}" if row[column] is not None else f"no {name} figure"
                           for row in known] for name, column in series],
        ))
    unknown_only = [row for row in rows if row not in known]
    if unknown_only:
        names = ", ".join(f"{row['feature']} ({row['requests']:,} requests)" for row in unknown_only)
        parts.append(f'<p class="note">No energy figure at all for {escape(names)}: unknown, not zero, so not charted.</p>')
    columns = ("kwh_measured", "kwh_estimated", "unknown_energy_requests", "kg_co2e_measured", "kg_co2e_estimated",
               "unknown_carbon_requests")
    table_rows = [
        [row["feature"], count(row["requests"]), _blank(row["kwh_measured"], "kWh"), _blank(row["kwh_estimated"], "kWh"),
         count(row["unknown_energy_requests"]), _blank(row["kg_co2e_measured"], "kg"), _blank(row["kg_co2e_estimated"], "kg"),
         count(row["unknown_carbon_requests"])]
        for row in rows
    ]
    totals = {column: _known_sum(rows, column) for column in columns}
    table_rows.append(["total", count(requests), _blank(totals["kwh_measured"], "kWh"), _blank(totals["kwh_estimated"], "kWh"),
                       count(totals["unknown_energy_requests"]), _blank(totals["kg_co2e_measured"], "kg"),
                       _blank(totals["kg_co2e_estimated"], "kg"), count(totals["unknown_carbon_requests"])])
    headers = ["feature", "requests", "kWh measured", "kWh estimated", "requests with unknown energy", "kg CO2e measured",
               "kg CO2e estimated", "requests with unknown CO2e"]
    parts.append(data_table("energy and carbon per feature", headers, table_rows, set(range(1, 8)), open_=True))
    parts.append(_energy_sources(data))
    return "".join(parts)


def _energy_sources(data: ReportData) -> str:
    rows = data.energy_sources.rows
    if not rows:
        return ""
    table_rows = [
        [r["basis"], r["energy_source"] or "", r["grid_region"] or "", _intensity(r), count(r["requests"]), _blank(r["kwh"], "kWh")]
        for r in rows
    ]
    headers = ["basis", "figures used", "grid region", "gCO2e per kWh", "requests", "kWh"]
    return data_table("where the energy figures come from", headers, table_rows, {3, 4, 5})


def _intensity(row: dict) -> str:
    low, high = row["min_gco2e_per_kwh"], row["max_gco2e_per_kwh"]
    if low is None:
        return ""
    low, high = Decimal(low).normalize(), Decimal(high).normalize()
    return f"{low:f}" if low == high else f"{low:f}–{high:f}"
