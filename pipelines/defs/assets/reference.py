"""The price book, loaded into DuckDB reference tables."""

import dagster as dg
import pyarrow as pa

from pipelines.defs.assets._util import markdown_table
from pipelines.defs.resources import TokenledgerHome
from pipelines.fx import load_rates, reporting_currency
from pipelines.overrides import load_overrides
from pipelines.pricebook import load_price_book
from pipelines.warehouse import replace_table


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["reference", "prices"],
            group_name="reference",
            kinds={"duckdb"},
            description="One row per price-book entry: model x version x service tier x context band, USD per 1M tokens.",
        ),
        dg.AssetSpec(
            ["reference", "model_aliases"],
            group_name="reference",
            kinds={"duckdb"},
            description="One row per model name the price book answers to (the model itself and its aliases).",
        ),
        dg.AssetSpec(
            ["reference", "fx_rates"],
            group_name="reference",
            kinds={"duckdb"},
            description="One row per dated exchange rate from landing/fx (units per USD), plus the reporting currency.",
        ),
        dg.AssetSpec(
            ["reference", "price_overrides"],
            group_name="reference",
            kinds={"duckdb"},
            description="One row per negotiated price override from <home>/price_overrides.yaml (wins over list prices).",
        ),
    ],
    pool="duckdb",
)
def price_book(tokenledger: TokenledgerHome):
    """Validate pricing/ and replace the reference tables with it."""
    book = load_price_book()
    overrides = load_overrides(tokenledger.paths.root)
    currency = reporting_currency(tokenledger.paths.root)
    rates, fx_rejected = load_rates(tokenledger.paths.landing)
    with tokenledger.warehouse() as con:
        prices = replace_table(con, "reference.prices", book.prices)
        aliases = replace_table(con, "reference.model_aliases", book.aliases)
        overridden = replace_table(con, "reference.price_overrides", overrides)
        fx_rows = replace_table(con, "reference.fx_rates", rates)
        replace_table(con, "reference.reporting_currency", pa.table({"currency": [currency]}))
        replace_table(con, "audit.rejected_fx_rows", fx_rejected)
    yield dg.MaterializeResult(
        asset_key=["reference", "prices"],
        metadata={"dagster/row_count": prices, "models": len(book.models)},
    )
    yield dg.MaterializeResult(asset_key=["reference", "model_aliases"], metadata={"dagster/row_count": aliases})
    yield dg.MaterializeResult(asset_key=["reference", "price_overrides"], metadata={"dagster/row_count": overridden})
    yield dg.MaterializeResult(
        asset_key=["reference", "fx_rates"],
        metadata={
            "dagster/row_count": fx_rows,
            "reporting_currency": currency,
            "rejected_rows": fx_rejected.num_rows,
            "rejected": dg.MetadataValue.md(
                markdown_table(["file", "row", "field", "reason"], [tuple(r.values()) for r in fx_rejected.to_pylist()[:10]])
            ),
        },
    )
