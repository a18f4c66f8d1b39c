"""A run whose run worker died (killed, out of memory) stays STARTED in Dagster: the default run launcher cannot
tell. It held back publishing, `close` and the landing sensor until someone terminated it by hand. The process
running its steps is recorded with it; a run whose worker is gone from this machine is marked failed by the next
`tokenledger run` or sensor tick, and the next whole rebuild publishes its days.

The worker here is a real separate process running the models job through Dagster (in-process executor, as a
`tokenledger run`; multiprocess executor, as the daemon's runs); it is stopped with SIGSTOP once it has written a
day's table, so the test can see it alive, and then killed with SIGKILL."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.definitions.reconstruct import ReconstructableRepository  # how the daemon's code location loads the job
from helpers import envelope, land, sample_usage

from pipelines.defs.run_workers import end_dead_runs
from pipelines.defs.stages import RANGE_END, RANGE_START
from pipelines.runner import instance_for, run_pipeline
from pipelines.storage.database import WarehouseUnfinished, publish
from pipelines.storage.home import Home
from pipelines.storage.processes import alive, identity, is_self_or_ancestor
from pipelines.storage.unfinished import DAILY, unfinished_runs
from pipelines.storage.workers import recorded_workers

CHECKOUT = Path(__file__).resolve().parents[1]
WORKER = """
import os, signal, sys
from pipelines.defs import run_workers, stages
from pipelines.definitions import defs
from pipelines.defs.resources import TokenledgerHome
from pipelines.runner import instance_for
from pipelines.storage.home import Home

home, day, job = Home.at(sys.argv[1]), sys.argv[2], sys.argv[3]
writing, record, days = stages.writing, run_workers.record_run_worker, []


def stop_at_second_day(*args, **kwargs):  # the models run stops itself at its second daily table, the first written
    writing(*args, **kwargs)
    days.append(kwargs.get("daily"))
    if days.count(True) == 2:
        os.kill(os.getpid(), signal.SIGSTOP)


def stop_once_recorded(*args):  # the ingest run stops itself once its worker is recorded, before it reads landing
    record(*args)
    os.kill(os.getpid(), signal.SIGSTOP)


stages.writing, run_workers.record_run_worker = stop_at_second_day, (stop_once_recorded if job == "ingest" else record)
resources = {"tokenledger": TokenledgerHome(home=str(home.root))}
tags = {"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day}
with instance_for(home) as instance:
    definitions = defs()
    definitions.resolve_job_def("tokenledger_ingest").execute_in_process(instance=instance, resources=resources)
    if job == "models":
        definitions.resolve_job_def("tokenledger_models").execute_in_process(instance=instance, resources=resources, tags=tags)
"""


def _request(request_id: str, day: str) -> str:
    record = json.loads(envelope(request_id, "openai", "gpt-4o-2024-08-06", sample_usage("openai_chat_completions_usage.json")))
    record["timestamp"] = f"{day}T10:15:02.120Z"
    return json.dumps(record)


def _daily(home: Home) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute("select event_date, requests from marts.daily_spend order by all").fetchall()


def _stopped(process: subprocess.Popen, home: Home, log: Path) -> str:
    """Wait until the worker stopped itself; the id of the run it recorded last."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode} before it stopped:\n{log.read_text()[-3000:]}")
        state = (Path("/proc") / str(process.pid) / "stat").read_text()
        if state[state.rfind(")") + 2] == "T":
            with instance_for(home) as instance:
                runs = [run for run in recorded_workers(home) if not instance.get_run_by_id(run).is_finished]
            assert len(runs) == 1, runs
            return runs[0]
        time.sleep(0.05)
    pytest.fail(f"the worker did not stop in 240 s:\n{log.read_text()[-3000:]}")


