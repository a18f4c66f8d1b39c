"""The run queue keeps ingestion one run at a time: the shipped instance limits runs tagged tokenledger/ingest to
one, and every job that ingests carries the tag (two such runs submitted together, dequeued one at a time, are the
corpus scenario `two-ingest-runs-queued-together`, tests/corpus/scenarios.yaml). A CLI run, which the queue does
not see, waits for an ingestion another process holds; the pending dates survive two processes writing them.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import dagster as dg

from pipelines.defs.automation.jobs import INGEST_TAG
from pipelines.demo.gateway import generate_gateway_logs
from pipelines.runner import instance_for
from pipelines.settings import HOME_ENV, PSEUDONYM_KEY_ENV
from pipelines.storage.lake import pending_dates, read_manifest


def test_the_shipped_run_queue_limits_runs_tagged_ingest_to_one(home):
    ((key, _),) = INGEST_TAG.items()
    with instance_for(home) as instance:
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert [limit for limit in limits if limit["key"] == key] == [{"key": key, "limit": 1}]


def test_every_job_that_ingests_carries_the_ingest_tag():
    from pipelines.definitions import defs

    for job_name in ("tokenledger_ingest", "tokenledger_daily"):
        assert defs().resolve_job_def(job_name).tags.items() >= INGEST_TAG.items(), job_name


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
