"""Daily tables kept in the lake as Delta tables: the request-level `staging.stg_gateway_requests`,
`core.request_costs` and `audit.duplicate_requests`, and `marts.daily_spend`.

Each is a Delta table under `<lake>/tables/<schema>/<table>/`, partitioned by `event_date` (the column is also
kept in the data files, so a reader that ignores partition values still has it). The step that owns a window of
days writes that window's Parquet files with DuckDB and replaces the window's partitions in one Delta commit;
two runs pricing different days commit to one table at once (Delta's optimistic concurrency), and a run killed
before its commit leaves the table as it was (its files are never referenced; `vacuum` removes them).

The warehouse reaches them as views: `attach` (re)creates a view named as each table over the exact files of the tables' current versions, so the published warehouse keeps
reading the version it was published with while later runs commit. Files no longer in a version are removed
after RETENTION_HOURS, so a reader left open that long keeps working.

The reference tables the daily steps read (prices, aliases, overrides, GPU capacity, exchange rates, reporting
currency) are copied to `<lake>/tables/reference/<table>.parquet` whenever they are built, so pricing a day and
summing its spend need no warehouse lock.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.storage.home import Home
from pipelines.storage.lock import short_lock
from pipelines.storage.processes import pid_alive
from pipelines.storage.relations import register_parquet, sql_literal

LAKE_TABLES = ("audit.duplicate_requests", "staging.stg_gateway_requests", "core.request_costs", "marts.daily_spend")
"""The warehouse tables kept in the lake as Delta tables: one row per request or gateway record, and the daily spend
built from them, so that no step of a day's partition waits for the warehouse."""
REFERENCE_SNAPSHOTS = (
    "reference.prices", "reference.model_aliases", "reference.price_overrides", "reference.gpu_capacity",
    "reference.fx_rates", "reference.reporting_currency",
)
"""The reference tables copied to the lake for the steps that price (and sum a day's spend) without the warehouse."""
COPIED = ("marts.daily_spend",)
"""Lake tables the warehouse holds as tables, copied from the lake whenever their version changed, so that any DuckDB
session on the published file reads them (a view over a bucket needs tokenledger's connection): small daily sums."""
PARTITION = "event_date"
RETENTION_HOURS = 168
"""How long a data file no longer in a table's current version is kept (Delta's default, 7 days)."""
FILE_SIZE = "128MB"
SHAPES = "_lake"
"""The warehouse schema holding each lake table's columns with no rows, which its view reads while the table has no file."""


def is_lake_table(name: str) -> bool:
    return name in LAKE_TABLES


def folder(name: str) -> str:
    """Where a lake table lives, relative to the lake: `core.request_costs` -> tables/core/request_costs."""
    return "tables/" + name.replace(".", "/")


def table_uri(home: Home, name: str) -> str:
    return home.lake_store.uri(folder(name))


