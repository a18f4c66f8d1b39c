"""Readers open the published warehouse; runs write a working copy and publish it by a rename when they end.

A notebook, DBeaver or `duckdb -readonly` session held open for a whole run (or a close, or an export) never keeps
it out, keeps the state it opened, and a new connection sees the new state; no connection ever sees a day
half-written."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.demo.gateway import generate_gateway_logs
from pipelines.storage.home import Home

KEY = {"TOKENLEDGER_PSEUDONYM_KEY": "published-test-key"}
DAY = dt.date(2026, 11, 20)
TOTAL = "select count(*), coalesce(sum(requests), 0) from marts.daily_spend"
REQUESTS = "select count(*), sum(cost_usd) from core.request_costs"
"""core.request_costs is a view over the lake's Delta table: a held reader reads the files of its version."""


def _cli(home: Home, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **KEY}
    env.pop("TOKENLEDGER_HOME", None)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args, "--home", str(home.root)],
                          capture_output=True, text=True, env=env, timeout=600)


def _land(home: Home, day: dt.date) -> None:
    generate_gateway_logs(home.landing, start=day, days=1, requests_per_day=400, seed=day.day)


_POLL = """
import duckdb, sys, time
seen = set()
while sys.stdin.readline().strip() == "again":
    with duckdb.connect(sys.argv[1], read_only=True) as con:
        seen.add(con.execute("select coalesce(sum(requests), 0) from marts.daily_spend").fetchone()[0])
    print(sorted(seen), flush=True)
"""


@pytest.fixture
def published(tmp_path) -> Home:
    home = Home.at(tmp_path / "home").ensure()
    _land(home, DAY)
    done = _cli(home, "run")
    assert done.returncode == 0, done.stderr[-3000:]
    return home


