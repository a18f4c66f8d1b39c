"""The home folder that holds all of tokenledger's state, and where shipped files live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipelines.settings import DEFAULT_HOME, HOME_ENV, LAKE_URL_ENV, LANDING_URL_ENV, env
from pipelines.storage.store import Store

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def shipped_dir(name: str) -> Path:
    """`sql`, `pricing` or `dagster.yaml`: from the source tree when run from it, else from the wheel."""
    source_tree = _PACKAGE_DIR.parent
    if (source_tree / "pyproject.toml").is_file() and (source_tree / name).exists():
        return source_tree / name
    return _PACKAGE_DIR / "_data" / name


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """The home folder: the argument, else $TOKENLEDGER_HOME, else ./data."""
    chosen = home if home is not None else env(HOME_ENV) or DEFAULT_HOME
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class Home:
    """Paths inside one home folder, which holds all of tokenledger's state (README, "Using it on your own logs")."""

    root: Path

    @classmethod
    def at(cls, home: str | os.PathLike | None = None) -> "Home":
        return cls(resolve_home(home))

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse(self) -> Path:
        """The published warehouse: what finance, `tokenledger sql` and the report open (read-only)."""
        return self.root / "warehouse.duckdb"

    @property
    def work_warehouse(self) -> Path:
        """The pipeline's working warehouse; `storage.database.publish` copies it over `warehouse` after a run."""
        return self.root / ".work" / "warehouse.duckdb"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.root / ".dagster"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    def gateway_landing(self, fmt: str) -> Path:
        return self.landing / "gateway" / fmt

    def lake_table(self, name: str) -> Path:
        return self.lake / name

    def ensure(self) -> "Home":
        for folder in (self.landing / "gateway" / "envelope", self.lake, self.reports, self.secrets):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def landing_url(self) -> str | None:
        """Where gateway landing files live when they are not under <home>/landing: $TOKENLEDGER_LANDING_URL."""
        return env(LANDING_URL_ENV)

    @property
    def lake_url(self) -> str | None:
        """Where the lake lives when it is not <home>/lake: $TOKENLEDGER_LAKE_URL (for example s3://bucket/lake)."""
        return env(LAKE_URL_ENV)

    @property
    def landing_store(self) -> Store:
        """The landing folder as a Store: local <home>/landing, or the bucket prefix in $TOKENLEDGER_LANDING_URL."""
        return Store.at(self.landing_url or self.landing)

    @property
    def lake_store(self) -> Store:
        """The lake as a Store: local <home>/lake, or the bucket prefix in $TOKENLEDGER_LAKE_URL."""
        return Store.at(self.lake_url or self.lake)

    @property
    def scratch(self) -> Path:
        """Local scratch space for one run's temporary files (DuckDB spill files, staged Parquet)."""
        return self.root / ".tmp"
