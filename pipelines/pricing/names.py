"""Which price-book model a request's (provider, model) names: exact names first, then the book's match rules.

The warehouse joins requests to `reference.model_aliases` (the exact names). Names it does not know are
resolved once per distinct name per window by the book's match rules (`PriceBook.resolve`), never per request.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.pricing.book import ALIAS_SCHEMA, load_price_book
from pipelines.storage.database import sql_text


def register_model_names(con: duckdb.DuckDBPyConnection, window: dict, home_root: Path | None = None) -> list[list[str]]:
    """Temp view `model_names` (provider, name, model): the book's exact names plus, for names in the window it
    does not list, the model its match rules resolve (the home's price files' rules first). Returns those
    [provider, name, model] matches."""
    unknown = con.execute(sql_text("queries/unknown_model_names"), window).fetchall()
    book = load_price_book(home_root=home_root) if unknown else None
    matched = [[provider, name, model] for provider, name in unknown if (model := book.resolve(provider, name))]
    con.register("_rule_matches", pa.table({k: [m[i] for m in matched] for i, k in enumerate(ALIAS_SCHEMA.names)}, schema=ALIAS_SCHEMA))
    con.execute(
        "create or replace temp view model_names as "
        "select provider, name, model from reference.model_aliases union all select provider, name, model from _rule_matches"
    )
    return matched