def test_a_reader_held_open_for_a_whole_run_never_blocks_it_and_keeps_its_state(published):
    home = published
    held = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        before, requests_before = held.execute(TOTAL).fetchone(), held.execute(REQUESTS).fetchone()
        _land(home, DAY + dt.timedelta(days=1))
        poller = subprocess.Popen([sys.executable, "-c", _POLL, str(home.warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        run = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--home", str(home.root)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={k: v for k, v in {**os.environ, **KEY}.items() if k != "TOKENLEDGER_HOME"})
        seen: list = []
        while run.poll() is None:  # new connections while the run writes: each sees a whole state
            poller.stdin.write("again\n")
            poller.stdin.flush()
            seen = eval(poller.stdout.readline())  # noqa: S307 - a list of integers printed by the poller
        output = run.communicate()[0]
        poller.stdin.write("again\n")
        poller.stdin.flush()
        seen = eval(poller.stdout.readline())  # noqa: S307
        poller.stdin.close()
        poller.wait(timeout=60)
        assert run.returncode == 0, output[-3000:]
        assert held.execute(TOTAL).fetchone() == before  # the held connection keeps the state it opened
        assert held.execute(REQUESTS).fetchone() == requests_before
    finally:
        held.close()
    after = _cli(home, "sql", "select sum(requests) from marts.daily_spend where not starts_with(provider, 'self_hosted')")
    assert after.returncode == 0 and str(800) in after.stdout, after.stdout + after.stderr
    assert seen[0] == before[1] and seen[-1] > before[1] and len(seen) <= 2, seen  # only the old state, then the new


def test_a_reader_held_open_keeps_reading_the_requests_a_reprice_replaced(published):
    from pipelines.storage.lake_tables import current_files, open_table

    home = published
    held = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        before = held.execute(REQUESTS).fetchone()
        old_files = set(current_files(home, "core.request_costs")[0])
        version = open_table(home, "core.request_costs").version()
        done = _cli(home, "run", "--reprice", "--start", DAY.isoformat(), "--end", DAY.isoformat())
        assert done.returncode == 0, done.stderr[-3000:]
        assert open_table(home, "core.request_costs").version() > version
        assert not old_files & set(current_files(home, "core.request_costs")[0])  # the day's files were replaced
        assert all(Path(f).is_file() for f in old_files)  # and the old ones kept for readers like this one
        assert held.execute(REQUESTS).fetchone() == before
    finally:
        held.close()


@pytest.mark.parametrize("command", [("close", "2026-11"), ("export", "focus", "--out", "{tmp}/focus.parquet")])
def test_a_reader_held_open_never_blocks_close_or_export(published, tmp_path, command):
    home = published
    held = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        closed_before = held.execute("select count(*) from finance.closed_periods").fetchone()
        done = _cli(home, *(word.format(tmp=tmp_path) for word in command))
        assert done.returncode == 0, done.stderr[-3000:]
        assert held.execute("select count(*) from finance.closed_periods").fetchone() == closed_before
    finally:
        held.close()
    closed = _cli(home, "sql", "select count(*) as closed from finance.closed_periods")
    assert closed.returncode == 0 and ("1" if command[0] == "close" else "0") in closed.stdout.split("\n", 3)[-1]


def test_a_home_from_before_the_published_warehouse_carries_on(published):
    """A home whose warehouse.duckdb was written in place (no working copy yet) starts its working copy from it."""
    home = published
    before = duckdb.connect(str(home.warehouse), read_only=True)
    total = before.execute(TOTAL).fetchone()
    before.close()
    home.work_warehouse.unlink()
    done = _cli(home, "run")
    assert done.returncode == 0, done.stderr[-3000:]
    assert home.work_warehouse.is_file()
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute(TOTAL).fetchone() == total


def test_the_publish_sensor_leaves_a_cli_run_to_publish_itself(published):
    """The daemon's publish sensors act on the runs it launched; a `tokenledger run` (tagged as the CLI's) publishes
    its own warehouse, and a publish meanwhile would hold the working copy between its stages."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome
    from pipelines.defs.stages import PUBLISHED_BY_LAUNCHER
    from pipelines.runner import LAUNCHER_TAG, instance_for

    home = published
    with instance_for(home) as instance:
        (run, *_) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
        assert run.tags.items() >= LAUNCHER_TAG.items() | PUBLISHED_BY_LAUNCHER.items()
        (event,) = [e.dagster_event for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)]
        context = dg.build_run_status_sensor_context(
            sensor_name="publish_after_success", dagster_event=event, dagster_instance=instance, dagster_run=run,
            resources={"tokenledger": TokenledgerHome(home=str(home.root))},
        )
        outcome = defs().resolve_sensor_def("publish_after_success")(context)
    assert outcome.skip_message == "the run's launcher publishes the warehouse itself"


def test_sql_cannot_write_into_the_lake_tables_it_may_read(published):
    """The views read the lake tables' folders, so DuckDB may open files there, for writing too: EXPLAIN ANALYZE runs
    what it explains, and `explain analyze copy ... to '<lake>/tables/core/request_costs/...'` overwrote a committed data
    file (every reader then saw forged costs) or a Delta log (every later run failed). EXPLAIN runs only of a query."""
    home = published
    folder = home.lake / "tables" / "core" / "request_costs"
    files = sorted(folder.rglob("*"))
    before = _cli(home, "sql", REQUESTS).stdout
    target = str(next(p for p in files if p.suffix == ".parquet")).replace("'", "''")
    planted = f"{folder}/planted.csv".replace("'", "''")  # inside '...'
    for query in (f"explain analyze copy (select 1 as x) to '{planted}'",
                  f"explain analyze copy (select 1 as x) to '{target}' (format parquet)",
                  f"explain (analyze) copy (select 1 as x) to '{planted}'",
                  "explain analyze /* a comment */ create temp table t as select 1",
                  "explain analyze call checkpoint()"):
        refused = _cli(home, "sql", query)
        assert refused.returncode == 2, (query, refused.stdout, refused.stderr)
        assert refused.stderr.startswith("tokenledger: tokenledger sql is read-only: EXPLAIN runs only of a query, got EXPLAIN"), (query, refused.stderr)
        assert refused.stderr.count("\n") == 1
    assert sorted(folder.rglob("*")) == files
    assert _cli(home, "sql", REQUESTS).stdout == before
    explained = _cli(home, "sql", "explain analyze select count(*) from core.request_costs")
    assert explained.returncode == 0, explained.stderr


_FULL_DISK = """
import resource, signal, sys
import duckdb
from pipelines.storage.database import PublishFailed, publish
from pipelines.storage.home import Home

home = Home.at(sys.argv[1])
with duckdb.connect(str(home.work_warehouse)) as con:  # a run's writes, in the working copy's log, not checkpointed yet
    con.execute("pragma disable_checkpoint_on_shutdown")
    con.execute("create table marts.filler as select range as n from range(1000)")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: nothing may be written past the first MiB of any file
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
try:
    publish(home)
except PublishFailed as exc:
    print("PublishFailed:", exc)
"""


def test_a_disk_full_at_publish_is_one_clear_error_and_readers_keep_the_last_state(published):
    """The working warehouse's checkpoint failed on a full disk with DuckDB's raw FatalException and a traceback;
    publishing then stopped outside its own error. Now it is PublishFailed, whose message the CLI prints in one line."""
    before = _query_published(published)
    env = {**os.environ, **KEY, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", _FULL_DISK, str(published.root)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"PublishFailed: {published.warehouse} was not replaced: the working warehouse could not be written (")
    assert "readers keep the last published state" in done.stdout
    assert _query_published(published) == before


def _query_published(home: Home) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(TOTAL).fetchall()