def storage_options(home: Home) -> dict[str, str] | None:
    """Options of `deltalake` for a table in a bucket: endpoint, region and credentials from the AWS variables."""
    if home.lake_store.is_local:
        return None
    options = {}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_PROFILE"):
        if os.environ.get(name):
            options[name] = os.environ[name]
    options.setdefault("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    # deltalake 1.x commits with S3's conditional put (If-None-Match): of two commits of one version, one wins
    # and the other retries on the new version, with no lock service.
    return options


def open_table(home: Home, name: str):
    """The Delta table, or None before its first commit."""
    from deltalake import DeltaTable

    uri = table_uri(home, name)
    options = storage_options(home)
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        return None
    return DeltaTable(uri, storage_options=options)


def held_dates(home: Home, name: str) -> set[dt.date]:
    """The event dates the table's current version holds rows of (its partitions); none before its first commit."""
    table = open_table(home, name)
    if table is None:
        return set()
    return {dt.date.fromisoformat(values[PARTITION]) for values in table.partitions() if values.get(PARTITION)}


def current_files(home: Home, name: str) -> tuple[list[str], pa.Schema] | None:
    """The data files of the table's current version (paths or s3:// URLs) and its columns; None before its first commit."""
    table = open_table(home, name)
    return None if table is None else _files_of(table)


def _files_of(table) -> tuple[list[str], pa.Schema]:
    # file_uris() percent-encodes the paths (a space is %20); DuckDB and pyarrow want them as they are
    return [unquote(uri) for uri in table.file_uris()], pa.schema(table.schema().to_arrow())


def commit_window(
    home: Home, con: duckdb.DuckDBPyConnection, name: str, select_sql: str, start: dt.date, end: dt.date, params: dict,
    audit: Callable[[str], bool] | None = None,
) -> tuple[int, bool]:
    """Replace the days start <= event_date < end of lake table `name` by the select's rows, in one Delta commit;
    (rows written, whether they were committed).

    DuckDB writes the rows as zstd Parquet files (one folder per day, FILE_SIZE each at most) into the home's
    scratch folder; they are moved into the table's folder, then one commit removes the window's old files and
    adds the new ones. Returns the rows written. A one-day window (the daily run's) is written by every thread into
    the day's folder without DuckDB's partitioned writer, which takes about 1.6 times the CPU for the same files;
    its files' event_date statistics then show that every row is of that day.

    `audit(relation)` is the write-audit-publish gate: given a SQL relation over the new files (before they reach the
    table) it returns whether to commit them; when it says no, nothing is committed and the table keeps the window's
    previous rows (a failed data contract never reaches a reader of the lake).
    """
    from deltalake import Schema
    from deltalake.transaction import AddAction, create_table_with_add_actions

    store = home.lake_store
    scratch = _scratch(home)
    try:
        query = f"select * from ({select_sql})"
        schema = con.sql(f"{query} limit 0", params=params).to_arrow_table().schema
        one_day = end - start == dt.timedelta(days=1)
        target = scratch / f"{PARTITION}={start.isoformat()}" if one_day else scratch
        layout = "per_thread_output true" if one_day else f"partition_by ({PARTITION}), write_partition_columns true"
        con.execute(
            f"copy ({query}) to {sql_literal(target.as_posix())} (format parquet, compression zstd, {layout}, "
            f"file_size_bytes {sql_literal(FILE_SIZE)}, filename_pattern 'part-{{uuid}}')",
            params,
        )
        written = []
        for path in sorted(scratch.rglob("*.parquet")):
            day = path.parent.name.split("=", 1)[1]
            metadata = pq.read_metadata(path)
            days = {day} if not one_day else _days_in(metadata, schema.get_field_index(PARTITION))
            outside = sorted(d for d in days if not start.isoformat() <= d < end.isoformat())
            if outside:
                raise ValueError(f"{name}: the select gave rows of {outside[0]}, outside [{start}, {end})")
            if metadata.num_rows:
                written.append((path, day, metadata.num_rows))
        if written and audit is not None:
            files = ", ".join(sql_literal(path.as_posix()) for path, _, _ in written)
            if not audit(f"read_parquet([{files}])"):
                return sum(count for _, _, count in written), False
        actions, rows = [], 0
        for path, day, count in written:
            size = path.stat().st_size
            relative = f"{PARTITION}={day}/{path.name}"
            store.put_file(path, f"{folder(name)}/{relative}")
            now = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
            actions.append(AddAction(relative, size, {PARTITION: day}, now, True, json.dumps({"numRecords": count})))
            rows += count
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    uri, options = table_uri(home, name), storage_options(home)
    table = open_table(home, name)
    if table is None:
        with short_lock(home, f"create-{folder(name).replace('/', '-')}"):  # two first commits create it once
            table = open_table(home, name)
            if table is None:
                create_table_with_add_actions(uri, Schema.from_arrow(schema), actions, mode="append",
                                              partition_by=[PARTITION], storage_options=options)
                return rows, True
    days = [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days)]
    table.create_write_transaction(actions, mode="overwrite", schema=_widened(table, schema), partition_by=[PARTITION],
                                   partition_filters=[(PARTITION, "in", days)])
    return rows, True


