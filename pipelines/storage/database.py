"""The DuckDB warehouse file: connections, SQL files, registered inputs and windowed atomic writes.

Every connection has UTC session time, the memory limit of $TOKENLEDGER_DUCKDB_MEMORY_LIMIT and the exact
money macros (`storage.money`). Tables are created by one bootstrap (`pipelines.warehouse.tables`).

Two files: the pipeline writes the working warehouse (`Home.work_warehouse`); readers open the published one
(`Home.warehouse`), which `publish` replaces by a rename after each run. DuckDB lets one process write a file or
many read it; with two files a reader left open never keeps a run out, keeps the state it opened, and sees the
new one when it reconnects.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from pipelines.settings import memory_limit
from pipelines.storage.home import Home, shipped_dir
from pipelines.storage.lake_tables import attach, register_remote, vacuum
from pipelines.storage.lock import short_lock
from pipelines.storage.money import define_money_macros
from pipelines.storage.relations import sql_literal
from pipelines.storage.unfinished import unfinished_runs

SCHEMAS = ("reference", "staging", "core", "marts", "audit", "finance")


class WarehouseError(RuntimeError):
    """The warehouse cannot be opened or published now, for a reason the message says in one line."""


class WarehouseBusyError(WarehouseError):
    """Another process holds the warehouse's write lock."""


class PublishFailed(WarehouseError):
    """The published warehouse could not be replaced (no space, no permission); readers keep the last one."""


class WarehouseUnfinished(WarehouseError):
    """The working warehouse holds a run's new days without the whole-history marts rebuilt after them
    (`storage.unfinished`): publishing it would show readers marts that contradict each other."""


def sql_path(name: str) -> Path:
    """The SQL file of a table or query: `core.request_costs` -> sql/core/request_costs.sql,
    `queries/spend_by_feature` -> sql/queries/spend_by_feature.sql."""
    if "/" in name:
        return shipped_dir("sql") / f"{name}.sql"
    schema, table = name.split(".")
    return shipped_dir("sql") / schema / f"{table}.sql"


def sql_text(name: str) -> str:
    return sql_path(name).read_text(encoding="utf-8")


def bound(sql: str, params: dict) -> dict:
    """The parameters a query names ($name), from `params`: DuckDB refuses a parameter the query does not use."""
    named = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
    return {name: value for name, value in params.items() if name in named}




