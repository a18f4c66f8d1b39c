"""Provider bills: landed exports to the lake, billing line items, and reconciliation against estimates."""

import dagster as dg

from pipelines.billing import BILLING
from pipelines.defs.assets._util import conservation_check, markdown_table
from pipelines.defs.assets.warehouse import _ensure_daily_models
from pipelines.defs.automation import MARTS_FRESHNESS
from pipelines.defs.resources import TokenledgerHome
from pipelines.fx import reconciliation_tolerance
from pipelines.periods import ensure_finance_tables
from pipelines.records import ingest_source, lake_files
from pipelines.warehouse import register_parquet, replace_table, sql_text

TOLERANCE_CHECK = "variance_within_tolerance"


@dg.asset(
    key=["lake", "billing_line_items"],
    group_name="lake",
    kinds={"parquet"},
    check_specs=[dg.AssetCheckSpec("rows_conserved", asset=["lake", "billing_line_items"], blocking=True)],
)
def lake_billing_line_items(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per line item of a landed billing export, in Parquet per landed file (new and changed files only)."""
    home = tokenledger.paths
    report = ingest_source(home, BILLING, progress=context.log.info)
    return dg.MaterializeResult(
        metadata={"files_ingested": len(report.ingested), "files_unchanged": report.skipped, **report.rows},
        check_results=[conservation_check(home, prefix=f"{BILLING.landing}/")],
    )


@dg.asset(
    key=["core", "billing_line_items"],
    group_name="core",
    deps=[["lake", "billing_line_items"], ["audit", "ingested_files"], ["reference", "fx_rates"], ["reference", "model_aliases"]],
    pool="duckdb",
    kinds={"duckdb"},
)
def billing_line_items(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per billing line item: day, provider, account, model and token bucket where the bill names them, amounts in USD."""
    with tokenledger.warehouse() as con:
        _ensure_daily_models(con)
        ensure_finance_tables(con)
        register_parquet(con, "lake_billing_line_items", lake_files(tokenledger.paths, BILLING), BILLING.lake_schema)
        rows = replace_table(con, "core.billing_line_items", sql_text("core.billing_line_items"))
        by_format = con.execute(
            "select source_format, charge_category, count(*), sum(billed_cost_usd) from core.billing_line_items group by all order by all"
        ).fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "by_format": dg.MetadataValue.md(markdown_table(["format", "category", "lines", "billed_usd"], by_format)),
        }
    )


@dg.asset(
    key=["marts", "billing_reconciliation"],
    group_name="marts",
    deps=[["core", "billing_line_items"], ["marts", "daily_spend"], ["reference", "model_aliases"]],
    pool="duckdb",
    kinds={"duckdb"},
    check_specs=[dg.AssetCheckSpec(TOLERANCE_CHECK, asset=["marts", "billing_reconciliation"])],
    freshness_policy=MARTS_FRESHNESS,
)
def billing_reconciliation(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per charge date x provider x model: estimated cost, billed cost, variance and status."""
    pct, usd = reconciliation_tolerance(tokenledger.paths.root)
    with tokenledger.warehouse() as con:
        rows = replace_table(
            con, "marts.billing_reconciliation", sql_text("marts.billing_reconciliation"), params={"tolerance_pct": pct, "tolerance_usd": usd}
        )
        statuses = con.execute(
            "select status, count(*), sum(estimated_cost_usd), sum(billed_cost_usd), sum(variance_usd) "
            "from marts.billing_reconciliation group by all order by all"
        ).fetchall()
        worst = con.execute(
            "select charge_date, provider, coalesce(model, '(all models)'), status, estimated_cost_usd, billed_cost_usd, variance_usd "
            "from marts.billing_reconciliation where status in ('over_billed', 'under_billed', 'billed_only') "
            "order by abs(variance_usd) desc, charge_date, provider limit 10"
        ).fetchall()
        outside = con.execute(
            "select count(*), count(distinct charge_date) from marts.billing_reconciliation "
            "where status in ('over_billed', 'under_billed', 'billed_only')"
        ).fetchall()[0]
    header = ["charge_date", "provider", "model", "status", "estimated_usd", "billed_usd", "variance_usd"]
    worst_rows = [(*row[:4], *(round(v, 6) for v in row[4:])) for row in worst]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "tolerance": f"{pct}% or ${usd}, whichever is larger",
            "by_status": dg.MetadataValue.md(markdown_table(["status", "rows", "estimated_usd", "billed_usd", "variance_usd"], statuses)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=TOLERANCE_CHECK,
                passed=outside[0] == 0,
                severity=dg.AssetCheckSeverity.WARN,
                description=(
                    f"{outside[0]} provider-day rows on {outside[1]} day(s) are outside {pct}% / ${usd}"
                    if outside[0]
                    else "every billed day is within tolerance"
                ),
                metadata={"rows_outside": outside[0], "days_outside": outside[1], "worst": dg.MetadataValue.md(markdown_table(header, worst_rows))},
            )
        ],
    )