def _kill_stopped_worker(home: Home, job: str, day: str) -> tuple[str, int]:
    """Start a worker process running `job`, wait until it stopped itself, check it is left alone while it lives,
    kill it; (its run id, its pid)."""
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    log = home.root.parent / "worker.log"  # a file, not a pipe nobody reads while waiting (a full pipe would block it)
    with open(log, "w") as out:
        worker = subprocess.Popen([sys.executable, "-c", WORKER, str(home.root), day, job], cwd=CHECKOUT, env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        run_id = _stopped(worker, home, log)
        recorded = recorded_workers(home)[run_id]
        assert recorded == [identity(worker.pid)]  # the in-process executor: the worker is the step's own process
        with instance_for(home) as instance:
            assert end_dead_runs(home, instance) == []  # stopped is alive: left alone
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert alive(recorded[0]) is False
    return run_id, worker.pid


@pytest.fixture
def killed(home):
    """A home published with two days, then a third day whose models run's worker was killed after writing a day's
    table: (home, the dead run's id, the worker's pid)."""
    if not Path("/proc/self/stat").is_file():
        pytest.skip("needs /proc to see the worker stopped")
    land(home, "november.jsonl", [_request("req_1", "2026-11-27"), _request("req_2", "2026-11-28")])
    run_pipeline(home, progress=lambda _: None)
    land(home, "late.jsonl", [_request("req_3", "2026-11-29")])
    run_id, pid = _kill_stopped_worker(home, "models", "2026-11-29")
    assert DAILY in json.loads((home.work_warehouse.parent / "unfinished_runs.json").read_text())[run_id]
    yield home, run_id, pid


def test_the_next_run_marks_a_dead_worker_s_run_failed_and_publishes_its_day(killed):
    home, run_id, pid = killed
    assert _daily(home) == [(dt.date(2026, 11, 27), 1), (dt.date(2026, 11, 28), 1)]
    with pytest.raises(WarehouseUnfinished, match=run_id):  # before: held back until terminated by hand
        publish(home)

    said: list[str] = []
    run_pipeline(home, progress=said.append)
    assert f"run {run_id}'s run worker died before the run finished: marked failed, its warehouse lock released" in said
    with instance_for(home) as instance:
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE
        message = [e.dagster_event.message for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)]
        assert message == [f"its run worker (pid {pid}) died before the run finished (found by tokenledger)"]
    assert unfinished_runs(home) == []
    assert _daily(home) == [(dt.date(2026, 11, 27), 1), (dt.date(2026, 11, 28), 1), (dt.date(2026, 11, 29), 1)]


def test_the_landing_sensor_no_longer_waits_for_a_dead_worker_s_run(killed, monkeypatch):
    """The sensor skipped every tick while a run was in progress; a dead one was in progress for ever. Ending it marks
    its dates pending again, so the sensor's request for them has a new run key (the daemon does not launch a run
    key twice) and the run that follows rebuilds them."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome
    from pipelines.settings import HOME_ENV
    from pipelines.storage.lake import pending_dates, pending_version

    home, run_id, _ = killed
    monkeypatch.setenv(HOME_ENV, str(home.root))
    sensor, resources = defs().resolve_sensor_def("new_landing_files"), {"tokenledger": TokenledgerHome(home=str(home.root))}
    assert dt.date(2026, 11, 29) in pending_dates(home)
    before = pending_version(home)
    with instance_for(home) as instance:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        assert isinstance(sensor(context), dg.RunRequest)  # not "a run is queued or in progress"
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert pending_version(home) != before and dt.date(2026, 11, 29) in pending_dates(home)
        requests = sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor, resources=resources))
    assert [(r.tags[RANGE_START], r.tags[RANGE_END], r.run_key) for r in requests] == [
        ("2026-11-29", "2026-11-29", f"late:2026-11-29..2026-11-29:{pending_version(home)}")]


def test_a_dead_ingestion_run_no_longer_keeps_the_sensor_waiting(home, monkeypatch):
    """An ingestion run writes no marts (it is never unfinished) but, left 'started', kept the landing sensor skipping
    every tick; its worker is recorded too, so the next tick ends it and goes on."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome
    from pipelines.settings import HOME_ENV

    if not Path("/proc/self/stat").is_file():
        pytest.skip("needs /proc to see the worker stopped")
    monkeypatch.setenv(HOME_ENV, str(home.root))
    land(home, "november.jsonl", [_request("req_1", "2026-11-27")])
    run_id, pid = _kill_stopped_worker(home, "ingest", "2026-11-27")
    sensor, resources = defs().resolve_sensor_def("new_landing_files"), {"tokenledger": TokenledgerHome(home=str(home.root))}
    with instance_for(home) as instance:
        assert isinstance(sensor(dg.build_sensor_context(instance=instance, resources=resources)), dg.RunRequest)
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert run_id not in recorded_workers(home)  # an ended run's workers are forgotten
    assert unfinished_runs(home) == []


