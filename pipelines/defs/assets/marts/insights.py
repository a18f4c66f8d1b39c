"""What product and finance read next to the spend: anomalies, budgets, what-if scenarios, experiments, the
latency-cost view and the self-hosted versus API break-even."""

import datetime as dt

import dagster as dg

from pipelines.defs.checks import SqlCheck, markdown_table
from pipelines.defs.resources import TokenledgerHome
from pipelines.defs.sql_models import WAREHOUSE, header, sql_metadata, sql_model
from pipelines.defs.stages import writing_marts
from pipelines.insights.anomalies import PARAMS as ANOMALY_PARAMS
from pipelines.insights.budgets import BudgetError, budget_status, load_budgets
from pipelines.insights.experiments import ExperimentDesignError, experiment_stats, load_designs
from pipelines.insights.whatif import SCENARIOS_TABLE, refresh_growth_scenarios
from pipelines.warehouse.tables import table

BUDGET_CHECK = "projection_within_budget"


def _budget_rows(con, home) -> dict:
    try:
        budgets = load_budgets(home.root)
    except BudgetError as exc:
        raise dg.Failure(description=str(exc)) from exc
    return {"budget_status_rows": budget_status(con, budgets)}


def _over(rows: list[tuple], con, params: dict) -> str:
    return "; ".join(f"{scope} {name}: projected {projected:,.2f} USD > budget {budget:,.2f} USD for {month}" for month, scope, name, budget, projected in rows)


def _within(con, params: dict) -> str:
    (budgets,) = con.execute("select count(*) from marts.budget_status").fetchone()
    return f"all {budgets} budgets are projected within their amount" if budgets else "no budgets: add <home>/budgets.yaml"


PROJECTION_WITHIN_BUDGET = SqlCheck(BUDGET_CHECK, "marts.budget_status", _over, passed=_within, warn=True)

spend_anomalies = sql_model("marts.spend_anomalies", deps=["marts.daily_spend"], params=lambda home: dict(ANOMALY_PARAMS))
budget_status_mart = sql_model("marts.budget_status", deps=["marts.daily_spend"], rows=_budget_rows, checks=[PROJECTION_WITHIN_BUDGET])


@dg.asset(
    key=["marts", "scenarios"],
    group_name="marts",
    deps=[["marts", "daily_spend"], ["core", "request_costs"]],
    description=header(SCENARIOS_TABLE),
    metadata=sql_metadata(table(SCENARIOS_TABLE).sql_files),
    **WAREHOUSE,
)
def scenarios(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """Rebuild the latest month's growth projections; saved what-ifs are kept."""
    with writing_marts(tokenledger.paths, context.run_id, SCENARIOS_TABLE, daily=False), tokenledger.warehouse() as con:
        rows, growth = refresh_growth_scenarios(con, dt.datetime.now(dt.timezone.utc))
        by_kind = con.execute(f"select kind, month, count(*) from {SCENARIOS_TABLE} group by all order by all").fetchall()
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "growth_rows": growth, "by_kind": dg.MetadataValue.md(markdown_table(["kind", "month", "rows"], by_kind))}
    )


def _experiment_rows(con, home) -> dict:
    try:
        designs = load_designs(home.root)
    except ExperimentDesignError as exc:
        raise dg.Failure(description=str(exc)) from exc
    return {"experiment_stats": experiment_stats(con, designs)}


def _mismatched(rows: list[tuple], con, params: dict) -> str:
    return "; ".join(f"{experiment}: units per variant differ from the design (p = {p:.2g})" for experiment, p in rows)


SAMPLE_RATIO = SqlCheck(
    "sample_ratio_as_designed", "marts.experiment_results", _mismatched, passed="every experiment's split of units matches its design", warn=True
)
latency_cost = sql_model("marts.latency_cost", deps=["core.request_costs", "core.outcomes"])
experiment_results = sql_model(
    "marts.experiment_results",
    deps=["core.experiment_units", "core.experiment_assignments"],
    rows=_experiment_rows,
    checks=[SAMPLE_RATIO],
)
self_host_breakeven = sql_model(
    "marts.self_host_breakeven",
    deps=["core.request_costs", "reference.gpu_capacity", "reference.prices", "reference.price_overrides"],
)
