"""Business inputs and marts: outcomes, revenue and self-hosted GPU capacity to cost per outcome, revenue ratio,
unit economics, self-hosted GPU costs and the model-tier view."""

import dagster as dg

from pipelines.business import GPU, OUTCOMES, REVENUE, define_money_macros, ensure_fx_rates, ensure_gpu_capacity, load_tier_rules
from pipelines.defs.assets._util import conservation_check, markdown_table
from pipelines.defs.assets.warehouse import _ensure_daily_models
from pipelines.defs.automation import MARTS_FRESHNESS
from pipelines.defs.resources import TokenledgerHome
from pipelines.home import Home
from pipelines.ingest import mark_pending
from pipelines.records import RecordSource, ingest_source, lake_files
from pipelines.warehouse import register_parquet, replace_table, sql_text, table_exists

CONSERVATION = "rows_conserved"
PREVIEW_ROWS = 10
_WAREHOUSE = dict(pool="duckdb", kinds={"duckdb"})
_MART = dict(_WAREHOUSE, freshness_policy=MARTS_FRESHNESS)


# -- lake -----------------------------------------------------------------------------------------


def _ingest(context: dg.AssetExecutionContext, home: Home, source: RecordSource) -> dg.MaterializeResult:
    """Ingest a record source's new and changed files; check conservation for every file it ever landed."""
    report = ingest_source(home, source, progress=context.log.info)
    metadata = {"files_ingested": len(report.ingested), "files_unchanged": report.skipped, **report.rows}
    if source.pending:
        metadata["touched_dates"] = dg.MetadataValue.json(sorted(d.isoformat() for d in report.touched_dates))
    return dg.MaterializeResult(metadata=metadata, check_results=[conservation_check(home, prefix=f"{source.landing}/", check_name=CONSERVATION)])


def _lake_spec(source: RecordSource) -> dict:
    key = ["lake", source.table]
    return dict(key=key, group_name="lake", kinds={"parquet"}, check_specs=[dg.AssetCheckSpec(CONSERVATION, asset=key, blocking=True)])


@dg.asset(**_lake_spec(OUTCOMES))
def lake_outcomes(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per outcome event from landing/outcomes, in Parquet per landed file (new and changed files only)."""
    return _ingest(context, tokenledger.paths, OUTCOMES)


@dg.asset(**_lake_spec(REVENUE))
def lake_revenue(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per revenue record from landing/revenue, in Parquet per landed file (new and changed files only)."""
    return _ingest(context, tokenledger.paths, REVENUE)


@dg.asset(**_lake_spec(GPU))
def lake_gpu_capacity(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per cluster x day x GPU type from landing/gpu, in Parquet per landed file; marks its days for re-pricing."""
    return _ingest(context, tokenledger.paths, GPU)


# -- reference and core ---------------------------------------------------------------------------


def _unconverted_check(check_name: str, con, table: str, columns: str, what: str) -> dg.AssetCheckResult:
    """A warning naming the rows whose amount could not be converted to USD (no exchange rate)."""
    rows = con.execute(f"select {columns}, unconverted_reason from {table} where unconverted_reason is not null order by all").fetchall()
    examples = ", ".join(" ".join(str(v) for v in row[:-1]) for row in rows[:3])
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(rows)} {what}(s) without a USD rate in reference.fx_rates (e.g. {examples}); add rates under landing/fx"
            if rows
            else f"every {what} is in USD or has a rate"
        ),
        metadata={"unconverted": len(rows), "examples": dg.MetadataValue.md(markdown_table([*columns.split(", "), "reason"], rows[:PREVIEW_ROWS]))},
    )


GPU_USD_CHECK = "gpu_cost_in_usd"


def _gpu_usd_check(con) -> dg.AssetCheckResult:
    """GPU records whose cost has no USD rate: their cluster-days stay unpriced (checked where they land and in the mart)."""
    return _unconverted_check(GPU_USD_CHECK, con, "reference.gpu_capacity", "cluster, event_date, currency", "GPU record")


@dg.asset(
    key=["reference", "gpu_capacity"],
    group_name="reference",
    deps=[["lake", "gpu_capacity"], ["reference", "fx_rates"]],
    check_specs=[dg.AssetCheckSpec(GPU_USD_CHECK, asset=["reference", "gpu_capacity"])],
    **_WAREHOUSE,
)
def gpu_capacity(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per self-hosted cluster x day x GPU type: GPU-hours, capacity and the day's cost in USD."""
    home = tokenledger.paths
    with tokenledger.warehouse() as con:
        define_money_macros(con)
        ensure_fx_rates(con)
        ensure_gpu_capacity(con)
        register_parquet(con, "lake_gpu_capacity", lake_files(home, GPU), GPU.lake_schema)
        con.execute(f"create or replace temp table _gpu_capacity as {sql_text('reference.gpu_capacity')}")
        compared = "cluster, event_date, gpu_type, cost_usd, capacity_tokens"
        changed = [
            row[0]
            for row in con.execute(
                f"""
                select distinct event_date from (
                    (select {compared} from reference.gpu_capacity except select {compared} from _gpu_capacity)
                    union all
                    (select {compared} from _gpu_capacity except select {compared} from reference.gpu_capacity)
                )
                order by 1
                """
            ).fetchall()
        ]
        # Days whose GPU cost changed are marked before the new table is committed: a run killed in between
        # still re-prices them next time.
        if changed:
            mark_pending(home, set(changed))
            context.log.info(f"GPU cost changed on {len(changed)} day(s): their self-hosted requests are re-priced")
        rows = replace_table(con, "reference.gpu_capacity", "select * from _gpu_capacity")
        preview = con.execute(
            "select event_date, cluster, gpu_type, gpu_count, hours, currency, cost_usd from reference.gpu_capacity "
            f"order by event_date desc, cluster, gpu_type limit {PREVIEW_ROWS}"
        ).fetchall()
        check = _gpu_usd_check(con)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "repriced_days": dg.MetadataValue.json([d.isoformat() for d in changed]),
            "preview": dg.MetadataValue.md(markdown_table(["date", "cluster", "gpu_type", "gpus", "hours", "currency", "cost_usd"], preview)),
        },
        check_results=[check],
    )