def _days_in(metadata: pq.FileMetaData, column: int) -> set[str]:
    """The event dates a Parquet file's row groups hold, from their min / max statistics ('null' for a row group
    with a null event_date or without statistics)."""
    days = set()
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group)
        if chunk.num_rows == 0:
            continue
        stats = chunk.column(column).statistics
        if stats is None or not stats.has_min_max or stats.null_count:
            days.add("null")
        else:
            days |= {stats.min.isoformat(), stats.max.isoformat()}
    return days


def _scratch(home: Home) -> Path:
    """A new scratch folder `<home>/.tmp/lake-<pid>-<random>`; first removes those of processes no longer alive
    (a step killed while it wrote its files)."""
    home.scratch.mkdir(parents=True, exist_ok=True)
    for left in home.scratch.glob("lake-*"):
        pid = left.name.split("-")[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    scratch = home.scratch / f"lake-{os.getpid()}-{uuid.uuid4().hex}"
    scratch.mkdir()
    return scratch


def _widened(table, schema: pa.Schema):
    """The table's schema, with the columns the new rows add at the end (older files read them as nulls)."""
    from deltalake import Schema

    have = pa.schema(table.schema().to_arrow())
    added = [field for field in schema if field.name not in have.names]
    return Schema.from_arrow(pa.schema([*have, *added])) if added else table.schema()


def vacuum(home: Home) -> list[str]:
    """Remove the files of every lake table that left its current version more than RETENTION_HOURS ago."""
    removed = []
    for name in LAKE_TABLES:
        table = open_table(home, name)
        if table is not None:
            removed += table.vacuum(retention_hours=RETENTION_HOURS, dry_run=False)
    return removed


def shape_of(name: str) -> str:
    """The warehouse table holding a lake table's columns with no rows: `_lake.core__request_costs`."""
    return f"{SHAPES}.{name.replace('.', '__')}"


def _view_name(name: str) -> str:
    return f"{SHAPES}_{name.replace('.', '__')}"


def attach(con: duckdb.DuckDBPyConnection, home: Home, *, persistent: bool) -> None:
    """Views named as the lake tables (LAKE_TABLES) over their current files.

    `persistent`: the warehouse being written; the views are stored in it (over local files by path; over a
    bucket through a dataset registered under `_lake_<schema>__<table>`, which `register_remote` registers again
    on a reader's connection). Otherwise (a scratch connection) the views are created in its own catalog.
    """
    for name in LAKE_TABLES:
        if persistent and name in COPIED:
            _copy(con, home, name)
            continue
        if persistent:
            _drop_table(con, home, name)
        found = current_files(home, name)
        files, schema = found if found else ([], None)
        if files:
            body = _files_body(con, name, files, schema)
        elif persistent:
            if not _exists(con, shape_of(name)):
                continue
            body = f"select * from {shape_of(name)}"
        elif schema is not None:
            con.register(_view_name(name), schema.empty_table())
            body = f"select * from {_view_name(name)}"
        else:
            continue
        con.execute(f"create schema if not exists {name.split('.')[0]}")
        con.execute(f"create or replace view {name} as {body}")


def register_remote(con: duckdb.DuckDBPyConnection, home: Home) -> None:
    """On a reader's connection to a warehouse whose lake is in a bucket: the datasets its views read."""
    if home.lake_store.is_local:
        return
    for name in LAKE_TABLES:
        found = current_files(home, name)
        if found and found[0]:
            register_parquet(con, _view_name(name), *found)


def _files_body(con: duckdb.DuckDBPyConnection, name: str, files: list[str], schema: pa.Schema) -> str:
    """The select over a lake table's data files: local files by path, a bucket's through a registered dataset."""
    if "://" not in files[0]:
        listed = ", ".join(sql_literal(f) for f in files)
        return f"select * from read_parquet([{listed}], hive_partitioning = false, union_by_name = true)"
    register_parquet(con, _view_name(name), files, schema)
    return f"select * from {_view_name(name)}"


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return _kind(con, table) is not None


def _commit_table_rows(con: duckdb.DuckDBPyConnection, home: Home, name: str) -> None:
    """A warehouse from before the lake tables holds `name` as a table: its rows are committed to the lake table."""
    span = con.execute(f"select min({PARTITION}), max({PARTITION}) from {name}").fetchall()[0]
    if span[0] is not None:
        commit_window(home, con, name, f"select * from {name}", span[0], span[1] + dt.timedelta(days=1), {})


def _drop_table(con: duckdb.DuckDBPyConnection, home: Home, name: str) -> None:
    """A warehouse from before the lake tables holds `name` as a table: its rows go to the lake table first."""
    if _kind(con, name) != "BASE TABLE":
        return
    _commit_table_rows(con, home, name)
    con.execute(f"drop table {name}")


def _copy(con: duckdb.DuckDBPyConnection, home: Home, name: str) -> None:
    """The warehouse's table `name` made equal to the lake table's current version, unless it already is (the version
    copied is kept in `_lake.versions`). A warehouse from before the lake table holds its rows: they are committed
    to the lake first."""
    con.execute(f"create schema if not exists {SHAPES}")
    con.execute(f"create table if not exists {SHAPES}.versions (name varchar primary key, version bigint not null)")
    copied = con.execute(f"select version from {SHAPES}.versions where name = ?", [name]).fetchall()
    kind = _kind(con, name)
    table = open_table(home, name)
    if table is None and kind == "BASE TABLE" and not copied:
        _commit_table_rows(con, home, name)
        table = open_table(home, name)
    version = table.version() if table is not None else -1
    if kind == "BASE TABLE" and copied and copied[0][0] == version:
        return
    files, schema = _files_of(table) if table is not None else ([], None)
    if files:
        body = _files_body(con, name, files, schema)
    elif _exists(con, shape_of(name)):
        body = f"select * from {shape_of(name)}"
    else:  # a connection without the warehouse's tables (ensure_tables not run): nothing to copy into
        return
    if kind == "VIEW":
        con.execute(f"drop view {name}")
    con.execute(f"create schema if not exists {name.split('.')[0]}")
    con.execute(f"create or replace table {name} as {body}")
    con.execute(f"insert or replace into {SHAPES}.versions values (?, ?)", [name, version])


def _kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """'BASE TABLE', 'VIEW' or None: what `name` is in the warehouse."""
    schema, table = name.split(".")
    found = con.execute(
        "select table_type from information_schema.tables where table_catalog = current_database() and table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return found[0][0] if found else None


def snapshot_reference(home: Home, con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Copy reference table `name` to the lake, where the pricing step reads it."""
    scratch = _scratch(home)
    try:
        target = scratch / f"{name}.parquet"
        con.execute(f"copy (select * from {name}) to {sql_literal(target.as_posix())} (format parquet, compression zstd)")
        home.lake_store.put_file(target, f"{folder(name)}.parquet")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def attach_reference(con: duckdb.DuckDBPyConnection, home: Home) -> bool:
    """Views `reference.<table>` over the lake's copies on a scratch connection; False when one is missing."""
    if missing_reference(home):
        return False
    con.execute("create schema if not exists reference")
    for name in REFERENCE_SNAPSHOTS:
        uri = home.lake_store.uri(f"{folder(name)}.parquet")
        if "://" in uri:
            register_parquet(con, _view_name(name), [uri], None)
            con.execute(f"create or replace view {name} as select * from {_view_name(name)}")
        else:
            con.execute(f"create or replace view {name} as select * from read_parquet({sql_literal(uri)})")
    return True


def missing_reference(home: Home) -> list[str]:
    store = home.lake_store
    return [name for name in REFERENCE_SNAPSHOTS if not store.exists(f"{folder(name)}.parquet")]


def local_folders(home: Home) -> list[str]:
    """The local folders of the lake tables (what a locked-down reader may still read), none for a bucket."""
    if not home.lake_store.is_local:
        return []
    return [str(Path(home.lake_store.full(folder(name)))) for name in LAKE_TABLES]
