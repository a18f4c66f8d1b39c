"""The reference tables: the price book, negotiated prices, exchange rates, and self-hosted GPU capacity.

`load_reference` validates pricing/, <home>/price_overrides.yaml, <home>/settings.yaml and landing/fx,
replaces the reference tables with them, and marks for rebuilding the days of marts.daily_spend reported in
another currency or at another rate than they now give. `refresh_gpu_capacity` rebuilds reference.gpu_capacity from the lake
and marks for re-pricing every day whose GPU cost changed, before the new table is committed, so a run killed
in between still re-prices them next time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from pipelines.pricing.book import PriceBook, load_price_book
from pipelines.pricing.fx import load_rates
from pipelines.pricing.overrides import load_overrides
from pipelines.settings import reporting_currency
from pipelines.storage.database import replace_table, sql_text, table_exists
from pipelines.storage.home import Home
from pipelines.storage.lake import mark_pending
from pipelines.storage.lake_tables import snapshot_reference
from pipelines.warehouse.tables import build, table


@dataclass(frozen=True)
class Reference:
    """What `load_reference` loaded: the book, the reporting currency and the rows of each table."""

    book: PriceBook
    currency: str
    rows: dict[str, int]
    fx_rejected: list[dict]
    restated: list[dt.date]
    """Days of marts.daily_spend in another currency or at another rate than the reference now gives: marked to rebuild."""


def load_reference(con: duckdb.DuckDBPyConnection, home: Home) -> Reference:
    """Validate the price book, overrides, settings and rates, then replace every reference table with them."""
    book = load_price_book(home_root=home.root)
    overrides = load_overrides(home.root)
    currency = reporting_currency(home.root)
    rates, fx_rejected = load_rates(home.landing)
    rows = {
        "reference.prices": build(con, home, "reference.prices", rows={"book_prices": book.prices})[0],
        "reference.model_aliases": build(con, home, "reference.model_aliases", rows={"book_aliases": book.aliases})[0],
        "reference.price_overrides": build(con, home, "reference.price_overrides", rows={"home_price_overrides": overrides})[0],
        "reference.fx_rates": build(con, home, "reference.fx_rates", rows={"landed_fx_rates": rates})[0],
        "reference.reporting_currency": build(con, home, "reference.reporting_currency", params={"currency": currency})[0],
        "audit.rejected_fx_rows": build(con, home, "audit.rejected_fx_rows", rows={"landed_fx_rejected": fx_rejected})[0],
    }
    restated = reporting_changed_days(con)
    mark_pending(home, set(restated))
    return Reference(book, currency, rows, fx_rejected.to_pylist(), restated)


def reporting_changed_days(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """The days of marts.daily_spend whose reporting currency or exchange rate is not what the reference tables now
    give; none before marts.daily_spend exists. Compared with what is stored, so a run killed before it rebuilt them
    finds them again."""
    if not table_exists(con, "marts.daily_spend"):  # a table or a view
        return []
    return [row[0] for row in con.execute(sql_text("queries/reporting_changed_days")).fetchall()]


def refresh_gpu_capacity(con: duckdb.DuckDBPyConnection, home: Home) -> tuple[int, list[dt.date]]:
    """Rebuild reference.gpu_capacity; (its rows, the days whose GPU cost changed, now marked for re-pricing)."""
    name = "reference.gpu_capacity"
    for item in table(name).inputs:
        item.setup(con, home, (dt.date.min, dt.date.min))
    con.execute(f"create or replace temp table _gpu_capacity as {sql_text(name)}")
    changed = [row[0] for row in con.execute(sql_text("queries/gpu_capacity_changed_days")).fetchall()]
    if changed:
        mark_pending(home, set(changed))
    count = replace_table(con, name, "select * from _gpu_capacity")
    snapshot_reference(home, con, name)
    return count, changed
