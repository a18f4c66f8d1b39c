"""Resources shared by every asset: the home folder and its warehouse."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from pipelines.settings import DEFAULT_HOME, HOME_ENV
from pipelines.storage.home import Home
from pipelines.warehouse.tables import open_lake, open_warehouse


class TokenledgerHome(dg.ConfigurableResource):
    """The home folder: landing, lake, warehouse and reports (README, "Using it on your own logs")."""

    home: str = DEFAULT_HOME

    @property
    def paths(self) -> Home:
        return Home.at(self.home)

    @contextmanager
    def warehouse(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The warehouse opened for writing, with every contract table there."""
        with open_warehouse(self.paths) as con:
            yield con

    @contextmanager
    def lake(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A scratch DuckDB over the lake tables, for a step that commits a lake table (no warehouse lock)."""
        with open_lake(self.paths) as con:
            yield con


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"tokenledger": TokenledgerHome(home=dg.EnvVar(HOME_ENV).get_value(DEFAULT_HOME))})
