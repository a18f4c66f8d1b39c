"""Reference tables: the price book, negotiated prices and exchange rates, and self-hosted GPU capacity."""

import dagster as dg

from pipelines.defs.checks import markdown_table, unconverted
from pipelines.defs.resources import TokenledgerHome
from pipelines.defs.sql_models import WAREHOUSE, Preview, sql_metadata
from pipelines.warehouse.reference import load_reference, refresh_gpu_capacity
from pipelines.warehouse.tables import table

GPU_USD = unconverted("reference.gpu_capacity", "gpu_cost_in_usd", "GPU record", ("cluster", "event_date", "currency"))
GPU_PREVIEW = Preview(("event_date", "cluster", "gpu_type", "gpu_count", "hours", "currency", "cost_usd"), "event_date desc, cluster, gpu_type")

_BOOK_TABLES = {
    "reference.prices": "One row per price-book entry: model x version x service tier x context band, USD per 1M tokens.",
    "reference.model_aliases": "One row per model name the price book answers to (the model itself and its aliases).",
    "reference.price_overrides": "One row per negotiated price override from <home>/price_overrides.yaml (wins over list prices).",
    "reference.fx_rates": "One row per dated exchange rate from landing/fx (units per USD).",
    "reference.reporting_currency": "One row: the reporting currency from <home>/settings.yaml (default USD).",
    "audit.rejected_fx_rows": "One row per rejected exchange-rate row under landing/fx: file, row, field, reason.",
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(name.split("."), group_name=name.split(".")[0], kinds={"duckdb"}, description=text, metadata=sql_metadata(table(name).sql_files))
        for name, text in _BOOK_TABLES.items()
    ],
    pool="duckdb",
)
def price_book(tokenledger: TokenledgerHome):
    """Validate pricing/, the home's overrides, settings and rates, and replace the reference tables with them."""
    with tokenledger.warehouse() as con:
        loaded = load_reference(con, tokenledger.paths)
    extra = {
        "reference.prices": {"models": len(loaded.book.models)},
        "reference.fx_rates": {
            "reporting_currency": loaded.currency,
            "rejected_rows": len(loaded.fx_rejected),
            "rejected": dg.MetadataValue.md(markdown_table(["file", "row", "field", "reason"], [tuple(r.values()) for r in loaded.fx_rejected[:10]])),
        },
    }
    for name, rows in loaded.rows.items():
        yield dg.MaterializeResult(asset_key=name.split("."), metadata={"dagster/row_count": rows, **extra.get(name, {})})


@dg.asset(
    key=["reference", "gpu_capacity"],
    group_name="reference",
    deps=[["lake", "gpu_capacity"], ["reference", "fx_rates"]],
    check_specs=[GPU_USD.spec()],
    metadata=sql_metadata(table("reference.gpu_capacity").sql_files, [GPU_USD]),
    **WAREHOUSE,
)
def gpu_capacity(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per self-hosted cluster x day x GPU type: GPU-hours, capacity and the day's cost in USD."""
    with tokenledger.warehouse() as con:
        rows, changed = refresh_gpu_capacity(con, tokenledger.paths)
        if changed:
            context.log.info(f"GPU cost changed on {len(changed)} day(s): their self-hosted requests are re-priced")
        preview = con.execute(GPU_PREVIEW.sql("reference.gpu_capacity")).fetchall()
        check = GPU_USD.evaluate(con)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "repriced_days": dg.MetadataValue.json([d.isoformat() for d in changed]),
            "preview": dg.MetadataValue.md(markdown_table(GPU_PREVIEW.columns, preview)),
        },
        check_results=[check],
    )
