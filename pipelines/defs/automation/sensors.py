"""Sensors: ingest files that appear or change under landing/gateway, forget the late dates a run materialized,
and publish the warehouse after every run the daemon launched (never one that left days without the whole-history
marts rebuilt after them: `storage.unfinished`)."""

import datetime as dt
import hashlib

import dagster as dg

from pipelines.defs.automation.jobs import daily_job, ingest_job, models_job
from pipelines.defs.partitions import range_dates
from pipelines.defs.resources import TokenledgerHome
from pipelines.defs.run_workers import end_dead_runs
from pipelines.defs.stages import (
    PUBLISHED_BY_LAUNCHER,
    contiguous_ranges,
    finish_run,
    partition_dates,
    range_tags,
)
from pipelines.storage.database import WarehouseError, publish
from pipelines.storage.home import Home
from pipelines.storage.lake import GATEWAY, REQUESTS_TABLE, clear_pending, discover_landed, pending_dates, pending_version

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def landing_fingerprint(home: Home) -> str:
    """A digest of every landed gateway file's path, size and modification time: it changes when files appear or change."""
    digest = hashlib.sha256()
    for landed in discover_landed(home, GATEWAY):
        try:
            if landed.path is not None:
                stat = landed.path.stat()
                size, modified = stat.st_size, stat.st_mtime_ns
            else:
                info = landed.store.filesystem.get_file_info(landed.store.full(landed.relative))
                size, modified = info.size, info.mtime_ns
        except OSError:
            continue
        digest.update(f"{landed.relative}\0{size}\0{modified}\n".encode())
    return digest.hexdigest()


def _busy(instance: dg.DagsterInstance) -> bool:
    return bool(instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS), limit=1))


@dg.sensor(
    name="new_landing_files",
    jobs=[ingest_job, models_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Ingest files that appear or change under landing/gateway, then materialize the dates they touched.",
)
def new_landing_files(context: dg.SensorEvaluationContext, tokenledger: TokenledgerHome):
    """First ingest what changed in landing; on a later tick, when no run is in flight, materialize the late dates."""
    home = tokenledger.paths
    for run_id in end_dead_runs(home, context.instance):  # else a run whose worker died would keep the sensor waiting
        context.log.warning(f"run {run_id}'s run worker died before the run finished: marked failed")
    if _busy(context.instance):
        return dg.SkipReason("a run is queued or in progress; waiting for it to finish")
    fingerprint = landing_fingerprint(home)
    if fingerprint != context.cursor:
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=f"ingest:{fingerprint}", job_name=ingest_job.name)
    today = dt.datetime.now(dt.timezone.utc).date()
    dates, _ = partition_dates(pending_dates(home), today)
    if not dates:
        return dg.SkipReason("no new landing files and no late dates to materialize")
    version = pending_version(home)
    return [
        dg.RunRequest(run_key=f"late:{first.isoformat()}..{last.isoformat()}:{version}", job_name=models_job.name, tags=range_tags(first, last))
        for first, last in contiguous_ranges(dates)
    ]


@dg.run_status_sensor(
    name="clear_materialized_dates",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_job, models_job],
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="After a successful run, forget the late dates it materialized (unless their lake rows changed meanwhile).",
)
def clear_materialized_dates(context: dg.RunStatusSensorContext, tokenledger: TokenledgerHome):
    """A date whose lake rows changed after the run started stays late: the next tick materializes it once more."""
    ran = range_dates(context.dagster_run.tags)
    if ran is None:
        return dg.SkipReason("the run had no partition range")
    home = tokenledger.paths
    record = context.instance.get_run_record_by_id(context.dagster_run.run_id)
    started = record.start_time if record is not None and record.start_time is not None else 0.0
    first, last = min(ran), max(ran)
    late = ran & pending_dates(home)
    changed = {day for day in late if lake_changed_since(home, day, started)}
    clear_pending(home, late - changed)
    kept = f"; {len(changed)} changed while it ran and stay late" if changed else ""
    return dg.SkipReason(f"cleared {len(late - changed)} late date(s) of {first} .. {last}{kept}")


def lake_changed_since(home: Home, day: dt.date, timestamp: float) -> bool:
    """Whether the day's lake partition (its folder or a file in it) changed at or after `timestamp` (epoch seconds)."""
    folder = home.lake / REQUESTS_TABLE / f"event_date={day.isoformat()}"
    if not folder.is_dir():
        return False
    paths = [folder, *folder.iterdir()]
    return max(path.stat().st_mtime for path in paths) >= timestamp


def _publish(context: dg.RunStatusSensorContext, tokenledger: TokenledgerHome) -> dg.SkipReason:
    """Publish the working warehouse after a run, unless its launcher publishes it (PUBLISHED_BY_LAUNCHER)."""
    if context.dagster_run.tags.items() >= PUBLISHED_BY_LAUNCHER.items():
        return dg.SkipReason("the run's launcher publishes the warehouse itself")
    if context.dagster_run.status == dg.DagsterRunStatus.SUCCESS:
        finish_run(tokenledger.paths, context.instance, context.dagster_run.run_id)
    try:
        published = publish(tokenledger.paths)
    except WarehouseError as exc:  # another run is writing, one left days without the whole-history marts, or no space
        return dg.SkipReason(f"not published now: {exc}")
    return dg.SkipReason("published the warehouse" if published else "no working warehouse yet")


def _publisher(name: str, status: dg.DagsterRunStatus, when: str) -> dg.SensorDefinition:
    @dg.run_status_sensor(name=name, run_status=status, default_status=dg.DefaultSensorStatus.RUNNING,
                          description=f"After a run {when}, publish the warehouse readers open (storage.database.publish).")
    def publisher(context: dg.RunStatusSensorContext, tokenledger: TokenledgerHome):
        return _publish(context, tokenledger)

    return publisher


publish_after_success = _publisher("publish_after_success", dg.DagsterRunStatus.SUCCESS, "succeeds")
publish_after_failure = _publisher("publish_after_failure", dg.DagsterRunStatus.FAILURE, "fails, unless it wrote days or marts it did not finish")
