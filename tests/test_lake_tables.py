"""The Delta tables of the lake (pipelines/storage/lake_tables.py): a day replaced in one commit, a commit killed
half-way, a reader holding old files, a warehouse from before the lake tables, and the daily spend copied into the
warehouse as a table."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from deltalake import DeltaTable

from pipelines.storage.database import connect_scratch
from pipelines.storage.home import Home
from pipelines.storage.lake_tables import attach, commit_window, current_files, open_table, vacuum

DAY = dt.date(2026, 11, 2)
NEXT = DAY + dt.timedelta(days=1)
TABLE = "core.request_costs"


def _rows(day: dt.date, count: int, cost: str) -> str:
    return (f"select date '{day}' as event_date, 'r' || range as request_id, {cost}::decimal(38, 15) as cost_usd "
            f"from range({count})")


def _commit(home: Home, day: dt.date, count: int, cost: str) -> int:
    with connect_scratch(home) as con:
        return commit_window(home, con, TABLE, _rows(day, count, cost), day, day + dt.timedelta(days=1), {})[0]


def _spend(home: Home) -> list[tuple]:
    with connect_scratch(home) as con:
        attach(con, home, persistent=False)
        return con.execute(f"select event_date, count(*), sum(cost_usd) from {TABLE} group by 1 order by 1").fetchall()


def test_replacing_a_day_keeps_the_other_days_and_an_open_reader_keeps_its_files(tmp_path):
    home = Home.at(tmp_path / "home").ensure()
    assert _commit(home, DAY, 3, "0.5") == 3
    assert _commit(home, NEXT, 2, "1.25") == 2
    published = tmp_path / "published.duckdb"
    with duckdb.connect(str(published)) as con:
        attach(con, home, persistent=True)
    reader = duckdb.connect(str(published), read_only=True)

    assert _commit(home, DAY, 1, "7") == 1  # a re-run of the first day: its rows replaced, the other day's kept
    assert _commit(home, DAY + dt.timedelta(days=5), 0, "1") == 0  # a day with no rows commits nothing
    assert _spend(home) == [(DAY, 1, Decimal("7")), (NEXT, 2, Decimal("2.5"))]
    assert open_table(home, TABLE).version() == 3

    # the reader opened before the re-run still reads the version it was published with, whole
    assert reader.execute(f"select event_date, count(*), sum(cost_usd) from {TABLE} group by 1 order by 1").fetchall() == [
        (DAY, 3, Decimal("1.5")), (NEXT, 2, Decimal("2.5")),
    ]
    assert vacuum(home) == []  # the replaced file is younger than the retention: kept for that reader
    reader.close()


def test_a_select_giving_rows_outside_its_window_is_refused_and_commits_nothing(tmp_path):
    home = Home.at(tmp_path / "home").ensure()
    assert _commit(home, DAY, 2, "1") == 2
    stray = f"{_rows(DAY, 3, '1')} union all {_rows(NEXT, 1, '1')}"
    with connect_scratch(home) as con:  # one day (written by every thread) and two days (partitioned by DuckDB)
        with pytest.raises(ValueError, match=f"core.request_costs: the select gave rows of {NEXT}, outside \\[{DAY}, {NEXT}\\)"):
            commit_window(home, con, TABLE, stray, DAY, NEXT, {})
        with pytest.raises(ValueError, match=f"rows of {NEXT + dt.timedelta(days=1)}, outside"):
            commit_window(home, con, TABLE, _rows(NEXT + dt.timedelta(days=1), 1, "1"), DAY, NEXT + dt.timedelta(days=1), {})
    assert _spend(home) == [(DAY, 2, Decimal("2"))]
    assert open_table(home, TABLE).version() == 0
    assert not list(home.scratch.glob("lake-*"))


def test_an_audit_that_refuses_the_new_rows_commits_nothing(tmp_path):
    """Write-audit-publish: the audit reads the new files before their commit; refused, the table keeps its rows."""
    home = Home.at(tmp_path / "home").ensure()
    assert _commit(home, DAY, 2, "1") == 2
    seen = []

    def audit(relation: str) -> bool:
        with connect_scratch(home) as con:
            seen.append(con.execute(f"select count(*), sum(cost_usd) from {relation}").fetchone())
        return False

    with connect_scratch(home) as con:
        assert commit_window(home, con, TABLE, _rows(DAY, 3, "-1"), DAY, NEXT, {}, audit) == (3, False)
    assert seen == [(3, Decimal("-3"))]
    assert _spend(home) == [(DAY, 2, Decimal("2"))]
    assert open_table(home, TABLE).version() == 0
    assert not list(home.scratch.glob("lake-*"))
    with connect_scratch(home) as con:
        assert commit_window(home, con, TABLE, _rows(DAY, 3, "1"), DAY, NEXT, {}, lambda relation: True) == (3, True)
    assert _spend(home) == [(DAY, 3, Decimal("3"))]


def test_a_window_of_several_days_commits_each_day_in_its_own_folder(tmp_path):
    home = Home.at(tmp_path / "home").ensure()
    both = f"{_rows(DAY, 300_000, '0.5')} union all {_rows(NEXT, 2, '1')}"
    with connect_scratch(home) as con:
        assert commit_window(home, con, TABLE, both, DAY, NEXT + dt.timedelta(days=1), {}) == (300_002, True)
    files, _ = current_files(home, TABLE)
    assert {Path(f).parent.name for f in files} == {f"event_date={DAY}", f"event_date={NEXT}"}
    assert _spend(home) == [(DAY, 300_000, Decimal("150000")), (NEXT, 2, Decimal("2"))]
    assert _commit(home, NEXT, 0, "1") == 0  # the day emptied: its files leave the table, the other day's stay
    assert _spend(home) == [(DAY, 300_000, Decimal("150000"))]
    assert all(f"event_date={DAY}" in f for f in current_files(home, TABLE)[0])


def test_a_commit_killed_half_way_leaves_the_table_as_it_was_and_its_scratch_is_removed_next_time(tmp_path):
    home = Home.at(tmp_path / "home").ensure()
    _commit(home, DAY, 10, "1")
    before = current_files(home, TABLE)[0]
    script = (
        "import datetime as dt, sys\n"
        "from pipelines.storage.database import connect_scratch\n"
        "from pipelines.storage.home import Home\n"
        "from pipelines.storage.lake_tables import commit_window\n"
        "home = Home.at(sys.argv[1])\n"
        "day = dt.date(2026, 11, 2)\n"
        "rows = \"select date '2026-11-02' as event_date, 'r' || range as request_id, "
        "(range % 7)::decimal(38, 15) as cost_usd from range(400000000)\"\n"
        "with connect_scratch(home) as con:\n"
        "    commit_window(home, con, 'core.request_costs', rows, day, day + dt.timedelta(days=1), {})\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", script, str(home.root)], env=env)
    deadline = time.monotonic() + 120
    while not any(home.scratch.glob("lake-*/**/*.parquet")):  # DuckDB is writing the day's files
        assert process.poll() is None and time.monotonic() < deadline, "the commit never started writing"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    assert current_files(home, TABLE)[0] == before
    assert _spend(home) == [(DAY, 10, Decimal("10"))]
    assert len(list(home.scratch.glob("lake-*"))) == 1
    _commit(home, NEXT, 1, "1")  # the next commit removes the dead process's scratch
    assert list(home.scratch.glob("lake-*")) == []
    assert _spend(home) == [(DAY, 10, Decimal("10")), (NEXT, 1, Decimal("1"))]


def test_a_warehouse_from_before_the_lake_tables_moves_its_rows_to_the_lake(tmp_path):
    home = Home.at(tmp_path / "home").ensure()
    with duckdb.connect(str(tmp_path / "old.duckdb")) as con:
        con.execute("create schema core")
        con.execute(f"create table {TABLE} as {_rows(DAY, 2, '0.1')} union all {_rows(NEXT, 3, '0.2')}")
        attach(con, home, persistent=True)
        kind = con.execute("select table_type from information_schema.tables where table_name = 'request_costs'").fetchall()
        assert kind == [("VIEW",)]
        assert con.execute(f"select event_date, count(*), sum(cost_usd) from {TABLE} group by 1 order by 1").fetchall() == [
            (DAY, 2, Decimal("0.2")), (NEXT, 3, Decimal("0.6")),
        ]
    assert isinstance(open_table(home, TABLE), DeltaTable)
    assert _spend(home) == [(DAY, 2, Decimal("0.2")), (NEXT, 3, Decimal("0.6"))]


def test_a_manifest_written_before_rows_skipped_existed_reads_it_as_zero(tmp_path):
    """Manifest files of an older version lack rows_skipped and skipped_reasons: audit.ingested_files reads them
    beside newer files (the missing columns as null, rows_skipped 0) instead of failing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.storage.database import sql_text
    from pipelines.storage.lake import MANIFEST_SCHEMA
    from pipelines.storage.relations import register_parquet

    entry = {"file_id": "f1", "path": "gateway/otel/a.jsonl", "sha256": "x", "format": "otel", "status": "loaded", "error": None,
             "rows_read": 3, "rows_loaded": 3, "rows_rejected": 0, "rows_duplicate": 0, "duplicate_conflicts": 0,
             "event_dates": [dt.date(2026, 11, 2)], "ingested_at": dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc)}
    old_schema = pa.schema([f for f in MANIFEST_SCHEMA if f.name not in ("rows_skipped", "skipped_reasons")])
    old = tmp_path / "old.parquet"
    pq.write_table(pa.Table.from_pylist([entry], schema=old_schema), old)
    new = tmp_path / "new.parquet"
    pq.write_table(pa.Table.from_pylist([{**entry, "file_id": "f2", "path": "gateway/otel/b.jsonl", "rows_read": 5,
                                          "rows_skipped": 2, "skipped_reasons": '{"not_an_llm_span": 2}'}], schema=MANIFEST_SCHEMA), new)
    for files in ([str(old)], [str(old), str(new)]):
        with duckdb.connect() as con:
            register_parquet(con, "lake_ingested_files", files, MANIFEST_SCHEMA)
            rows = con.execute(f"select path, rows_read, rows_skipped, skipped_reasons from ({sql_text('audit/ingested_files')}) order by path").fetchall()
        assert rows == [("gateway/otel/a.jsonl", 3, 0, None), ("gateway/otel/b.jsonl", 5, 2, '{"not_an_llm_span": 2}')][: len(files)]


