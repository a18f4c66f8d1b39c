"""`tokenledger sql` reads the warehouse and nothing else: no file, directory, other database, extension or setting
can be reached, and nothing can be written. Each refusal is one `tokenledger:` line and exit code 2."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.cli.main import main
from pipelines.ingest.privacy import create_key
from pipelines.storage.home import Home


@pytest.fixture
def warehouse(tmp_path):
    """A home with a key, a plain CSV beside it and a warehouse holding one mart."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    (tmp_path / "plain.csv").write_text("a,b\n1,2\n")
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("create schema marts; create table marts.daily_spend as select 'search' as feature, 12 as requests")
    return home


def _sql(home: Home, query: str, capsys) -> tuple[int, str, str]:
    code = main(["sql", query, "--home", str(home.root)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_query_of_the_warehouse_runs(warehouse, capsys):
    for query in ("select feature, requests from marts.daily_spend", "describe marts.daily_spend", "summarize marts.daily_spend",
                  "with x as (from marts.daily_spend) select sum(requests) as total from x", "explain select 1",
                  # without an IN list DuckDB parses PIVOT as two statements (a temporary ENUM, then the query): it was refused
                  "pivot marts.daily_spend on feature using sum(requests)",
                  "select * from (pivot marts.daily_spend on feature using sum(requests)) -- pivot",
                  "pivot marts.daily_spend on feature using sum(requests);", "pivot marts.daily_spend on feature using sum(requests) ; -- end",
                  "/* a */ pivot marts.daily_spend on feature using sum(requests) order by 1 limit 1 -- ) ; copy x to 'y'",
                  # one query ended by `;` and a note: showing the rows runs it inside another query, where `;` failed
                  "select sum(requests) from marts.daily_spend; -- a note", "select 1; /* a note */", "select ';' as x;"):
        code, out, err = _sql(warehouse, query, capsys)
        assert (code, err) == (0, ""), query
    code, out, _ = _sql(warehouse, "select sum(requests) as total from marts.daily_spend", capsys)
    assert "12" in out
    code, out, _ = _sql(warehouse, "pivot marts.daily_spend on feature using sum(requests)", capsys)
    assert code == 0 and "search" in out.splitlines()[1] and "12" in out


REFUSED = {
    "copy to a file": ("copy marts.daily_spend to '{tmp}/out.csv'", "got COPY"),
    "copy into the lake": ("copy (select 1 as x) to '{home}/lake/gateway_requests/event_date=2026-11-02/fake.parquet'", "got COPY"),
    "export the database": ("export database '{tmp}/dump'", "got EXPORT"),
    "read the key": ("select * from read_text('{home}/secrets/pseudonym.key')", "Permission Error"),
    "read a CSV": ("select * from read_csv('{tmp}/plain.csv')", "Permission Error"),
    "read a file by name": ("select * from '{tmp}/plain.csv'", "plain.csv"),
    "list the machine": ("select * from glob('/*')", "Permission Error"),
    "attach another database": ("attach '{tmp}/other.duckdb' as other", "got ATTACH"),
    "install an extension": ("install httpfs", "got LOAD"),
    "load an extension": ("load httpfs", "got LOAD"),
    "turn access back on": ("set enable_external_access = true", "got SET"),
    "reset access": ("reset enable_external_access", "got SET"),
    "a pragma": ("pragma enable_profiling", "got PRAGMA"),
    "a call": ("call pragma_version()", "got CALL"),
    "create a table": ("create table marts.planted as select 1 as x", "got CREATE"),
    "insert": ("insert into marts.daily_spend values ('fake', 1)", "got INSERT"),
    "drop": ("drop table marts.daily_spend", "got DROP"),
    "two statements": ("select 1; set enable_external_access = true", "got 2 statements"),
    # EXPLAIN ANALYZE runs what it explains (tests/test_published_warehouse.py: it wrote into the lake tables' folders)
    "explain analyze a copy": ("explain analyze copy marts.daily_spend to '{tmp}/out.csv'", "got EXPLAIN COPY"),
    "explain analyze a create": ("explain analyze create table marts.planted as select 1 as x", "got EXPLAIN CREATE"),
    "explain analyze an insert": ("explain /* plan */ analyze insert into marts.daily_spend values ('fake', 1)", "got EXPLAIN INSERT"),
    "a query that reads a file inside a subquery": (
        "select count(*) from marts.daily_spend where feature in (select column0 from read_csv('{tmp}/plain.csv'))", "Permission Error"
    ),
    # DuckDB runs a PIVOT without an IN list as two statements, the second whatever holds the PIVOT: these ran, the
    # copies writing a file and a Delta log commit into the lake tables' folders (a day of requests removed)
    "copy a pivot": ("copy (pivot marts.daily_spend on feature using sum(requests)) to '{tmp}/out.csv'", "a PIVOT runs only as a query"),
    "copy with a pivot inside": (
        "copy (select 1 as x where exists (pivot (select 1 a, 'x' b) on b using sum(a))) to '{tmp}/out.json' (format json)",
        "a PIVOT runs only as a query",
    ),
    "create a table of a pivot": ("create temp table t as pivot marts.daily_spend on feature using sum(requests)",
                                  "a PIVOT runs only as a query"),
    "insert a pivot": ("insert into marts.daily_spend select * from (pivot (select 1 a, 'x' b) on b using sum(a))",
                       "a PIVOT runs only as a query"),
    # no extension is installed or loaded on the fly: the message was cut at its first line, mid-sentence
    "a Delta scan": ("select * from delta_scan('{tmp}')", 'Table Function with name "delta_scan" is not in the catalog'),
    "an Iceberg scan": ("select * from iceberg_scan('{tmp}')", 'Table Function with name "iceberg_scan" is not in the catalog'),
    "a pivot over a file": ("pivot (select * from read_csv('{tmp}/plain.csv')) on a using sum(b)", "Permission Error"),
    # refused or failing only while the rows are made (it printed a traceback, exit 1)
    "sniff a file": ("select * from sniff_csv('{tmp}/plain.csv')", "Permission Error"),
    "a cast that fails": ("select cast(feature as integer) from marts.daily_spend", "Conversion Error"),
    "error()": ("select error('boom')", "boom"),
    # a carriage return inside the message is shown escaped (the message was cut at it)
    "error() with a CR": ("select error('boom' || chr(13) || 'after')", "boom\\rafter"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_anything_but_a_read_of_the_warehouse_is_refused_in_one_line(warehouse, tmp_path, capsys, name):
    query, expected = REFUSED[name]
    quoted = {"tmp": str(tmp_path).replace("'", "''"), "home": str(warehouse.root).replace("'", "''")}  # inside '...'
    code, out, err = _sql(warehouse, query.format(**quoted), capsys)
    assert code == 2, (out, err)
    assert err.startswith("tokenledger: ") and err.count("\n") == 1 and expected in err, err
    assert "Traceback" not in err and out == ""
    key = (warehouse.secrets / "pseudonym.key").read_text().strip()
    assert key not in out + err
    assert not [p.name for p in tmp_path.iterdir() if p.name not in ("home", "plain.csv")]
    assert not (warehouse.lake / "gateway_requests").exists()
    with duckdb.connect(str(warehouse.warehouse), read_only=True) as con:
        assert con.execute("select * from marts.daily_spend").fetchall() == [("search", 12)]
        assert con.execute("select count(*) from duckdb_tables()").fetchone() == (1,)


def test_ctrl_c_stops_a_runaway_query(warehouse):
    """Printing a result (DuckDB's relation.show) does not check for Ctrl-C: a query over 10^12 rows ran on after
    SIGINT until killed. It now stops at once: 'interrupted', exit 130, as any command stopped by Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {key: value for key, value in os.environ.items() if key != "TOKENLEDGER_HOME"}
    for query in ("select sum(hash(i)) from range(1000000000000) t(i)", "select i from range(1000000000000) t(i) where hash(i) = 0"):
        # as from a terminal: a suite started in the background (`cmd &` in a script) ignores SIGINT, and so would the child
        child = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "sql", query, "--home", str(warehouse.root)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(3)  # start-up, then the query runs
        assert child.poll() is None, child.communicate()
        child.send_signal(signal.SIGINT)
        try:
            out, err = child.communicate(timeout=20)
        finally:
            child.kill()
        assert child.returncode == 130, (query, out, err)
        assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err, err


def test_a_query_larger_than_memory_fails_in_one_line_and_leaves_nothing_on_disk(warehouse, capsys, monkeypatch):
    """An ad-hoc sort larger than memory spilled into <home>/warehouse.duckdb.tmp without a limit (gigabytes), and a
    query killed mid-way left it there; it now fails with DuckDB's out-of-memory error and writes nothing."""
    monkeypatch.setenv("TOKENLEDGER_DUCKDB_MEMORY_LIMIT", "128MiB")
    code, out, err = _sql(warehouse, "select count(*) from (select md5(i::varchar) as s from range(6000000) t(i) order by s)", capsys)
    assert code == 2 and err.count("\n") == 1 and "Out of Memory" in err, err
    assert [p.name for p in warehouse.root.iterdir() if p.name.startswith("warehouse.duckdb.")] == []
