"""What product and finance read next to the spend: anomalies, budgets and what-if scenarios."""

import datetime as dt

import dagster as dg

from pipelines.anomalies import anomalies_select
from pipelines.budgets import BudgetError, load_budgets
from pipelines.budgets import budget_status as compute_budget_status
from pipelines.defs.assets._util import markdown_table
from pipelines.defs.assets.warehouse import _ensure_daily_models
from pipelines.defs.automation import MARTS_FRESHNESS
from pipelines.defs.resources import TokenledgerHome
from pipelines.warehouse import replace_table
from pipelines.whatif import SCENARIOS_TABLE, growth_rows, save_scenarios

_MART = dict(group_name="marts", pool="duckdb", kinds={"duckdb"}, freshness_policy=MARTS_FRESHNESS)
BUDGET_CHECK = "projection_within_budget"


@dg.asset(key=["marts", "spend_anomalies"], deps=[["marts", "daily_spend"]], **_MART)
def spend_anomalies(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per day x feature and per day x model: spend, trailing median and MAD, robust score, flag and cause."""
    select, params = anomalies_select()
    with tokenledger.warehouse() as con:
        _ensure_daily_models(con)
        rows = replace_table(con, "marts.spend_anomalies", select, params)
        flagged = con.execute(
            "select event_date, dimension, subject, round(cost_usd, 2), round(baseline_median_usd, 2), robust_score, cause "
            "from marts.spend_anomalies where is_anomaly order by event_date desc, abs(robust_score) desc limit 20"
        ).fetchall()
        (total_flagged,) = con.execute("select count(*) from marts.spend_anomalies where is_anomaly").fetchall()[0]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "flagged_days": total_flagged,
            "flagged": dg.MetadataValue.md(markdown_table(["date", "by", "subject", "cost_usd", "baseline_median_usd", "score", "cause"], flagged)),
        }
    )


@dg.asset(
    key=["marts", "budget_status"],
    deps=[["marts", "daily_spend"]],
    check_specs=[dg.AssetCheckSpec(BUDGET_CHECK, asset=["marts", "budget_status"])],
    **_MART,
)
def budget_status(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per budget in <home>/budgets.yaml: month-to-date spend, burn rate, month-end projection, status."""
    try:
        budgets = load_budgets(tokenledger.paths.root)
    except BudgetError as exc:
        raise dg.Failure(description=str(exc)) from exc
    with tokenledger.warehouse() as con:
        _ensure_daily_models(con)
        status = compute_budget_status(con, budgets)
        rows = replace_table(con, "marts.budget_status", status)
    over = [row for row in status.to_pylist() if row["projected_usd"] > row["budget_usd"]]
    table = markdown_table(
        ["month", "scope", "name", "budget_usd", "spent_usd", "projected_usd", "status"],
        [(r["month"], r["scope"], r["name"], r["budget_usd"], round(r["spent_usd"], 2), round(r["projected_usd"], 2), r["status"]) for r in status.to_pylist()],
    )
    if not budgets:
        description = "no budgets: add <home>/budgets.yaml"
    elif over:
        description = "; ".join(
            f"{r['scope']} {r['name']}: projected {r['projected_usd']:,.2f} USD > budget {r['budget_usd']:,.2f} USD for {r['month']}" for r in over
        )
    else:
        description = f"all {len(budgets)} budgets are projected within their amount"
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "budgets": dg.MetadataValue.md(table)},
        check_results=[
            dg.AssetCheckResult(
                check_name=BUDGET_CHECK,
                passed=not over,
                severity=dg.AssetCheckSeverity.WARN,
                description=description,
                metadata={"budgets": len(budgets), "projected_over_budget": len(over)},
            )
        ],
    )


@dg.asset(key=["marts", "scenarios"], deps=[["core", "request_costs"], ["marts", "daily_spend"]], **_MART)
def scenarios(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per scenario x growth factor: the latest month's growth projections (rebuilt) and saved what-ifs (kept); all estimates."""
    built_at = dt.datetime.now(dt.timezone.utc)
    with tokenledger.warehouse() as con:
        _ensure_daily_models(con)
        growth = growth_rows(con, built_at)
        rows = save_scenarios(con, growth, replace_kind="growth")
        by_kind = con.execute(f"select kind, month, count(*) from {SCENARIOS_TABLE} group by all order by all").fetchall()
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "growth_rows": growth.num_rows, "by_kind": dg.MetadataValue.md(markdown_table(["kind", "month", "rows"], by_kind))}
    )