SPEND = "marts.daily_spend"


def _kind_and_spend(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple], list[tuple]]:
    kind = con.execute("select table_type from information_schema.tables where table_schema = 'marts' and table_name = 'daily_spend'").fetchall()
    return kind, con.execute(f"select event_date, count(*), sum(cost_usd) from {SPEND} group by 1 order by 1").fetchall()


def test_the_daily_spend_is_committed_to_the_lake_and_copied_into_the_warehouse_as_a_table(tmp_path):
    """marts.daily_spend is written day by day to the lake (no warehouse lock) and held in the warehouse as a table,
    copied when the lake table's version changed: a plain DuckDB session reads it with no view over the lake."""
    home = Home.at(tmp_path / "home").ensure()
    with connect_scratch(home) as con:
        commit_window(home, con, SPEND, _rows(DAY, 2, "0.5"), DAY, NEXT, {})
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        attach(con, home, persistent=True)
        assert _kind_and_spend(con) == ([("BASE TABLE",)], [(DAY, 2, Decimal("1.0"))])
        assert con.execute("select version from _lake.versions where name = ?", [SPEND]).fetchall() == [(0,)]
    with connect_scratch(home) as con:
        commit_window(home, con, SPEND, _rows(NEXT, 1, "2"), NEXT, NEXT + dt.timedelta(days=1), {})
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"insert into {SPEND} (event_date, request_id, cost_usd) values (date '{DAY}', 'marker', 0)")
        attach(con, home, persistent=True)  # a new version: copied again, whole
        assert _kind_and_spend(con) == ([("BASE TABLE",)], [(DAY, 2, Decimal("1.0")), (NEXT, 1, Decimal("2"))])
        con.execute(f"insert into {SPEND} (event_date, request_id, cost_usd) values (date '{DAY}', 'marker', 0)")
        attach(con, home, persistent=True)  # the same version: not copied again (the marker row stays)
        assert _kind_and_spend(con)[1][0] == (DAY, 3, Decimal("1.0"))
    (home.lake / "tables" / "marts").rename(tmp_path / "moved")  # the warehouse's copy does not read the lake
    with duckdb.connect(str(warehouse), read_only=True) as plain:
        assert _kind_and_spend(plain)[1] == [(DAY, 3, Decimal("1.0")), (NEXT, 1, Decimal("2"))]


def test_a_warehouse_with_its_daily_spend_as_a_table_commits_it_to_the_lake_once(tmp_path):
    home = Home.at(tmp_path / "home").ensure()
    with duckdb.connect(str(tmp_path / "old.duckdb")) as con:
        con.execute("create schema marts")
        con.execute(f"create table {SPEND} as {_rows(DAY, 2, '0.1')} union all {_rows(NEXT, 3, '0.2')}")
        attach(con, home, persistent=True)
        assert _kind_and_spend(con) == ([("BASE TABLE",)], [(DAY, 2, Decimal("0.2")), (NEXT, 3, Decimal("0.6"))])
        attach(con, home, persistent=True)
    assert open_table(home, SPEND).version() == 0
    with connect_scratch(home) as con:
        attach(con, home, persistent=False)
        assert con.execute(f"select count(*), sum(cost_usd) from {SPEND}").fetchall() == [(5, Decimal("0.8"))]
