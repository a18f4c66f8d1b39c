"""A run that fails or is stopped after it wrote days, before the whole-history marts were rebuilt after them, is
never published and never closed: readers keep the last good warehouse, `close` refuses, and the next run that
finishes publishes everything (real runs through Dagster on a temporary home; the failure is a real one, an
unreadable budgets.yaml that fails marts.budget_status in the whole-history stage)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
from helpers import envelope, land, sample_usage

from pipelines.definitions import defs
from pipelines.defs.stages import HISTORY_TABLES, stage_keys
from pipelines.finance.close import CloseError, close_month
from pipelines.runner import PipelineFailed, run_pipeline
from pipelines.storage.database import WarehouseUnfinished, publish
from pipelines.storage.home import Home
from pipelines.storage.unfinished import unfinished_runs


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _request(request_id: str, day: str) -> str:
    record = json.loads(envelope(request_id, "openai", "gpt-4o-2024-08-06", sample_usage("openai_chat_completions_usage.json")))
    record["timestamp"] = f"{day}T10:15:02.120Z"
    return json.dumps(record)


def _state(home: Home) -> dict:
    return {
        "daily_spend": _query(home, "select event_date, sum(cost_usd) from marts.daily_spend group by all order by all"),
        "tier_spend": _query(home, "select month, sum(requests) from marts.model_tier_spend group by all order by all"),
        "requests": _query(home, "select count(*) from core.request_costs"),
    }


def test_the_whole_history_tables_are_the_last_stage(home):
    """HISTORY_TABLES (what a run must rebuild to be finished) is exactly the third stage's assets."""
    assets = [a for a in defs().assets if isinstance(a, dg.AssetsDefinition) and a.is_executable]
    assert sorted(HISTORY_TABLES) == sorted(".".join(key.path) for key in stage_keys(assets)[2])


def test_a_run_failing_in_the_whole_history_stage_is_not_published_nor_closed(home):
    land(home, "november.jsonl", [_request("req_1", "2026-11-27"), _request("req_2", "2026-11-28")])
    run_pipeline(home, progress=lambda _: None)
    good = _state(home)
    assert good["daily_spend"] == [(dt.date(2026, 11, 27), Decimal("0.005615")), (dt.date(2026, 11, 28), Decimal("0.005615"))]
    assert not unfinished_runs(home)

    land(home, "late.jsonl", [_request("req_3", "2026-11-29")])
    (home.root / "budgets.yaml").write_text("features:\n  search: lots\n")
    said: list[str] = []
    with pytest.raises(PipelineFailed, match="budgets.yaml"):
        run_pipeline(home, progress=said.append)

    assert _state(home) == good  # readers: the last good run, whole (new day and old chargeback never side by side)
    assert len(unfinished_runs(home)) == 2  # the day's run and the whole-history run
    assert any("is left as the last good run published it" in line for line in said)
    with pytest.raises(WarehouseUnfinished, match="the whole-history marts were not rebuilt after them yet"):
        publish(home)
    with pytest.raises(CloseError, match=r"2026-11 is not closed: run\(s\) .* wrote days or marts"):
        close_month(home, "2026-11")
    assert _query(home, "select count(*) from finance.closed_periods") == [(0,)]

    (home.root / "budgets.yaml").unlink()
    run_pipeline(home, progress=lambda _: None)  # no date left to materialize: the whole-history marts are rebuilt
    assert not unfinished_runs(home)
    now = _state(home)
    assert now["daily_spend"][-1] == (dt.date(2026, 11, 29), Decimal("0.005615"))
    assert now["tier_spend"] == [("2026-11", 3)]
    assert now["requests"] == [(3,)]
    assert close_month(home, "2026-11")["requests"] == 3


def test_close_refuses_a_month_with_dates_ingested_but_not_materialized(home):
    from pipelines.ingest.gateway import ingest_gateway

    land(home, "november.jsonl", [_request("req_1", "2026-11-27")])
    run_pipeline(home, progress=lambda _: None)
    land(home, "late.jsonl", [_request("req_2", "2026-11-30"), _request("req_3", "2026-12-01")])
    ingest_gateway(home)  # what a run killed right after ingestion leaves (or the daemon's ingest job alone)
    with pytest.raises(CloseError, match=r"2026-11 is not closed: 1 of its dates \(2026-11-30\) have rows ingested but not materialized"):
        close_month(home, "2026-11")
    run_pipeline(home, progress=lambda _: None)
    assert close_month(home, "2026-11")["requests"] == 2


