"""Runs whose run worker died: found and marked failed, so they no longer hold back publishing and the sensor.

Dagster's code server marks a run failed when the run worker it launched dies; when the code server dies too (the
machine restarted or crashed, `tokenledger dev` killed hard, the code server killed for memory) nobody does, and the run
stays STARTED for ever: it stays unfinished (`storage.unfinished`), publishing and `close` wait for it, and the landing
sensor waits for it to end.

Each step records, when its resources are set up (`defs.resources`), the identity of its run's worker
(`storage.processes`, in `storage.workers`): the process Dagster's executor names in its "Executing steps ..." engine
event (the multiprocess executor's parent process, or the one process of the in-process executor), recorded only when
it is the step's own process or one of its ancestors, so on this machine. `end_dead_runs` marks failed each run Dagster
still takes for in progress whose recorded workers are all gone from this machine, and marks its dates pending again;
the next run that rebuilds the whole-history marts finishes it if it wrote any (`defs.stages.finish_run`). A run whose
worker runs on another machine is left to that platform's run monitoring.
"""

from __future__ import annotations

import dagster as dg

from pipelines.defs.partitions import range_dates
from pipelines.storage.home import Home
from pipelines.storage.lake import mark_pending
from pipelines.storage.lock import short_lock
from pipelines.storage.processes import alive, identity, is_self_or_ancestor
from pipelines.storage.workers import forget_workers, record_worker, recorded_workers

STEPS_EVENT = "Executing steps "
"""How Dagster's executors begin the engine event that names the process running a run's steps (metadata `pid`)."""
IN_PROGRESS = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)


def run_worker(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The identity of run `run_id`'s run worker, when it is this process or an ancestor of it; else None."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = event.engine_event_data if event is not None else None
        if not entry.user_message.startswith(STEPS_EVENT) or data is None or "pid" not in data.metadata:
            continue
        try:
            pid = int(str(data.metadata["pid"].value))
        except ValueError:
            continue
        if is_self_or_ancestor(pid):
            return identity(pid)
    return None


def record_run_worker(home: Home, instance: dg.DagsterInstance, run_id: str) -> None:
    """Record run `run_id`'s worker, when it is this process or an ancestor of it."""
    named = run_worker(instance, run_id)
    if named is not None:
        record_worker(home, run_id, named)


def end_dead_runs(home: Home, instance: dg.DagsterInstance) -> list[str]:
    """Mark failed (and free the `duckdb` pool slots of) each run still in progress in Dagster whose recorded run
    workers have all died on this machine, and mark its partition range pending again (so it is rebuilt, and the
    landing sensor's next request for it has a new run key); forget the workers of runs that ended. Returns the ids
    of the runs it marked failed."""
    ended, gone = [], set()
    with short_lock(home, "dead-runs"):  # one caller ends a run once (a sensor tick beside a CLI run)
        for run_id, identities in sorted(recorded_workers(home).items()):
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                gone.add(run_id)
                continue
            if run.status not in IN_PROGRESS or not identities or any(alive(named) is not False for named in identities):
                continue
            mark_pending(home, range_dates(run.tags) or set())
            pids = ", ".join(named.split(" ")[3] for named in identities)
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            instance.report_run_failed(run, message=f"its run worker (pid {pids}) died before the run finished (found by tokenledger)")
            ended.append(run_id)
        forget_workers(home, gone | set(ended))
    return ended
