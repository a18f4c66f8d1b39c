"""Warehouse models, one per SQL file: staging, core and marts, replaced window by window."""

import datetime as dt

import dagster as dg
import pyarrow as pa

from pipelines.contracts import CORE, STAGING, validate
from pipelines.defs.assets._util import contract_check, days, markdown_table, window_dates
from pipelines.defs.automation import MARTS_FRESHNESS
from pipelines.defs.partitions import daily
from pipelines.defs.resources import TokenledgerHome
from pipelines.ingest import LAKE_SCHEMA, REQUESTS_TABLE
from pipelines.periods import ensure_finance_tables
from pipelines.pricebook import ALIAS_SCHEMA, load_price_book
from pipelines.warehouse import ensure_models, register_parquet, replace_table, replace_window, sql_text

DAILY_MODELS = ("staging.stg_gateway_requests", "core.request_costs", "marts.daily_spend")

_PARTITIONED = dict(partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run(), pool="duckdb", kinds={"duckdb"})


@dg.asset(
    key=["staging", "stg_gateway_requests"],
    group_name="staging",
    deps=[["lake", "gateway_requests"]],
    check_specs=[dg.AssetCheckSpec(STAGING.name, asset=["staging", "stg_gateway_requests"], blocking=True)],
    **_PARTITIONED,
)
def stg_gateway_requests(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per request in the window, read from the lake's Parquet."""
    from pipelines.contracts import prefetch_gx
    from pipelines.ingest import lake_files

    prefetch_gx()
    start, end = window_dates(context)
    files = lake_files(tokenledger.paths, days(start, end))
    with tokenledger.warehouse() as con:
        register_parquet(con, "lake_gateway_requests", files, LAKE_SCHEMA)
        rows = replace_window(con, "staging.stg_gateway_requests", sql_text("staging.stg_gateway_requests"), start, end)
        contract = validate(con, STAGING, {"window_start": start, "window_end": end})
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "lake_files": len(files), "lake_table": f"lake/{REQUESTS_TABLE}"},
        check_results=[contract_check(STAGING.name, contract)],
    )


@dg.asset(
    key=["core", "request_costs"],
    group_name="core",
    deps=[["staging", "stg_gateway_requests"], ["reference", "prices"], ["reference", "model_aliases"], ["reference", "price_overrides"], ["reference", "gpu_capacity"]],
    check_specs=[
        dg.AssetCheckSpec("priced_rows_are_explained", asset=["core", "request_costs"], blocking=True),
        dg.AssetCheckSpec(CORE.name, asset=["core", "request_costs"], blocking=True),
    ],
    **_PARTITIONED,
)
def request_costs(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per unique request, priced by the price entry in effect at its timestamp."""
    start, end = window_dates(context)
    window = {"window_start": start, "window_end": end}
    with tokenledger.warehouse() as con:
        matched = register_model_names(con, window)
        rows = replace_window(con, "core.request_costs", sql_text("core.request_costs"), start, end)
        unpriced, cost = con.execute(
            "select count(*) filter (where not is_priced), coalesce(sum(cost_usd), 0) from core.request_costs "
            "where event_date >= $window_start and event_date < $window_end",
            window,
        ).fetchall()[0]
        bad = con.execute(
            """
            select request_id, price_id, cost_usd, unpriced_reason from core.request_costs
            where event_date >= $window_start and event_date < $window_end
              and ((is_priced and (price_id is null or cost_usd is null or cost_usd < 0))
                or (not is_priced and (cost_usd is not null or unpriced_reason is null)))
            limit 5
            """,
            window,
        ).fetchall()
        top_unpriced = con.execute(
            "select provider, model, unpriced_reason, count(*) as requests from core.request_costs "
            "where event_date >= $window_start and event_date < $window_end and not is_priced "
            "group by all order by requests desc limit 5",
            window,
        ).fetchall()
        contract = validate(con, CORE, window)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "unpriced_requests": unpriced,
            "names_matched_by_rule": dg.MetadataValue.json(matched),
            "cost_usd": float(round(cost, 2)),
            "top_unpriced": dg.MetadataValue.md(markdown_table(["provider", "model", "reason", "requests"], top_unpriced)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="priced_rows_are_explained",
                passed=not bad,
                metadata={
                    "rule": "priced rows have a price_id and a non-negative cost; unpriced rows have a reason and no cost",
                    "examples": dg.MetadataValue.md(markdown_table(["request_id", "price_id", "cost_usd", "reason"], bad)),
                },
            ),
            contract_check(CORE.name, contract),
        ],
    )


def _ensure_daily_models(con) -> None:
    """Create staging, core and daily_spend empty if no partition was ever materialized."""
    register_parquet(con, "lake_gateway_requests", [], LAKE_SCHEMA)
    ensure_models(con, DAILY_MODELS[:1])
    register_model_names(con, {"window_start": dt.date.min, "window_end": dt.date.min})
    ensure_models(con, DAILY_MODELS)


def register_model_names(con, window: dict) -> list[list[str]]:
    """Temp view `model_names`: the book's exact names plus, for names in the window it does not list,
    the model its match rules resolve (resolved once per distinct name, not per request)."""
    unknown = con.execute(
        """
        select distinct requests.provider, requests.model
        from staging.stg_gateway_requests as requests
        anti join reference.model_aliases as aliases
            on aliases.provider = requests.provider and aliases.name = requests.model
        where requests.event_date >= $window_start and requests.event_date < $window_end
        """,
        window,
    ).fetchall()
    book = load_price_book() if unknown else None
    matched = [[provider, name, model] for provider, name in unknown if (model := book.resolve(provider, name))]
    con.register("_rule_matches", pa.table({k: [m[i] for m in matched] for i, k in enumerate(("provider", "name", "model"))}, schema=ALIAS_SCHEMA))
    con.execute(
        "create or replace temp view model_names as "
        "select provider, name, model from reference.model_aliases union all select provider, name, model from _rule_matches"
    )
    return matched


@dg.asset(
    key=["marts", "daily_spend"],
    group_name="marts",
    deps=[["core", "request_costs"], ["reference", "fx_rates"]],
    freshness_policy=MARTS_FRESHNESS,
    **_PARTITIONED,
)
def daily_spend(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per day x feature x user segment x provider x model x service tier: requests, tokens, cost."""
    start, end = window_dates(context)
    with tokenledger.warehouse() as con:
        rows = replace_window(con, "marts.daily_spend", sql_text("marts.daily_spend"), start, end)
        top = con.execute(
            "select feature, round(sum(cost_usd), 2) as cost_usd, sum(requests) as requests from marts.daily_spend "
            "where event_date >= $window_start and event_date < $window_end group by feature order by cost_usd desc",
            {"window_start": start, "window_end": end},
        ).fetchall()
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "spend_by_feature": dg.MetadataValue.md(markdown_table(["feature", "cost_usd", "requests"], top))}
    )