def test_a_process_identity_tells_a_reused_pid_from_the_process_it_named():
    """The identity carries the start time: a live process with the same pid but another start is not the one named;
    a zombie is gone; pid 1 (a container's init, the run worker when it is the entrypoint) is an ancestor."""
    me = identity(os.getpid())
    host, boot, namespace, pid, start = me.split(" ")
    assert alive(me) is True and is_self_or_ancestor(os.getpid()) and is_self_or_ancestor(os.getppid())
    assert is_self_or_ancestor(1)
    assert alive(f"{host} {boot} {namespace} {pid} {int(start) + 1}") is False
    assert alive(f"another-{host} {boot} {namespace} {pid} {start}") is None  # another machine: cannot tell
    assert alive("not an identity") is None
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    assert alive(f"{host} {boot} {namespace} {finished.stdout.strip()} -") is False
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    named = identity(zombie.pid)
    while (Path("/proc") / str(zombie.pid) / "stat").read_text().split(") ")[1][0] != "Z":  # exited, not reaped yet
        time.sleep(0.01)
    assert alive(named) is False
    zombie.wait()


def test_a_process_of_another_boot_or_namespace():
    """An earlier boot of this machine (same machine id): its processes are gone, so the run is dead. Another machine
    id or another pid namespace (a container on this host with the same host name): unknown, never dead."""
    host, boot, namespace, pid, start = identity(os.getpid()).split(" ")
    _, _, machine = boot.partition("/")
    assert alive(f"{host} 00000000-0000-0000-0000-000000000000/{machine} {namespace} {pid} {start}") is False
    assert alive(f"{host} 00000000-0000-0000-0000-000000000000/another-machine {namespace} {pid} {start}") is None
    assert alive(f"{host} {boot} pid:[1] {pid} {start}") is None


def test_a_daemon_style_run_records_the_multiprocess_executor_s_parent_not_a_step(home, monkeypatch):
    """The daemon's runs use the multiprocess executor: each step runs in a child process that ends with the step.
    The recorded worker is the parent that runs the whole job (here this process), never a step's own process.
    One daily table is materialized (a step takes seconds to start in its own process); nothing finishes the run
    here, so its record stays to be read."""
    from pipelines.settings import HOME_ENV

    monkeypatch.setenv(HOME_ENV, str(home.root))
    land(home, "november.jsonl", [_request("req_1", "2026-11-27")])
    with instance_for(home) as instance:
        from pipelines.definitions import defs

        assert defs().resolve_job_def("tokenledger_ingest").execute_in_process(instance=instance).success
        tags = {RANGE_START: "2026-11-27", RANGE_END: "2026-11-27"}
        selection = [dg.AssetKey(["staging", "stg_gateway_requests"])]
        models = ReconstructableRepository.for_module("pipelines.definitions", "defs", str(CHECKOUT)).get_reconstructable_job("tokenledger_models")
        with dg.execute_job(models, instance=instance, tags=tags, asset_selection=selection) as result:
            assert result.success
            steps = {e.pid for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}
        assert steps and os.getpid() not in steps  # the step really ran in another process
        assert recorded_workers(home)[result.run_id] == [identity(os.getpid())]
