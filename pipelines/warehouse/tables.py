"""Every warehouse table, what its SQL reads, and the one bootstrap that creates the missing ones empty.

A table is `sql/<schema>/<name>.sql`: one select. What it reads besides other tables are inputs, temp views
(or a table macro) set up just before it runs: lake Parquet, the price book, a YAML file of the home.
`ensure_tables` creates every table that does not exist yet, in this order, from its SQL with no rows (its
inputs set up empty), so every reader finds every contract table from the first run on, and no asset has to
create the tables it reads. `build` sets up a table's inputs for real and replaces the table (or the window's
rows of a daily table) in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from pipelines.insights.anomalies import PARAMS as ANOMALY_PARAMS
from pipelines.insights.budgets import STATUS_SCHEMA
from pipelines.insights.chargeback import PAYERS_SCHEMA as CHARGEBACK_PAYERS_SCHEMA
from pipelines.insights.chargeback import TIER_PRICES_SCHEMA as CHARGEBACK_TIER_PRICES_SCHEMA
from pipelines.insights.experiments import DESIGNS_SCHEMA as EXPERIMENT_DESIGNS_SCHEMA
from pipelines.insights.experiments import STATS_SCHEMA as EXPERIMENT_STATS_SCHEMA
from pipelines.insights.whatif import SCENARIO_SCHEMA
from pipelines.pricing.book import ALIAS_SCHEMA, PRICE_SCHEMA
from pipelines.pricing.energy import API_RULES_SCHEMA, GPU_RULES_SCHEMA, load_energy
from pipelines.pricing.fx import RATES_SCHEMA
from pipelines.pricing.fx import REJECTED_SCHEMA as FX_REJECTED_SCHEMA
from pipelines.pricing.names import register_model_names
from pipelines.pricing.overrides import OVERRIDE_SCHEMA
from pipelines.pricing.tiers import RULES_SCHEMA, define_tiered_models, load_tier_rules
from pipelines.records.billing import BILLING
from pipelines.records.business import CARBON, EXPERIMENTS, GPU, OUTCOMES, OVERHEAD, REVENUE
from pipelines.records.read import RecordSource
from pipelines.settings import DEFAULT_PUE, DEFAULT_TOLERANCE, energy_settings, same_call_sources
from pipelines.storage.database import (
    add_missing_columns,
    connect,
    connect_scratch,
    replace_table,
    replace_window,
    sql_text,
)
from pipelines.storage.home import Home
from pipelines.storage.lake import (
    AUDIT_REJECTED_SCHEMA,
    LAKE_SCHEMA,
    MANIFEST_DIR,
    MANIFEST_SCHEMA,
    REJECTED_DIR,
    audit_files,
    read_manifest,
    request_files,
    table_files,
)
from pipelines.storage.lake_tables import (
    REFERENCE_SNAPSHOTS,
    attach,
    attach_reference,
    commit_window,
    is_lake_table,
    missing_reference,
    shape_of,
    snapshot_reference,
)
from pipelines.storage.relations import register_parquet

LAKE_ASSETS = (
    "lake/gateway_requests", "lake/billing_line_items", "lake/outcomes", "lake/revenue", "lake/gpu_capacity", "lake/experiment_assignments",
    "lake/overhead", "lake/carbon_intensity",
)
Window = tuple[dt.date, dt.date]
"""[start, end) of a daily table's rows, as UTC dates."""
NEVER: Window = (dt.date.min, dt.date.min)


@dataclass(frozen=True)
class Input:
    """Something a table's SQL reads that is not a warehouse table: a temp view or a table macro.

    `setup(con, home, window)` creates it with real rows; with `home` None it creates it empty (the bootstrap).
    `assets` are the assets whose output it reads (for `deps`), none when it reads a file of the home; `sql` is
    the file of a table macro, whose own reads count as the table's.
    """

    name: str
    setup: Callable[[duckdb.DuckDBPyConnection, Home | None, Window], object]
    assets: tuple[str, ...] = ()
    sql: str | None = None