@dg.asset(
    key=["marts", "price_coverage"],
    group_name="marts",
    deps=[["core", "request_costs"]],
    pool="duckdb",
    kinds={"duckdb"},
    check_specs=[dg.AssetCheckSpec("every_model_priced", asset=["marts", "price_coverage"])],
    freshness_policy=MARTS_FRESHNESS,
)
def price_coverage(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per provider x model seen without a price: requests, tokens, first and last seen."""
    with tokenledger.warehouse() as con:
        _ensure_daily_models(con)
        rows = replace_table(con, "marts.price_coverage", sql_text("marts.price_coverage"))
        top = con.execute("select provider, model, unpriced_reasons, requests from marts.price_coverage order by requests desc limit 10").fetchall()
        unpriced, total = con.execute(
            "select (select coalesce(sum(requests), 0) from marts.price_coverage), (select count(*) from core.request_costs)"
        ).fetchall()[0]
    table = dg.MetadataValue.md(markdown_table(["provider", "model", "reasons", "requests"], top))
    return dg.MaterializeResult(
        metadata={"dagster/row_count": rows, "unpriced_models": table},
        check_results=[
            dg.AssetCheckResult(
                check_name="every_model_priced",
                passed=rows == 0,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"{unpriced} of {total} requests have no price" if unpriced else "every request is priced",
                metadata={"unpriced_requests": unpriced, "requests": total, "top_unpriced_models": table},
            )
        ],
    )


@dg.asset(
    key=["marts", "restatements"],
    group_name="marts",
    deps=[["marts", "daily_spend"]],
    pool="duckdb",
    kinds={"duckdb"},
    freshness_policy=MARTS_FRESHNESS,
)
def restatements(tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per daily_spend row of a closed month that changed after the close: before, after, delta, why."""
    with tokenledger.warehouse() as con:
        _ensure_daily_models(con)
        ensure_finance_tables(con)
        rows = replace_table(con, "marts.restatements", sql_text("marts.restatements"))
        by_month = con.execute(
            "select month, reason, count(*), sum(delta_usd) from marts.restatements group by all order by all"
        ).fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "by_month": dg.MetadataValue.md(markdown_table(["month", "reason", "rows", "delta_usd"], by_month)),
        }
    )
