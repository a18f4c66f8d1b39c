"""The run queue keeps ingestion one run at a time: of two ingest runs submitted together, the daemon's run
coordinator launches one and keeps the other queued until the first has finished. A CLI run, which the queue does
not see, waits for an ingestion another process holds; the pending dates survive two processes writing them.

The instance is the one the CLI makes in the home from the shipped dagster.yaml; the runs are made from the code
location served over gRPC, as the schedule and sensor make theirs, and the coordinator launches them for real.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import dagster as dg
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from pipelines.defs.automation.jobs import INGEST_TAG
from pipelines.demo.gateway import generate_gateway_logs
from pipelines.runner import instance_for
from pipelines.settings import HOME_ENV, PSEUDONYM_KEY_ENV
from pipelines.storage.lake import pending_dates, read_manifest

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _remote_job(workspace, job_name: str):
    (location,) = workspace.code_locations
    (repository,) = location.get_repositories().values()
    return repository.get_full_job(job_name)


def _submit(instance: dg.DagsterInstance, workspace, job_name: str) -> str:
    """Create a run of the job with its own tags (as the schedule and sensor daemons do) and hand it to the run queue."""
    from pipelines.definitions import defs

    remote_job = _remote_job(workspace, job_name)
    run = instance.create_run_for_job(
        defs().resolve_job_def(job_name),
        tags=remote_job.run_tags,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
    )
    instance.submit_run(run.run_id, workspace)
    return run.run_id


def _statuses(instance: dg.DagsterInstance, run_ids: list[str]) -> list[dg.DagsterRunStatus]:
    return [instance.get_run_by_id(run_id).status for run_id in run_ids]


def _wait_until_finished(instance: dg.DagsterInstance, run_id: str, timeout: float = 240) -> dg.DagsterRunStatus:
    deadline = time.monotonic() + timeout
    while (status := instance.get_run_by_id(run_id).status) not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.5)
    return status


def _failures(instance: dg.DagsterInstance, run_id: str) -> str:
    """What went wrong in a run, for the assertion message."""
    events = [entry.dagster_event for entry in instance.all_logs(run_id) if entry.is_dagster_event]
    return "\n".join(str(event.event_specific_data) for event in events if event.is_failure)


def test_the_shipped_run_queue_limits_runs_tagged_ingest_to_one(home):
    ((key, _),) = INGEST_TAG.items()
    with instance_for(home) as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert [limit for limit in limits if limit["key"] == key] == [{"key": key, "limit": 1}]


def test_two_ingest_runs_submitted_together_are_dequeued_one_at_a_time(home, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(home.root))
    target = ModuleTarget("pipelines.definitions", None, None, "tokenledger")
    with instance_for(home) as instance, create_test_daemon_workspace_context(target, instance) as context:
        workspace = context.create_request_context()
        for job_name in ("tokenledger_ingest", "tokenledger_daily"):
            assert _remote_job(workspace, job_name).run_tags.items() >= INGEST_TAG.items()
        run_ids = [_submit(instance, workspace, "tokenledger_ingest") for _ in range(2)]
        try:
            assert all(instance.get_run_by_id(run_id).tags.items() >= INGEST_TAG.items() for run_id in run_ids)
            assert _statuses(instance, run_ids) == [dg.DagsterRunStatus.QUEUED] * 2

            coordinator = QueuedRunCoordinatorDaemon(interval_seconds=1)
            list(coordinator.run_iteration(context))
            first, second = _statuses(instance, run_ids)
            assert first != dg.DagsterRunStatus.QUEUED and second == dg.DagsterRunStatus.QUEUED

            assert _wait_until_finished(instance, run_ids[0]) == dg.DagsterRunStatus.SUCCESS, _failures(instance, run_ids[0])
            list(coordinator.run_iteration(context))
            assert _statuses(instance, run_ids)[1] != dg.DagsterRunStatus.QUEUED
            assert _wait_until_finished(instance, run_ids[1]) == dg.DagsterRunStatus.SUCCESS, _failures(instance, run_ids[1])
        finally:
            for run_id in run_ids:
                if instance.get_run_by_id(run_id).status not in FINISHED | {dg.DagsterRunStatus.QUEUED}:
                    instance.run_launcher.terminate(run_id)
                    _wait_until_finished(instance, run_id, timeout=60)


_HOLD = """
import pathlib, sys, time
from pipelines.storage.home import Home
from pipelines.storage.lock import ingest_lock
with ingest_lock(Home.at(sys.argv[1]), "gateway"):
    print("held", flush=True)
    while pathlib.Path(sys.argv[2]).exists():
        time.sleep(0.1)
"""


def test_a_cli_run_waits_while_another_process_ingests_the_same_source(home, tmp_path):
    """A scheduled or sensor run ingesting gateway files (here: a process holding that ingestion's lock) keeps a
    `tokenledger run` of the same home from ingesting beside it; the CLI run ingests once it is done."""
    generate_gateway_logs(home.landing, start=dt.date(2026, 11, 20), days=1, requests_per_day=300, seed=3)
    marker = tmp_path / "holding"
    marker.touch()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(home.root), str(marker)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    env = {**os.environ, PSEUDONYM_KEY_ENV: "queue-test-key"}
    env.pop(HOME_ENV, None)
    cli = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--home", str(home.root)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not read_manifest(home) and time.monotonic() < deadline:  # the other sources ingest meanwhile
            time.sleep(0.5)
        time.sleep(3)
        assert cli.poll() is None
        assert not [path for path in read_manifest(home) if path.startswith("gateway/")]
    finally:
        marker.unlink()
        holder.wait(timeout=30)
    output, _ = cli.communicate(timeout=300)
    assert cli.returncode == 0, output
    gateway = [row for path, row in read_manifest(home).items() if path.startswith("gateway/")]
    assert gateway and sum(row["rows_loaded"] for row in gateway) >= 300


_PENDING = """
import datetime as dt, sys
from pipelines.storage.home import Home
from pipelines.storage.lake import clear_pending, mark_pending
home, first = Home.at(sys.argv[1]), dt.date.fromisoformat(sys.argv[2])
for day in range(150):
    date = first + dt.timedelta(days=day)
    mark_pending(home, {date})
    if sys.argv[3] == "clear":
        clear_pending(home, {date})
"""


def test_pending_dates_written_by_two_processes_at_once_lose_none(home):
    """Ingestion marks dates while a sensor or a run clears others: every read-modify-write of the pending file is
    one at a time, so no date marked by one process is lost to the other's write."""
    keep, cleared = dt.date(2026, 1, 1), dt.date(2027, 1, 1)
    writers = [subprocess.Popen([sys.executable, "-c", _PENDING, str(home.root), first.isoformat(), action])
               for first, action in ((keep, "keep"), (cleared, "clear"))]
    assert [writer.wait(timeout=300) for writer in writers] == [0, 0]
    assert pending_dates(home) == {keep + dt.timedelta(days=day) for day in range(150)}
