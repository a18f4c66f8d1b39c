"""`daily_refresh`: at 02:00 UTC, ingest landing and materialize yesterday and every late date."""

import datetime as dt

import dagster as dg

from pipelines.defs.automation.jobs import INGEST_TAG, daily_job, models_job
from pipelines.defs.resources import TokenledgerHome
from pipelines.defs.stages import contiguous_ranges, partition_dates, range_tags
from pipelines.storage.lake import pending_dates


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
    dates, _ = partition_dates({yesterday} | pending_dates(tokenledger.paths), tick.date())
    for first, last in contiguous_ranges(dates):
        holds_yesterday = first <= yesterday <= last
        yield dg.RunRequest(
            run_key=f"{tick.date().isoformat()}:{first.isoformat()}..{last.isoformat()}",
            job_name=daily_job.name if holds_yesterday else models_job.name,
            tags=range_tags(first, last) | (INGEST_TAG if holds_yesterday else {}),
        )
