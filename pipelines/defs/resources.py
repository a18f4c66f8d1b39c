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

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """In a run's step: record the run's worker, so a run whose worker dies can be found (`defs.run_workers`)."""
        from pipelines.defs.run_workers import record_run_worker

        if context.dagster_run is not None and context.instance is not None:
            record_run_worker(self.paths, context.instance, context.dagster_run.run_id)

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