@dataclass(frozen=True)
class Table:
    """A warehouse table: its name (and SQL file), its inputs, and how it is written.

    `daily`: its rows are replaced window by window ($window_start <= event_date < $window_end).
    `appended`: rows are added to it by commands (closing a month, saving a what-if), never replaced; the
    bootstrap adds columns its SQL gained since it was created. `params`: the SQL's other parameters, with
    the values the bootstrap creates it with. `reads`: the other SQL files its writer runs (sql/queries/).
    """

    name: str
    inputs: tuple[Input, ...] = ()
    daily: bool = False
    appended: bool = False
    params: dict = field(default_factory=dict)
    reads: tuple[str, ...] = ()

    @property
    def sql_files(self) -> tuple[str, ...]:
        """Every SQL file building this table runs: its own, its table macros', the queries its writer runs."""
        return (self.name, *(item.sql for item in self.inputs if item.sql), *self.reads)


def _arrow(name: str, schema: pa.Schema) -> Input:
    """Rows the writer computes in Python (from a YAML file, a CSV folder, a projection) and hands to `build`."""

    def setup(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> None:
        if home is not None:
            raise ValueError(f"{name}: give its rows to build(..., rows={{{name!r}: table}})")
        con.register(name, schema.empty_table())

    return Input(name, setup)


def _records(source: RecordSource) -> Input:
    """The lake Parquet of a record source (bills, outcomes, revenue, GPU capacity)."""

    def setup(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> None:
        name, files = f"lake_{source.table}", table_files(home, source.table) if home else []
        if not source.key:
            register_parquet(con, name, files, source.lake_schema)
            return
        # one row per key: the first landed file's (ingestion stores a later file's repeat of a key, counted as a
        # duplicate), so a key comes back from another file when the file that held it changes or leaves
        register_parquet(con, f"{name}_delivered", files, source.lake_schema)
        con.register(f"{name}_landed", _landed_at(home))
        key = ", ".join(f'd."{k}"' for k in source.key)
        con.execute(
            f"create or replace temp view {name} as select d.* from {name}_delivered as d left join {name}_landed as l "
            f"on l.file_id = d.file_id qualify row_number() over (partition by {key} order by l.ingested_at nulls last, "
            "d.source_file, d.source_row) = 1"
        )

    return Input(f"lake_{source.table}", setup, assets=(f"lake/{source.table}",))


def _landed_at(home: Home | None) -> pa.Table:
    """When each landed file was last read (file_id, ingested_at), from the manifest."""
    entries = list(read_manifest(home).values()) if home is not None else []
    return pa.table({"file_id": pa.array([e["file_id"] for e in entries], pa.string()),
                     "ingested_at": pa.array([e["ingested_at"] for e in entries], pa.timestamp("us", tz="UTC"))})


def _audit(name: str, folder: str, schema: pa.Schema) -> Input:
    """The lake's manifest or rejected rows, which every lake asset writes."""

    def setup(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> None:
        register_parquet(con, name, audit_files(home, folder) if home else [], schema)

    return Input(name, setup, assets=LAKE_ASSETS)


def _requests(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> None:
    days = [window[0] + dt.timedelta(days=n) for n in range((window[1] - window[0]).days)]
    register_parquet(con, "lake_gateway_requests", request_files(home, days) if home else [], LAKE_SCHEMA)


def _duplicate_records(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> None:
    """The identity rule as table macro duplicate_records(window_start, window_end) (the records that do not
    count), with settings.yaml's same_call_sources (rank = position in the list) as a view."""
    sources = same_call_sources(home.root) if home is not None else []
    con.register("same_call_sources", pa.table({"source": pa.array(sources, pa.string()), "rank": pa.array(range(1, len(sources) + 1), pa.int32())}))
    con.execute(f"create or replace temp macro duplicate_records(window_start, window_end) as table {sql_text('staging._duplicate_records')}")


GATEWAY_RECORDS = (
    Input("lake_gateway_requests", _requests, assets=("lake/gateway_requests",)),
    Input("duplicate_records", _duplicate_records, sql="staging._duplicate_records"),
)


def _model_names(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> list[list[str]]:
    return register_model_names(con, {"window_start": window[0], "window_end": window[1]}, home.root if home else None)


def _gpu_allocation(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> None:
    con.execute(f"create or replace temp macro gpu_allocation(window_start, window_end) as table {sql_text('core._gpu_allocation')}")


def _outcome_requests(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> None:
    con.execute(f"create or replace temp macro outcome_requests() as table {sql_text('core._outcome_requests')}")


OUTCOME_REQUESTS = Input("outcome_requests", _outcome_requests, sql="core._outcome_requests")


def _tier_rules(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> None:
    con.register("tier_rules", load_tier_rules(home.root) if home else RULES_SCHEMA.empty_table())


TIER_RULES = (
    Input("tier_rules", _tier_rules),
    Input("tiered_models", lambda con, home, window: define_tiered_models(con), sql="marts._tiered_models"),
)


CLUSTER_ENERGY_SCHEMA = pa.schema([("cluster", pa.string()), ("region", pa.string()), ("pue", pa.decimal128(38, 9))])


def _energy(con: duckdb.DuckDBPyConnection, home: Home | None, window: Window) -> None:
    """The GPU and API energy figures (pricing/energy.yaml, then the home's energy.yaml) and each cluster's region
    and PUE from settings.yaml, as gpu_energy_rules, api_energy_rules and cluster_energy."""
    gpus, apis = load_energy(home.root) if home else (GPU_RULES_SCHEMA.empty_table(), API_RULES_SCHEMA.empty_table())
    clusters = energy_settings(home.root)[1] if home else []
    con.register("gpu_energy_rules", gpus)
    con.register("api_energy_rules", apis)
    con.register("cluster_energy", pa.Table.from_pylist(clusters, schema=CLUSTER_ENERGY_SCHEMA))


_MONTH = {"month": "", "month_start": dt.date.min, "month_end": dt.date.min}

TABLES: tuple[Table, ...] = (
    Table("reference.prices", (_arrow("book_prices", PRICE_SCHEMA),)),
    Table("reference.model_aliases", (_arrow("book_aliases", ALIAS_SCHEMA),)),
    Table("reference.price_overrides", (_arrow("home_price_overrides", OVERRIDE_SCHEMA),)),
    Table("reference.fx_rates", (_arrow("landed_fx_rates", RATES_SCHEMA),)),
    Table("reference.reporting_currency", params={"currency": "USD"}),
    Table("audit.rejected_fx_rows", (_arrow("landed_fx_rejected", FX_REJECTED_SCHEMA),)),
    Table("audit.ingested_files", (_audit("lake_ingested_files", MANIFEST_DIR, MANIFEST_SCHEMA),)),
    Table("audit.rejected_rows", (_audit("lake_rejected_rows", REJECTED_DIR, AUDIT_REJECTED_SCHEMA),)),
    Table("reference.gpu_capacity", (_records(GPU),), reads=("queries/gpu_capacity_changed_days",)),
    Table("staging.stg_gateway_requests", GATEWAY_RECORDS, daily=True),
    Table("audit.duplicate_requests", GATEWAY_RECORDS, daily=True),
    Table(
        "core.request_costs",
        (
            Input("model_names", _model_names, assets=("reference/model_aliases",)),
            Input("gpu_allocation", _gpu_allocation, sql="core._gpu_allocation"),
        ),
        daily=True,
        reads=("queries/unknown_model_names",),
    ),
    Table("marts.daily_spend", daily=True),
    Table("finance.closed_periods", appended=True, params=_MONTH),
    Table("finance.daily_spend", appended=True, params=_MONTH),
    Table("core.billing_line_items", (_records(BILLING),)),
    Table("core.outcomes", (_records(OUTCOMES),)),
    Table("core.revenue", (_records(REVENUE),)),
    Table("core.experiment_assignments", (_records(EXPERIMENTS),)),
    Table("core.overhead", (_records(OVERHEAD),)),
    Table("reference.carbon_intensity", (_records(CARBON),)),
    Table("core.experiment_units", (_arrow("experiment_designs", EXPERIMENT_DESIGNS_SCHEMA), OUTCOME_REQUESTS)),
    Table("marts.price_coverage"),
    Table("marts.price_coverage_daily"),
    Table("marts.restatements"),
    Table("marts.billing_reconciliation", params={"tolerance_pct": DEFAULT_TOLERANCE[0], "tolerance_usd": DEFAULT_TOLERANCE[1]}),
    Table("marts.outcome_costs", (OUTCOME_REQUESTS,)),
    Table("marts.latency_cost", (OUTCOME_REQUESTS,)),
    Table(
        "marts.experiment_results",
        (_arrow("experiment_stats", EXPERIMENT_STATS_SCHEMA),),
        reads=("queries/experiment_buckets", "queries/experiment_latency_bins", "queries/experiment_variants"),
    ),
    Table("marts.revenue_ratio"),
    Table("marts.revenue_ratio_by_segment"),
    Table("marts.self_hosted_costs"),
    Table(
        "marts.self_host_breakeven",
        (
            *TIER_RULES,
            Input(
                "reprice",
                lambda con, home, window: con.execute(
                    f"create or replace temp macro reprice(requests, with_overrides) as table {sql_text('marts._reprice')}"
                ),
                sql="marts._reprice",
            ),
        ),
    ),
    Table("marts.full_cost"),
    Table("marts.energy_carbon", (Input("energy_rules", _energy),), params={"default_pue": DEFAULT_PUE}),
    Table("marts.cost_per_outcome"),
    Table("marts.unit_economics"),
    Table("marts.unit_economics_by_feature"),
    Table("marts.model_tier_spend", TIER_RULES),
    Table("marts.cache_savings"),
    Table("marts.spend_anomalies", params=ANOMALY_PARAMS),
    Table(
        "marts.chargeback_usage",
        (
            _arrow("chargeback_payers", CHARGEBACK_PAYERS_SCHEMA),
            _arrow("chargeback_tier_prices", CHARGEBACK_TIER_PRICES_SCHEMA),
            *TIER_RULES,
        ),
    ),
    Table("finance.chargeback_usage", appended=True, params={"month": ""}),
    Table("marts.chargeback_lines"),
    Table("marts.chargeback_statements"),
    Table("marts.budget_status", (_arrow("budget_status_rows", STATUS_SCHEMA),), reads=("queries/month_span", "queries/budget_month_spend")),
    Table("marts.scenarios", (_arrow("scenario_rows", SCENARIO_SCHEMA),), appended=True, reads=("queries/month_span", "queries/whatif_growth")),
)
BY_NAME = {table.name: table for table in TABLES}


def table(name: str) -> Table:
    """The catalog entry of a warehouse table; KeyError names it when it has none."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name} is not a warehouse table (known: {', '.join(BY_NAME)})") from None


def ensure_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create every missing table empty, in catalog order; add the columns appended tables' SQL gained.

    A lake table (`storage.lake_tables`) gets its shape instead (`_lake.<schema>__<table>`, no rows) and, until
    `attach` points it at the lake, a view over that shape. Returns the tables created. Cheap when nothing is
    missing: one query lists the tables. A new table whose SQL reads a column an older warehouse's table lacks
    (the warehouse was made before the column was added) first gives the tables before it the columns their SQL
    has now, null until they are rebuilt.
    """
    existing = {
        f"{schema}.{name}"
        for schema, name in con.execute("select table_schema, table_name from information_schema.tables where table_catalog = current_database()").fetchall()
    }
    created = []
    for index, entry in enumerate(TABLES):
        target = shape_of(entry.name) if is_lake_table(entry.name) else entry.name
        if target in existing and not entry.appended:
            continue
        params = _empty_inputs(con, entry)
        if target not in existing:
            con.execute(f"create schema if not exists {target.split('.')[0]}")
            try:
                con.execute(f"create table {target} as select * from ({sql_text(entry.name)}) with no data", params)
            except duckdb.BinderException:
                _widen(con, TABLES[:index], existing)
                params = _empty_inputs(con, entry)
                con.execute(f"create table {target} as select * from ({sql_text(entry.name)}) with no data", params)
            if target != entry.name and entry.name not in existing:
                con.execute(f"create view {entry.name} as select * from {target}")
            created.append(entry.name)
        else:
            add_missing_columns(con, entry.name, sql_text(entry.name), params)
    return created


def _empty_inputs(con: duckdb.DuckDBPyConnection, entry: Table) -> dict:
    """Set up a table's inputs with no rows; the parameters its SQL is bound with for the bootstrap."""
    for item in entry.inputs:
        item.setup(con, None, NEVER)
    return {**({"window_start": NEVER[0], "window_end": NEVER[1]} if entry.daily else {}), **entry.params}


def _widen(con: duckdb.DuckDBPyConnection, entries: tuple[Table, ...], existing: set[str]) -> None:
    """Give each existing warehouse table of `entries` the columns its SQL gives now (older rows get nulls)."""
    for entry in entries:
        if entry.name in existing and not is_lake_table(entry.name):
            add_missing_columns(con, entry.name, sql_text(entry.name), _empty_inputs(con, entry))


@contextmanager
def open_warehouse(home: Home) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse opened for writing, every contract table there (see `ensure_tables`) and the lake tables'
    views over their current files."""
    with connect(home) as con:
        ensure_tables(con)
        attach(con, home, persistent=True)
        yield con


@contextmanager
def open_lake(home: Home) -> Iterator[duckdb.DuckDBPyConnection]:
    """A scratch DuckDB for a step that writes only lake tables: the lake tables and the reference tables (the
    lake's copies) as views, no warehouse lock. A reference table never copied yet is copied from the warehouse."""
    with connect_scratch(home) as con:
        attach(con, home, persistent=False)
        if missing_reference(home):
            with open_warehouse(home) as warehouse:
                for name in missing_reference(home):
                    snapshot_reference(home, warehouse, name)
        attach_reference(con, home)
        yield con


def build(
    con: duckdb.DuckDBPyConnection,
    home: Home,
    name: str,
    window: Window | None = None,
    params: dict | None = None,
    rows: dict[str, pa.Table] | None = None,
    audit: Callable[[str], bool] | None = None,
) -> tuple[int, dict[str, object]]:
    """Set up a table's inputs (`rows` gives those computed in Python) and replace the table from its SQL, or a
    daily table's window; (rows now in the table or window, what each input's setup returned by name).

    A lake table's window is committed to the lake (on a connection from `open_lake`), whose views then read it,
    unless `audit` (given a relation over the new rows) refuses them: see `lake_tables.commit_window`. A reference
    table the pricing step reads is copied to the lake."""
    entry = table(name)
    if entry.daily and window is None:
        raise ValueError(f"{name} is replaced window by window: give the window")
    rows = rows or {}
    found = {}
    for item in entry.inputs:
        if item.name in rows:
            con.register(item.name, rows[item.name])
        else:
            found[item.name] = item.setup(con, home, window or NEVER)
    if is_lake_table(name):
        window_params = {**(params or {}), "window_start": window[0], "window_end": window[1]}
        count, _ = commit_window(home, con, name, sql_text(name), window[0], window[1], window_params, audit)
        attach(con, home, persistent=False)
        return count, found
    if entry.daily:
        return replace_window(con, name, sql_text(name), window[0], window[1], params), found
    count = replace_table(con, name, sql_text(name), params)
    if name in REFERENCE_SNAPSHOTS:
        snapshot_reference(home, con, name)
    return count, found
