"""Reference tables: the price book, negotiated prices and exchange rates, and self-hosted GPU capacity."""

import dagster as dg

from pipelines.defs.checks import markdown_table, unconverted
from pipelines.defs.resources import TokenledgerHome
from pipelines.defs.sql_models import WAREHOUSE, header, preview, sql_metadata, sql_model
from pipelines.warehouse.reference import load_reference, refresh_gpu_capacity
from pipelines.warehouse.tables import table

GPU_USD = unconverted("reference.gpu_capacity", "gpu_cost_in_usd", "GPU record")

_BOOK_TABLES = (
    "reference.prices", "reference.model_aliases", "reference.price_overrides", "reference.fx_rates", "reference.reporting_currency",
    "audit.rejected_fx_rows",
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(name.split("."), group_name=name.split(".")[0], kinds={"duckdb"}, description=header(name), metadata=sql_metadata(table(name).sql_files))
        for name in _BOOK_TABLES
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
            "restated_days": dg.MetadataValue.json([d.isoformat() for d in loaded.restated]),
            "rejected_rows": len(loaded.fx_rejected),
            "rejected_from": "landing/fx",
            "rejected_in": "audit.rejected_fx_rows",
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
    description=header("reference.gpu_capacity"),
    metadata=sql_metadata(table("reference.gpu_capacity").sql_files, [GPU_USD]),
    **WAREHOUSE,
)
def gpu_capacity(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """Rebuild the GPU capacity from the lake; re-price the days whose GPU cost changed."""
    with tokenledger.warehouse() as con:
        rows, changed = refresh_gpu_capacity(con, tokenledger.paths)
        if changed:
            context.log.info(f"GPU cost changed on {len(changed)} day(s): their self-hosted requests are re-priced")
        shown = preview(con, "reference.gpu_capacity", {})
        check = GPU_USD.evaluate(con)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "repriced_days": dg.MetadataValue.json([d.isoformat() for d in changed]),
            "preview": shown,
        },
        check_results=[check],
    )


carbon_intensity = sql_model("reference.carbon_intensity", deps=["lake/carbon_intensity"])
