"""Run the pipeline through Dagster: ingest what is new, then materialize every date it touched."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg

from pipelines.adapters import EARLIEST_DATE
from pipelines.home import Home, shipped_dir
from pipelines.ingest import clear_pending, pending_dates
from pipelines.privacy import load_key

INGEST_GROUPS = ("lake", "reference", "audit")
"""Unpartitioned assets in these groups run first: they read landing and the price book."""
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
LAUNCHER_TAG = {"tokenledger/launcher": "cli"}


class PipelineFailed(RuntimeError):
    """A Dagster run of the pipeline did not succeed."""


class RunInProgress(RuntimeError):
    """Another tokenledger run holds this home's run lock."""


@contextmanager
def run_lock(home: Home) -> Iterator[None]:
    """One run per home at a time: a second run fails at once with a clear message, never interleaves."""
    home.root.mkdir(parents=True, exist_ok=True)
    path = home.root / ".run.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunInProgress(f"another tokenledger run is writing {home.root} (pid {holder}); try again when it finishes") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class RunSummary:
    """What one `tokenledger run` did."""

    ingest: dict = field(default_factory=dict)
    dates: list[dt.date] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def instance_for(home: Home) -> dg.DagsterInstance:
    """A persistent Dagster instance inside the home folder, so `tokenledger dev` shows every run."""
    folder = home.dagster_home
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shipped_dir("dagster.yaml"), folder / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(folder))


def recover_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark CLI runs left STARTED by a killed process as failed and free their `duckdb` pool slots.

    Called while holding the home's run lock, so no other CLI run on this home can be alive.
    """
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    alive = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    dead = instance.get_runs(filters=RunsFilter(statuses=alive, tags=LAUNCHER_TAG))
    for run in dead:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        instance.report_run_failed(run, message="the process running it died before it finished (found by the next run)")
    return [run.run_id for run in dead]


def stage_keys(assets) -> tuple[list[dg.AssetKey], list[dg.AssetKey], list[dg.AssetKey]]:
    """Asset keys by stage: ingestion (unpartitioned lake, reference and audit assets), the daily
    partitioned models, and every other unpartitioned asset (whole-history marts), run last."""
    ingest, daily, summary = [], [], []
    for asset in assets:
        for key in asset.keys:
            if asset.partitions_def is not None:
                daily.append(key)
            elif asset.group_names_by_key.get(key) in INGEST_GROUPS:
                ingest.append(key)
            else:
                summary.append(key)
    return ingest, daily, summary


def contiguous_ranges(dates: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """[(first, last)] for each run of consecutive dates."""
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(dates)):
        if ranges and day == ranges[-1][1] + dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def run_pipeline(
    home: Home,
    start: dt.date | None = None,
    end: dt.date | None = None,
    progress: Callable[[str], None] = print,
) -> RunSummary:
    """Ingest new landing files, then materialize the touched dates (or [start, end] when given)."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome

    home.ensure()
    load_key(home.secrets)
    definitions = defs()
    assets = list(definitions.assets or [])
    ingest_keys, daily_keys, summary_keys = stage_keys(assets)
    resources = {"tokenledger": TokenledgerHome(home=str(home.root))}
    summary = RunSummary()
    with run_lock(home), instance_for(home) as instance:
        for run_id in recover_dead_runs(instance):
            progress(f"run {run_id} was interrupted earlier: marked failed, its warehouse lock released")
        progress("ingesting new landing files")
        result = _materialize(assets, ingest_keys, instance, resources, tags={})
        summary.run_ids.append(result.run_id)
        lake = result.asset_materializations_for_node("lake__gateway_requests")[0].metadata
        summary.ingest = {k: lake[k].value for k in ("files_ingested", "files_unchanged", "rows_read", "rows_loaded", "rows_rejected", "rows_duplicate")}
        progress(
            f"ingested {summary.ingest['files_ingested']} files ({summary.ingest['files_unchanged']} unchanged): "
            f"{summary.ingest['rows_loaded']} rows loaded, {summary.ingest['rows_rejected']} rejected, "
            f"{summary.ingest['rows_duplicate']} duplicate"
        )
        if start is not None or end is not None:
            first, last = start or end, end or start
            summary.dates = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        else:
            touched = {dt.date.fromisoformat(d) for d in lake["touched_dates"].value}
            summary.dates = sorted(touched | pending_dates(home))
        summary.dates = _within_partitions(summary.dates, summary.warnings, progress)
        for first, last in contiguous_ranges(summary.dates):
            progress(f"materializing {first}" + (f" .. {last}" if last != first else ""))
            tags = {
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            }
            result = _materialize(assets, daily_keys, instance, resources, tags=tags)
            summary.run_ids.append(result.run_id)
            clear_pending(home, {first + dt.timedelta(days=n) for n in range((last - first).days + 1)})
        progress("refreshing the whole-history marts (coverage, restatements, billing, outcomes, revenue)")
        result = _materialize(assets, summary_keys, instance, resources, tags={})
        summary.run_ids.append(result.run_id)
        summary.warnings += [
            f"{e.asset_key.to_user_string()} {e.check_name}: {e.description}"
            for e in result.get_asset_check_evaluations()
            if not e.passed
        ]
        for warning in summary.warnings:
            progress(f"warning: {warning}")
    return summary


def _within_partitions(dates: list[dt.date], warnings: list[str], progress: Callable[[str], None]) -> list[dt.date]:
    """Dates the daily partitions cover ([first partition day, tomorrow] UTC); others are reported, not run."""
    first = dt.date.fromisoformat(EARLIEST_DATE)
    last = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)
    outside = [d for d in dates if not first <= d <= last]
    if outside:
        warning = f"{len(outside)} date(s) outside the daily partitions ({first} .. {last}) not materialized: {outside[0]} .. {outside[-1]}"
        warnings.append(warning)
        progress(f"warning: {warning}")
    return [d for d in dates if first <= d <= last]


def _materialize(assets, keys, instance, resources, tags) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        assets,
        selection=dg.AssetSelection.assets(*keys),
        instance=instance,
        resources=resources,
        tags={**tags, **LAUNCHER_TAG},
        run_config=QUIET,
        raise_on_error=False,
    )
    if not result.success:
        raise PipelineFailed(f"run {result.run_id} failed: " + "; ".join(_failure_messages(result))[:4000])
    return result


def _failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """The root cause of each failed step, e.g. 'core__request_costs: BinderException: ...'."""
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            messages.append(f"{event.step_key}: {error.message.strip()}")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            failures = evaluation.metadata.get("failures")
            details = [
                f"{f['expectation']} {f['column']} ({f['unexpected_count']} unexpected, e.g. {', '.join(f['examples'][:3])})"
                for f in (failures.value if failures is not None else [])
            ]
            messages.append(f"check {evaluation.check_name} failed" + (": " + "; ".join(details) if details else ""))
    return messages or [event.message or "" for event in result.all_events if event.is_failure]