def test_lake_files_an_interrupted_ingestion_left_without_their_manifest_row_are_removed(home, monkeypatch):
    """Ingestion writes a landed file's day files into the lake, then its manifest row. Stopped in between, the day
    files stayed with no row: once the landing file was removed (or changed its dates), its rows stayed in the lake
    and were billed at the next re-pricing of those days. The next ingestion now removes them and re-materializes
    their days."""
    import pipelines.ingest.gateway as gateway
    from pipelines.storage.lake import REQUESTS_TABLE

    land(home, "november.jsonl", [_request("req_1", "2026-11-27")])
    run_pipeline(home, progress=lambda _: None)
    good = _state(home)

    stopped = land(home, "stopped.jsonl", [_request("req_2", "2026-11-27"), _request("req_3", "2026-11-29")])

    def stop_before_the_manifest(*args, **kwargs):
        raise KeyboardInterrupt  # the moment the process was stopped: day files written, manifest row not

    monkeypatch.setattr(gateway, "write_audit", stop_before_the_manifest)
    with pytest.raises(BaseException):  # noqa: B017 - Dagster reports the interrupt as a failed step or re-raises it
        run_pipeline(home, progress=lambda _: None)
    monkeypatch.undo()
    left = sorted(p.parent.name for p in (home.lake / REQUESTS_TABLE).rglob("*.parquet"))
    assert left == ["event_date=2026-11-27", "event_date=2026-11-27", "event_date=2026-11-29"]

    stopped.unlink()  # taken back before the next run
    said: list[str] = []
    run_pipeline(home, progress=said.append)
    assert any("removed 2 lake file(s) of gateway_requests an interrupted ingestion left without their manifest row" in line for line in said)
    assert sorted(p.parent.name for p in (home.lake / REQUESTS_TABLE).rglob("*.parquet")) == ["event_date=2026-11-27"]
    assert _state(home) == good
    assert _query(home, "select request_id from core.request_costs") == [("req_1",)]


def test_a_record_file_without_its_manifest_row_is_removed_with_its_dates(home):
    """The same for a record table (a GPU file re-prices the days it covers): its dates come from the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.storage.lake import remove_orphans

    folder = home.lake / "gpu_capacity"
    folder.mkdir(parents=True)
    days = pa.table({"event_date": pa.array([dt.date(2026, 11, 3), dt.date(2026, 11, 4), None], pa.date32())})
    pq.write_table(days, folder / "0a1b.parquet")
    pq.write_table(days, folder / "kept.parquet")
    manifest = {"gpu/kept.csv": {"file_id": "kept", "status": "loaded", "event_dates": []}}
    assert remove_orphans(home, "gpu_capacity", manifest, "event_date") == (
        ["gpu_capacity/0a1b.parquet"], {dt.date(2026, 11, 3), dt.date(2026, 11, 4)}
    )
    assert sorted(p.name for p in folder.iterdir()) == ["kept.parquet"]
    (folder / "torn.parquet").write_bytes(b"")  # the stop came mid-write
    assert remove_orphans(home, "gpu_capacity", manifest, "event_date") == (["gpu_capacity/torn.parquet"], set())


def test_a_publish_that_cannot_replace_the_warehouse_is_one_line(home, capsys):
    """Out of space or permission while publishing was a traceback with exit 1; it is one line and exit 2, and the
    working warehouse stays whole for the next run to publish."""
    from pipelines.cli.main import main

    land(home, "november.jsonl", [_request("req_1", "2026-11-27")])
    run_pipeline(home, progress=lambda _: None)
    home.warehouse.unlink()
    home.warehouse.mkdir()  # what readers open cannot be replaced (here: a folder in its place)
    assert main(["run", "--home", str(home.root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tokenledger: {home.warehouse} was not replaced: Is a directory ({home.warehouse}); readers keep the last "
                   "published state; make room or fix the folder's permissions, then `tokenledger run` publishes"]
    home.warehouse.rmdir()
    assert main(["run", "--home", str(home.root)]) == 0
    assert _query(home, "select count(*) from core.request_costs") == [(1,)]


def test_which_runs_a_finished_run_covers(home):
    """cover(): a run that wrote days must have rebuilt every whole-history mart; one that rebuilt some marts and
    wrote no day is finished alone; a run that ended after the covering run started stays unfinished; a torn file
    keeps refusing until a whole rebuild."""
    from pipelines.storage.unfinished import cover, writing

    history = ["marts.a", "marts.b"]
    ended_early = {"killed-before"}
    writing(home, "killed-before", daily=True)
    writing(home, "still-running", daily=True)
    writing(home, "days-only", daily=True)
    assert not cover(home, ["days-only"], history, ended_early.__contains__)
    writing(home, "one-mart", built="marts.a")
    assert cover(home, ["one-mart"], history, ended_early.__contains__)
    assert unfinished_runs(home) == ["days-only", "killed-before", "still-running"]
    writing(home, "whole", daily=True)
    for name in history:
        writing(home, "whole", built=name)
    assert cover(home, ["whole"], history, ended_early.__contains__)
    assert unfinished_runs(home) == ["days-only", "still-running"]
    assert cover(home, ["never-wrote"], history, ended_early.__contains__)
    writing(home, "failed-parent", built="marts.a", daily=True)  # re-executed from failure: the child runs marts.b only
    writing(home, "re-execution", built="marts.b")
    assert cover(home, ["re-execution", "failed-parent"], history, ended_early.__contains__)
    assert unfinished_runs(home) == ["days-only", "still-running"]

    (home.work_warehouse.parent / "unfinished_runs.json").write_text('{"torn')
    assert unfinished_runs(home) and unfinished_runs(home)[0].startswith("unreadable unfinished_runs.json")
    writing(home, "repair")
    for name in history:
        writing(home, "repair", built=name)
    assert cover(home, ["repair"], history, lambda other: other.startswith("unreadable"))
    assert unfinished_runs(home) == []


def test_a_commit_that_fails_raises_its_own_error(home):
    """A commit that fails (the disk full, or here a key another transaction committed first) has already rolled
    back; the rollback after it raised DuckDB's "cannot rollback - no transaction is active" instead of the cause."""
    from pipelines.storage.database import transaction

    with duckdb.connect(str(home.root / "commit.duckdb")) as con:
        con.execute("create table t (x int primary key)")
        ours, theirs = con.cursor(), con.cursor()
        with pytest.raises(duckdb.TransactionException, match='Failed to commit: PRIMARY KEY or UNIQUE constraint violation: duplicate key "1"'):
            with transaction(ours):
                ours.execute("insert into t values (1)")
                theirs.execute("insert into t values (1)")  # committed first (auto-commit)
        assert con.execute("select * from t").fetchall() == [(1,)]
        with transaction(ours):
            ours.execute("insert into t values (2)")
        assert con.execute("select * from t order by x").fetchall() == [(1,), (2,)]