def _build_outcomes(con, home: Home) -> int:
    register_parquet(con, "lake_outcomes", lake_files(home, OUTCOMES), OUTCOMES.lake_schema)
    return replace_table(con, "core.outcomes", sql_text("core.outcomes"))


def _build_revenue(con, home: Home) -> int:
    define_money_macros(con)
    ensure_fx_rates(con)
    register_parquet(con, "lake_revenue", lake_files(home, REVENUE), REVENUE.lake_schema)
    return replace_table(con, "core.revenue", sql_text("core.revenue"))


@dg.asset(key=["core", "outcomes"], group_name="core", deps=[["lake", "outcomes"]], **_WAREHOUSE)
def core_outcomes(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per business outcome, with how it links to the requests behind it."""
    with tokenledger.warehouse() as con:
        rows = _build_outcomes(con, tokenledger.paths)
        by_type = con.execute(
            "select feature, outcome_type, linked_by, count(*) from core.outcomes group by all order by all limit 20"
        ).fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "by_type": dg.MetadataValue.md(markdown_table(["feature", "outcome_type", "linked_by", "outcomes"], by_type)),
        }
    )


@dg.asset(
    key=["core", "revenue"],
    group_name="core",
    deps=[["lake", "revenue"], ["reference", "fx_rates"]],
    check_specs=[dg.AssetCheckSpec("revenue_in_usd", asset=["core", "revenue"])],
    **_WAREHOUSE,
)
def core_revenue(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per revenue record (invoice or subscription period) with its amount in USD."""
    with tokenledger.warehouse() as con:
        rows = _build_revenue(con, tokenledger.paths)
        preview = con.execute(
            "select customer_id, user_segment, plan, period_start, period_end, amount, currency, amount_usd from core.revenue "
            f"order by period_start desc, customer_id limit {PREVIEW_ROWS}"
        ).fetchall()
        check = _unconverted_check("revenue_in_usd", con, "core.revenue", "customer_id, period_start, currency", "revenue record")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "preview": dg.MetadataValue.md(
                markdown_table(["customer_id", "segment", "plan", "start", "end", "amount", "currency", "amount_usd"], preview)
            ),
        },
        check_results=[check],
    )


# -- marts ----------------------------------------------------------------------------------------


def _prepared(con, home: Home) -> None:
    """Everything the business marts read exists, even on a warehouse no run has filled yet."""
    define_money_macros(con)
    ensure_gpu_capacity(con)
    _ensure_daily_models(con)
    if not table_exists(con, "core.outcomes"):
        _build_outcomes(con, home)
    if not table_exists(con, "core.revenue"):
        _build_revenue(con, home)