@contextmanager
def connect(home: Home, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse with UTC session time, a memory limit and spilling to <home>/.tmp."""
    home.root.mkdir(parents=True, exist_ok=True)
    path = home.warehouse if read_only else _working(home)
    con = _open(path, read_only)
    try:
        _configure(con, home, spill=not read_only)
        if not read_only:
            for schema in SCHEMAS:
                con.execute(f"create schema if not exists {schema}")
        register_remote(con, home)
        yield con
    finally:
        con.close()


@contextmanager
def connect_scratch(home: Home) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with the warehouse's settings and macros, for a step that writes only the lake."""
    con = in_memory()
    try:
        _configure(con, home, spill=True)
        for schema in SCHEMAS:
            con.execute(f"create schema if not exists {schema}")
        yield con
    finally:
        con.close()


def in_memory() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that draws no progress bar: DuckDB draws one on stdout, with carriage returns,
    for a query past 2 seconds (a large day's ingestion), between tokenledger's own lines."""
    con = duckdb.connect(":memory:")
    con.execute("set enable_progress_bar = false")
    return con


def _configure(con: duckdb.DuckDBPyConnection, home: Home, *, spill: bool) -> None:
    con.execute("set enable_progress_bar = false")
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"set memory_limit = {sql_literal(memory_limit())}")
    define_money_macros(con)
    if spill:
        tmp = home.root / ".tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        con.execute(f"set temp_directory = {sql_literal(tmp.as_posix())}")


BUSY_WAIT_SECONDS = 10.0
"""How long a writer waits for the working warehouse held by another process (a publish takes seconds)."""


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """The DuckDB connection; a writer waits up to BUSY_WAIT_SECONDS while another process holds the file, then
    fails with WarehouseBusyError naming the holder."""
    deadline = time.monotonic() + (0 if read_only else BUSY_WAIT_SECONDS)
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            damaged = ("not a valid duckdb database file", "could not read enough bytes")  # emptied, cut short, or another file
            if any(words in str(exc).lower() for words in damaged):
                where = "the published warehouse" if read_only else "the working warehouse"
                raise WarehouseError(
                    f"{path} ({where}) is not a DuckDB database: damaged, or replaced by another file; restore it from a "
                    "backup, or move it away and rebuild the days from the lake (`tokenledger run --reprice --start ... --end ...`)"
                ) from None
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() < deadline:
                time.sleep(0.25)
                continue
            holder = re.search(r"\(PID (\d+)\)", str(exc))
            who = f"another process{f' (pid {holder[1]})' if holder else ''}"
            where = "the published warehouse" if read_only else "the working warehouse"
            message = f"{path} ({where}) is being written by {who}; wait for that run to finish"
            raise WarehouseBusyError(message) from None  # from None: tokenledger's message is what a failed step reports


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _working(home: Home) -> Path:
    """The working warehouse; a home from before the published warehouse starts from its warehouse file."""
    work = home.work_warehouse
    work.parent.mkdir(parents=True, exist_ok=True)
    if work.is_file() or not home.warehouse.is_file():
        return work
    with short_lock(home, "work-warehouse"):  # two steps starting at once copy it once
        if not work.is_file():
            if _wal(home.warehouse).is_file():  # a run killed before it checkpointed: replay its log into the file first
                _open(home.warehouse, read_only=False).close()
            _open(home.warehouse, read_only=True).close()  # a damaged file is named as the published one, never copied
            copy = work.with_name(f".{work.name}.{os.getpid()}")
            shutil.copyfile(home.warehouse, copy)
            os.replace(copy, work)
    return work


def publish(home: Home) -> bool:
    """Make the working warehouse what readers open: checkpoint it, copy it beside the published file and rename
    the copy over it. A reader holding the old file keeps reading it whole (its lake-table views read the files of
    the versions it was published with, kept for lake_tables.RETENTION_HOURS); one that connects next reads the
    new one. The working warehouse is held (opened for writing) throughout, so no step writes it meanwhile.
    Returns False when there is nothing to publish; raises WarehouseUnfinished, and publishes nothing, while a run
    that wrote the marts has not been followed by a whole rebuild (readers keep the last good state)."""
    if not home.work_warehouse.is_file():
        return False
    unfinished = unfinished_runs(home)
    if unfinished:
        raise WarehouseUnfinished(
            f"{home.warehouse} is left as the last good run published it: run(s) {', '.join(unfinished)} wrote days or "
            "marts and the whole-history marts were not rebuilt after them yet (failed, stopped, or still running; a run "
            "still 'started' whose recorded worker is gone from this machine is marked failed by the next run, any other "
            "dead one must be terminated in the Dagster UI); the next run that rebuilds them publishes (`tokenledger run`)"
        )
    with connect(home) as con:
        attach(con, home, persistent=True)  # the lake tables' views read their versions of now
        try:
            con.execute("checkpoint")
        except duckdb.Error as exc:  # a full disk: DuckDB's own error, fatal to the working copy until it is reopened
            raise PublishFailed(
                f"{home.warehouse} was not replaced: the working warehouse could not be written ({str(exc).splitlines()[0]}); "
                "readers keep the last published state; make room, then `tokenledger run` publishes"
            ) from exc
        for left in home.root.glob(".warehouse.publishing.*"):  # a publish killed mid-copy; none runs beside this one
            left.unlink(missing_ok=True)
        copy = home.root / f".warehouse.publishing.{os.getpid()}"
        try:
            shutil.copyfile(home.work_warehouse, copy)
            with open(copy, "rb+") as handle:
                os.fsync(handle.fileno())
            _wal(home.warehouse).unlink(missing_ok=True)  # the old file's log, never the new one's
            os.replace(copy, home.warehouse)
        except OSError as exc:
            raise PublishFailed(
                f"{home.warehouse} was not replaced: {exc.strerror or exc} ({exc.filename2 or exc.filename or copy}); readers keep the last "
                "published state; make room or fix the folder's permissions, then `tokenledger run` publishes"
            ) from exc
        finally:
            copy.unlink(missing_ok=True)
    vacuum(home)
    return True


READ_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
"""What an ad-hoc query may be: a query (SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE) or its plan."""


class NotAReadQuery(ValueError):
    """An ad-hoc query that is not one read-only query of the warehouse."""


def lock_down(con: duckdb.DuckDBPyConnection, readable: list[str] = ()) -> None:
    """Make a read-only warehouse connection read nothing but the warehouse: no file, directory, URL, other
    database or extension (DuckDB's enable_external_access), and no setting can turn that back on.
    `readable`: folders it may still read (the lake tables its views read). Nothing spills to disk either: a query
    larger than the memory limit fails (a killed query left gigabytes in `<home>/warehouse.duckdb.tmp`)."""
    con.execute("set temp_directory = ''")
    # no extension is fetched or loaded on the fly (delta_scan tried to download one): the function is not there
    con.execute("set autoinstall_known_extensions = false")
    con.execute("set autoload_known_extensions = false")
    if readable:
        listed = ", ".join(sql_literal(folder) for folder in readable)
        con.execute(f"set allowed_directories = [{listed}]")
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")


def read_query(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyRelation | None:
    """Run one ad-hoc read query on a locked-down connection (`lock_down`): exactly one statement, a query or an
    EXPLAIN; anything else (COPY, ATTACH, INSTALL, LOAD, SET, PRAGMA, CALL, EXPORT, a write, several statements) is
    refused before it runs. Reading a file in a query (read_text, read_csv, glob...) fails in DuckDB itself."""
    statements = con.extract_statements(query)
    if len(statements) != 1:
        raise NotAReadQuery(f"tokenledger sql is read-only and runs one query, got {len(statements)} statements")
    (statement,) = statements
    if statement.type == duckdb.StatementType.MULTI and _is_pivot(statement.query):
        # DuckDB runs a PIVOT without an IN list as two statements, a temporary ENUM of the values, then the statement
        # holding it, whatever that is: COPY (PIVOT ...) TO wrote into the lake tables' folders. Only a query parses as
        # a subquery, so the text runs as one (the newline ends a trailing `--` comment).
        return con.sql(_as_subquery(con, statement.query))
    if statement.type not in READ_STATEMENTS:
        raise NotAReadQuery(
            f"tokenledger sql is read-only: only a query (SELECT, WITH, FROM, PIVOT, DESCRIBE, SHOW, SUMMARIZE) or EXPLAIN "
            f"runs, got {statement.type.name}"
        )
    if statement.type == duckdb.StatementType.EXPLAIN:
        explained = _explained_type(con, statement.query)
        if explained != duckdb.StatementType.SELECT:
            # EXPLAIN ANALYZE runs what it explains: EXPLAIN ANALYZE COPY wrote into the lake tables' folders
            got = explained.name if explained else "of something that is not one statement"
            raise NotAReadQuery(f"tokenledger sql is read-only: EXPLAIN runs only of a query, got EXPLAIN {got}")
    # without its closing `;`: showing the rows runs the query inside another, and `select 1; -- a note` failed there
    return con.sql(_without_end(statement.query))


def _without_end(query: str) -> str:
    """The statement without its closing `;` (the last token that is not a comment), which a subquery cannot hold; a
    trailing `--` comment stays, ended by the newline a wrapping query puts after it."""
    text = query.encode()  # tokenize gives byte offsets
    code = [start for start, kind in duckdb.tokenize(query) if kind != duckdb.token_type.comment]
    if code and text[code[-1] : code[-1] + 1] == b";":
        return (text[: code[-1]] + text[code[-1] + 1 :]).decode()
    return query


def _as_subquery(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """`select * from (query)`, or NotAReadQuery when the query is not one (a COPY, CREATE, INSERT or EXPLAIN
    around a PIVOT does not parse there)."""
    wrapped = f"select * from (\n{_without_end(query)}\n)"
    try:
        if len(con.extract_statements(wrapped)) == 1:
            return wrapped
    except duckdb.ParserException:
        pass
    raise NotAReadQuery(
        "tokenledger sql is read-only: a PIVOT runs only as a query (PIVOT, SELECT, WITH, FROM), "
        "not inside COPY, CREATE, INSERT or EXPLAIN"
    )


def _is_pivot(query: str) -> bool:
    """Whether PIVOT is one of the query's keywords (not a string, name or comment): the only statement DuckDB's
    parser turns into several."""
    text, tokens = query.encode(), duckdb.tokenize(query)  # byte offsets
    ends = [start for start, _ in tokens[1:]] + [len(text)]
    return any(kind == duckdb.token_type.keyword and text[start:end].strip().upper() == b"PIVOT"
               for (start, kind), end in zip(tokens, ends))


def _explained_type(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.StatementType | None:
    """The type of the statement an EXPLAIN explains: the first tail of the text, at a token after `EXPLAIN` (past
    ANALYZE, options in parentheses and comments), that parses as one statement; None when none does."""
    text = query.encode()
    for start, _ in duckdb.tokenize(query)[1:]:  # byte offsets
        try:
            inner = con.extract_statements(text[start:].decode())
        except duckdb.Error:
            continue
        return inner[0].type if len(inner) == 1 else None
    return None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The block in one transaction: committed at its end, rolled back if it raises. A commit that failed (the disk
    full) has already rolled back: its own error is raised, not DuckDB's "cannot rollback - no transaction is active"."""
    con.execute("begin transaction")
    try:
        yield
        con.execute("commit")
    except BaseException:
        with suppress(duckdb.Error):
            con.execute("rollback")
        raise


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchall()[0][0]
    return bool(found)


def replace_window(
    con: duckdb.DuckDBPyConnection,
    table: str,
    select_sql: str,
    start: dt.date,
    end: dt.date,
    params: dict | None = None,
    date_column: str = "event_date",
) -> int:
    """Replace rows with start <= date_column < end by the select's rows, in one transaction.

    Columns the select gained since the table was created are added to the table first (older rows
    get nulls), so an upgrade never needs the warehouse rebuilt. Returns the rows now in the window.
    """
    window = {"window_start": start, "window_end": end}
    params = {**(params or {}), **window}
    with transaction(con):
        if table_exists(con, table):
            add_missing_columns(con, table, select_sql, params)
        else:
            con.execute(f"create table {table} as select * from ({select_sql}) with no data", params)
        con.execute(f"delete from {table} where {date_column} >= $window_start and {date_column} < $window_end", window)
        con.execute(f"insert into {table} by name {select_sql}", params)
        count = con.execute(
            f"select count(*) from {table} where {date_column} >= $window_start and {date_column} < $window_end", window
        ).fetchall()[0][0]
    return count


def add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, select_sql: str, params: dict | None = None) -> None:
    """Add to `table` the columns `select_sql` gives that it lacks (older rows get nulls)."""
    schema, name = table.split(".")
    have = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?", [schema, name]
        ).fetchall()
    }
    for column, column_type, *_ in con.execute(f"describe select * from ({select_sql})", params or {}).fetchall():
        if column not in have:
            con.execute(f'alter table {table} add column "{column}" {column_type}')


def replace_table(con: duckdb.DuckDBPyConnection, table: str, select_sql: str, params: dict | None = None) -> int:
    """Replace a whole table by a select's rows in one transaction; return its row count."""
    with transaction(con):
        con.execute(f"create or replace table {table} as {select_sql}", params or {})
        count = con.execute(f"select count(*) from {table}").fetchall()[0][0]
    return count
