"""Core: priced requests, provider bills, business outcomes and revenue, one row per fact; experiment assignments and
units."""

import dagster as dg

from pipelines.defs.checks import SqlCheck, markdown_table, unconverted
from pipelines.defs.sql_models import sql_model
from pipelines.insights.experiments import ExperimentDesignError, designs_table, load_designs
from pipelines.storage.database import sql_text
from pipelines.warehouse.contracts import CORE

PRICED_ROWS_EXPLAINED = SqlCheck(
    "priced_rows_are_explained", "core.request_costs", lambda rows, con, params: f"requests break the rule, e.g. {rows[0][0]}",
    passed="every priced row has a price entry and a cost; every unpriced row a reason", blocking=True,
)
REVENUE_USD = unconverted("core.revenue", "revenue_in_usd", "revenue record")
OVERHEAD_USD = unconverted("core.overhead", "overhead_in_usd", "overhead record")


def _request_costs_metadata(con, window: dict, inputs: dict) -> dict:
    rows = con.execute(sql_text("queries/request_costs_window"), window).fetchall()
    unpriced, cost = rows[0][:2]
    return {
        "unpriced_requests": unpriced,
        "cost_usd": float(round(cost, 2)),
        "names_matched_by_rule": dg.MetadataValue.json(inputs.get("model_names") or []),
        "top_unpriced": dg.MetadataValue.md(markdown_table(["provider", "model", "reason", "requests"], [r[2:] for r in rows if r[2] is not None])),
    }


request_costs = sql_model(
    "core.request_costs",
    deps=["staging.stg_gateway_requests", "reference.prices", "reference.model_aliases", "reference.price_overrides", "reference.gpu_capacity"],
    checks=[PRICED_ROWS_EXPLAINED],
    contract=CORE,
    metadata=_request_costs_metadata,
)
billing_line_items = sql_model(
    "core.billing_line_items",
    deps=["lake/billing_line_items", "audit.ingested_files", "reference.fx_rates", "reference.model_aliases", "finance.closed_periods"],
)
outcomes = sql_model("core.outcomes", deps=["lake/outcomes"])
revenue = sql_model("core.revenue", deps=["lake/revenue", "reference.fx_rates"], checks=[REVENUE_USD])
overhead = sql_model("core.overhead", deps=["lake/overhead", "reference.fx_rates"], checks=[OVERHEAD_USD])


def _conflicting(rows: list[tuple], con, params: dict) -> str:
    return f"{len(rows)} unit(s) found in two or more variants of one experiment are left out of its results, e.g. {rows[0][0]}: {rows[0][1]} {rows[0][2]}"


ONE_VARIANT_PER_UNIT = SqlCheck(
    "one_variant_per_unit", "core.experiment_units", _conflicting, passed="every experiment unit is in one variant", warn=True
)
experiment_assignments = sql_model("core.experiment_assignments", deps=["lake/experiment_assignments"])


def _designs(con, home) -> dict:
    try:
        return {"experiment_designs": designs_table(load_designs(home.root))}
    except ExperimentDesignError as exc:
        raise dg.Failure(description=str(exc)) from exc


experiment_units = sql_model(
    "core.experiment_units",
    deps=["core.request_costs", "core.experiment_assignments", "core.outcomes"],
    rows=_designs,
    checks=[ONE_VARIANT_PER_UNIT],
)
