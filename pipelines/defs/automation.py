"""Automation for a long-running Dagster deployment (`dagster-daemon` beside the UI; see docs/report.md).

- `daily_refresh` (02:00 UTC): ingest landing, then materialize yesterday and every late date (dates
  whose lake rows changed since they were last materialized), then the whole-history marts.
- `new_landing_files`: when files appear or change under landing/gateway, ingest them; once the
  ingestion is done, materialize the dates it touched.
- `clear_materialized_dates`: after a successful run, forget the late dates it materialized (a date
  whose lake rows changed while the run was going stays late).
- `MARTS_FRESHNESS`: the marts are expected to be refreshed between 02:00 and 04:00 UTC every day; every
  asset in group `marts` sets it (`freshness_policy=MARTS_FRESHNESS`).

The jobs are the same three stages `tokenledger run` goes through; runs that read landing carry the
`tokenledger/ingest` tag so the run queue can keep them one at a time.
"""

import datetime as dt
import hashlib

import dagster as dg

from pipelines.adapters import EARLIEST_DATE
from pipelines.defs.resources import TokenledgerHome
from pipelines.home import Home
from pipelines.ingest import PENDING_FILE, REQUESTS_TABLE, clear_pending, discover, pending_dates
from pipelines.runner import INGEST_GROUPS, contiguous_ranges

MARTS_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 4 * * *", lower_bound_delta=dt.timedelta(hours=2), timezone="UTC")
"""Fresh when materialized between 02:00 and the 04:00 UTC deadline of each day (the daily run starts at 02:00)."""

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
INGEST_TAG = {"tokenledger/ingest": "true"}
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

_ingest = dg.AssetSelection.groups(*INGEST_GROUPS)
ingest_job = dg.define_asset_job(
    "tokenledger_ingest", selection=_ingest, tags=INGEST_TAG, description="Ingest new and changed landing files and reload the price book."
)
models_job = dg.define_asset_job(
    "tokenledger_models",
    selection=dg.AssetSelection.all() - _ingest,
    description="Materialize a range of dates (staging, core, daily marts), then the whole-history marts.",
)
daily_job = dg.define_asset_job(
    "tokenledger_daily",
    selection=dg.AssetSelection.all(),
    tags=INGEST_TAG,
    description="Ingest landing, materialize a range of dates, then the whole-history marts: what `tokenledger run` does.",
)


def partition_dates(dates: set[dt.date], today: dt.date) -> list[dt.date]:
    """The dates the daily partitions hold ([first partition day, tomorrow] UTC), sorted."""
    first, last = dt.date.fromisoformat(EARLIEST_DATE), today + dt.timedelta(days=1)
    return sorted(d for d in dates if first <= d <= last)


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}


def landing_fingerprint(home: Home) -> str:
    """A digest of every landed gateway file's path, size and modification time: it changes when files appear or change."""
    digest = hashlib.sha256()
    for landed in discover(home):
        try:
            stat = landed.path.stat()
        except OSError:
            continue
        digest.update(f"{landed.relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def pending_version(home: Home) -> int:
    """When the late dates were last marked (ns); 0 when none ever were."""
    path = home.lake / PENDING_FILE
    return path.stat().st_mtime_ns if path.is_file() else 0


def _busy(instance: dg.DagsterInstance) -> bool:
    return bool(instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS), limit=1))


@dg.schedule(
    name="daily_refresh",
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    job=daily_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="02:00 UTC: ingest, materialize yesterday and every late date, refresh the whole-history marts.",
)
def daily_refresh(context: dg.ScheduleEvaluationContext, tokenledger: TokenledgerHome):
    """One run ingests and materializes the range holding yesterday; other late ranges need no ingestion."""
    tick = context.scheduled_execution_time.astimezone(dt.timezone.utc)
    yesterday = tick.date() - dt.timedelta(days=1)
    dates = partition_dates({yesterday} | pending_dates(tokenledger.paths), tick.date())
    for first, last in contiguous_ranges(dates):
        holds_yesterday = first <= yesterday <= last
        yield dg.RunRequest(
            run_key=f"{tick.date().isoformat()}:{first.isoformat()}..{last.isoformat()}",
            job_name=daily_job.name if holds_yesterday else models_job.name,
            tags=range_tags(first, last) | (INGEST_TAG if holds_yesterday else {}),
        )


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
    if _busy(context.instance):
        return dg.SkipReason("a run is queued or in progress; waiting for it to finish")
    fingerprint = landing_fingerprint(home)
    if fingerprint != context.cursor:
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=f"ingest:{fingerprint}", job_name=ingest_job.name)
    today = dt.datetime.now(dt.timezone.utc).date()
    dates = partition_dates(pending_dates(home), today)
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
    tags = context.dagster_run.tags
    if RANGE_START not in tags or RANGE_END not in tags:
        return dg.SkipReason("the run had no partition range")
    home = tokenledger.paths
    record = context.instance.get_run_record_by_id(context.dagster_run.run_id)
    started = record.start_time if record is not None and record.start_time is not None else 0.0
    first, last = dt.date.fromisoformat(tags[RANGE_START]), dt.date.fromisoformat(tags[RANGE_END])
    ran = {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}
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

