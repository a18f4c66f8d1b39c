"""Resources shared by every asset: the home folder and its warehouse."""

from contextlib import contextmanager

import dagster as dg

from pipelines.home import DEFAULT_HOME, HOME_ENV, Home
from pipelines.warehouse import connect


class TokenledgerHome(dg.ConfigurableResource):
    """The home folder (landing, lake, warehouse, reports); see DESIGN.md."""

    home: str = DEFAULT_HOME

    @property
    def paths(self) -> Home:
        return Home.at(self.home)

    @contextmanager
    def warehouse(self, read_only: bool = False):
        with connect(self.paths, read_only=read_only) as con:
            yield con


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"tokenledger": TokenledgerHome(home=dg.EnvVar(HOME_ENV).get_value(DEFAULT_HOME))})