def test_a_run_created_but_never_started_by_a_killed_process_is_marked_failed(home):
    """A process killed between creating a Dagster run and starting it left the run NOT_STARTED forever (listed in
    `tokenledger dev` as pending); the next run marks it failed, as it does runs left STARTED."""
    from pipelines.runner import LAUNCHER_TAG, instance_for

    @dg.op
    def step():
        return None

    @dg.job
    def job():
        step()

    with instance_for(home) as instance:
        left = instance.create_run_for_job(job, tags=LAUNCHER_TAG)
    assert left.status == dg.DagsterRunStatus.NOT_STARTED
    land(home, "november.jsonl", [_request("req_1", "2026-11-27")])
    said: list[str] = []
    run_pipeline(home, progress=said.append)
    assert f"run {left.run_id} was interrupted earlier: marked failed, its warehouse lock released" in said
    with instance_for(home) as instance:
        assert instance.get_run_by_id(left.run_id).status == dg.DagsterRunStatus.FAILURE


def test_a_date_after_tomorrow_left_pending_does_not_keep_its_month_open(home):
    """A pending date beyond tomorrow is outside the daily partitions: no run materializes it until its day comes,
    so close does not wait for it (it refused, telling the user to run, which could not help). The close is made on
    a fixed day, so both sides of the rule are tested whatever the date the suite runs on."""
    from pipelines.storage.lake import mark_pending, pending_dates

    land(home, "march.jsonl", [_request("req_1", "2026-03-10")])
    run_pipeline(home, progress=lambda _: None)
    mark_pending(home, {dt.date(2026, 3, 16), dt.date(2026, 3, 20)})
    assert {dt.date(2026, 3, 16), dt.date(2026, 3, 20)} <= pending_dates(home)

    # made on the 15th: the 16th is tomorrow, a day a run can materialize, so the close waits for it (and only it)
    with pytest.raises(CloseError, match=r"2026-03 is not closed: 1 of its dates \(2026-03-16\) have rows ingested"):
        close_month(home, "2026-03", today=dt.date(2026, 3, 15))
    # made on the 14th: both pending dates are after tomorrow, so neither holds the close back
    closed = close_month(home, "2026-03", today=dt.date(2026, 3, 14))
    assert (closed["requests"], closed["finished"]) == (1, False)
    assert _query(home, "select month, requests from finance.closed_periods") == [("2026-03", 1)]