def _mart(tokenledger: TokenledgerHome, table: str, preview_sql: str, header: list[str], setup=None, checks=None) -> dg.MaterializeResult:
    """Replace a whole-history mart from its SQL file; row count and a small preview as metadata.

    `setup(con)` runs first (e.g. registers a lookup table); `checks(con)` returns the asset's check results.
    """
    with tokenledger.warehouse() as con:
        _prepared(con, tokenledger.paths)
        if setup is not None:
            setup(con)
        rows = replace_table(con, table, sql_text(table))
        preview = con.execute(f"{preview_sql} limit {PREVIEW_ROWS}").fetchall()
        check_results = checks(con) if checks is not None else []
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "preview": dg.MetadataValue.md(markdown_table(header, preview))},
        check_results=check_results,
    )


@dg.asset(key=["marts", "cost_per_outcome"], group_name="marts", deps=[["core", "outcomes"], ["core", "request_costs"]], **_MART)
def cost_per_outcome(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per day x feature x outcome type: outcomes, the feature's requests and spend, cost per outcome."""
    return _mart(
        tokenledger,
        "marts.cost_per_outcome",
        "select event_date, feature, outcome_type, outcomes, requests, round(cost_usd, 4), round(cost_per_outcome_usd, 4) "
        "from marts.cost_per_outcome order by event_date desc, cost_usd desc, feature, outcome_type",
        ["date", "feature", "outcome_type", "outcomes", "requests", "cost_usd", "per_outcome_usd"],
    )


@dg.asset(key=["marts", "outcome_costs"], group_name="marts", deps=[["core", "outcomes"], ["core", "request_costs"]], **_MART)
def outcome_costs(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per outcome: the requests linked to it (by conversation or request) and their direct cost."""
    return _mart(
        tokenledger,
        "marts.outcome_costs",
        "select outcome_id, feature, outcome_type, linked_by, linked_requests, round(direct_cost_usd, 6) "
        "from marts.outcome_costs order by direct_cost_usd desc nulls last, outcome_id",
        ["outcome_id", "feature", "outcome_type", "linked_by", "requests", "direct_cost_usd"],
    )


@dg.asset(key=["marts", "revenue_ratio"], group_name="marts", deps=[["core", "revenue"], ["core", "request_costs"]], **_MART)
def revenue_ratio(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per month x customer: revenue prorated by days, inference cost, cost-to-revenue ratio, gross margin."""
    return _mart(
        tokenledger,
        "marts.revenue_ratio",
        "select month, customer_id, user_segment, round(revenue_usd, 2), round(cost_usd, 2), round(cost_to_revenue_ratio, 4) "
        "from marts.revenue_ratio order by month desc, cost_to_revenue_ratio desc nulls last, customer_id",
        ["month", "customer_id", "segment", "revenue_usd", "cost_usd", "cost_to_revenue"],
    )


@dg.asset(key=["marts", "revenue_ratio_by_segment"], group_name="marts", deps=[["marts", "revenue_ratio"]], **_MART)
def revenue_ratio_by_segment(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per month x user segment: customers, revenue, cost, cost-to-revenue ratio, margin, share of plan price."""
    return _mart(
        tokenledger,
        "marts.revenue_ratio_by_segment",
        "select month, user_segment, customers, round(revenue_usd, 2), round(cost_usd, 2), round(cost_to_revenue_ratio, 4), "
        "round(cost_share_of_plan_price, 4) from marts.revenue_ratio_by_segment order by month desc, user_segment",
        ["month", "segment", "customers", "revenue_usd", "cost_usd", "cost_to_revenue", "share_of_plan_price"],
    )


@dg.asset(key=["marts", "unit_economics"], group_name="marts", deps=[["core", "request_costs"]], **_MART)
def unit_economics(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per month x user segment: active users, requests, cost, cost per active user, per 1k requests, per 1M tokens."""
    return _mart(
        tokenledger,
        "marts.unit_economics",
        "select month, user_segment, active_users, requests, round(cost_usd, 2), round(cost_per_active_user_usd, 4), "
        "round(cost_per_1k_requests_usd, 4), round(cost_per_1m_tokens_usd, 4) from marts.unit_economics order by month desc, user_segment",
        ["month", "segment", "active_users", "requests", "cost_usd", "per_user", "per_1k_requests", "per_1m_tokens"],
    )


@dg.asset(key=["marts", "unit_economics_by_feature"], group_name="marts", deps=[["core", "request_costs"]], **_MART)
def unit_economics_by_feature(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per month x user segment x feature: active users, requests, cost and the same unit costs."""
    return _mart(
        tokenledger,
        "marts.unit_economics_by_feature",
        "select month, user_segment, feature, active_users, requests, round(cost_usd, 2), round(cost_per_1k_requests_usd, 4) "
        "from marts.unit_economics_by_feature order by month desc, cost_usd desc, user_segment, feature",
        ["month", "segment", "feature", "active_users", "requests", "cost_usd", "per_1k_requests"],
    )


IDLE_CHECK = "allocated_plus_idle_is_the_bill"


def _idle_check(con) -> list[dg.AssetCheckResult]:
    """Allocated + idle is the GPU bill, idle is never negative, and marts.daily_spend shows the same idle cost."""
    broken = con.execute(
        """
        with bills as (
            select provider, event_date, sum(cost_usd) as bill_usd
            from reference.gpu_capacity
            group by provider, event_date
            having count(*) = count(cost_usd)
        ),
        idle_rows as (
            select provider, event_date, sum(cost_usd) as idle_usd
            from marts.daily_spend
            where feature = 'idle_capacity' and requests = 0
            group by provider, event_date
        )
        select mart.event_date, mart.cluster, bills.bill_usd, mart.allocated_cost_usd, mart.idle_cost_usd, idle_rows.idle_usd
        from marts.self_hosted_costs as mart
        inner join bills
            on bills.provider = mart.provider and bills.event_date = mart.event_date
        left join idle_rows
            on idle_rows.provider = mart.provider and idle_rows.event_date = mart.event_date
        where mart.allocated_cost_usd + mart.idle_cost_usd <> bills.bill_usd
            or mart.idle_cost_usd < 0
            or coalesce(idle_rows.idle_usd, 0) <> mart.idle_cost_usd
        order by 1, 2
        limit 10
        """
    ).fetchall()
    return [
        dg.AssetCheckResult(
            check_name=IDLE_CHECK,
            passed=not broken,
            description=f"{len(broken)} cluster-day(s) where allocated + idle is not the GPU bill" if broken else "allocated + idle = the GPU bill",
            metadata={
                "rule": "allocated + idle = the GPU bill exactly, idle >= 0, and marts.daily_spend's idle_capacity rows agree",
                "violations": dg.MetadataValue.md(
                    markdown_table(["date", "cluster", "bill_usd", "allocated_usd", "idle_usd", "daily_spend_idle_usd"], broken)
                ),
            },
        )
    ]


@dg.asset(
    key=["marts", "self_hosted_costs"],
    group_name="marts",
    deps=[["reference", "gpu_capacity"], ["core", "request_costs"], ["marts", "daily_spend"]],
    check_specs=[
        dg.AssetCheckSpec(IDLE_CHECK, asset=["marts", "self_hosted_costs"]),
        dg.AssetCheckSpec(GPU_USD_CHECK, asset=["marts", "self_hosted_costs"]),
    ],
    **_MART,
)
def self_hosted_costs(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per self-hosted cluster x day: GPU bill, utilization, allocated and idle cost, effective cost per 1M tokens."""
    return _mart(
        tokenledger,
        "marts.self_hosted_costs",
        "select event_date, cluster, round(gpu_cost_usd, 2), round(utilization, 4), round(allocated_cost_usd, 2), "
        "round(idle_cost_usd, 2), round(effective_cost_per_1m_tokens_usd, 4) from marts.self_hosted_costs order by event_date desc, cluster",
        ["date", "cluster", "gpu_cost_usd", "utilization", "allocated_usd", "idle_usd", "per_1m_tokens_usd"],
        checks=lambda con: [*_idle_check(con), _gpu_usd_check(con)],
    )


@dg.asset(key=["marts", "model_tier_spend"], group_name="marts", deps=[["core", "request_costs"]], **_MART)
def model_tier_spend(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per month x feature x model tier: requests, spend, cost per request and per 1M tokens, share of the feature."""
    rules = load_tier_rules(tokenledger.paths.root)
    return _mart(
        tokenledger,
        "marts.model_tier_spend",
        "select month, feature, model_tier, requests, round(cost_usd, 2), round(cost_per_request_usd, 6), round(share_of_feature_cost, 4) "
        "from marts.model_tier_spend order by month desc, feature, model_tier",
        ["month", "feature", "tier", "requests", "cost_usd", "per_request_usd", "share_of_cost"],
        setup=lambda con: con.register("tier_rules", rules),
    )
