"""Run the pipeline through Dagster: ingest what is new, then materialize every date it touched.

A run goes through the three stages of `defs.stages`. Which dates to materialize comes from the lake's
pending dates (ingestion marks every date whose rows changed before it writes a file's manifest row), so a
run killed after ingestion materializes them next time. One run per home at a time (`storage.lock`).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from pipelines.definitions import defs
from pipelines.defs.console import printed_to, stop_requested, stop_signals_noted
from pipelines.defs.resources import TokenledgerHome
from pipelines.defs.run_workers import end_dead_runs
from pipelines.defs.stages import PUBLISHED_BY_LAUNCHER, contiguous_ranges, finish_run, partition_dates, range_tags, stage_keys
from pipelines.ingest.privacy import load_key, short_key_warning
from pipelines.settings import load_yaml
from pipelines.storage.database import WarehouseUnfinished, publish
from pipelines.storage.home import Home, shipped_dir
from pipelines.storage.lake import clear_pending, mark_pending, pending_dates, remove_scratch, request_dates
from pipelines.storage.lake_tables import LAKE_TABLES, held_dates
from pipelines.storage.lock import run_lock
from pipelines.storage.schemas import EARLIEST_DATE

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Dagster's console log stays silent: a failed run is one `tokenledger:` line (its stack traces are in the run's
event log, in `tokenledger dev`), and an interrupted one says `interrupted`."""
CLI_CONFIG = "cli.yaml"
CLI_COMPUTE_LOGS = """
# `tokenledger run`: no step stdout/stderr capture. The local capture starts `tail` watchers that share the
# terminal's process group, so Ctrl-C printed their tracebacks.
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
"""
LAUNCHER_TAG = {"tokenledger/launcher": "cli"}
GATEWAY_ASSET = dg.AssetKey(["lake", "gateway_requests"])
INGEST_COUNTS = ("files_ingested", "files_failed", "files_removed", "files_unchanged", "files_archived", "rows_read", "rows_loaded", "rows_rejected", "rows_duplicate",
                 "rows_skipped")


class PipelineFailed(RuntimeError):
    """A Dagster run of the pipeline did not succeed."""


@dataclass
class RunSummary:
    """What one `tokenledger run` did."""

    ingest: dict = field(default_factory=dict)
    dates: list[dt.date] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def publish_after(home: Home | str, instance: dg.DagsterInstance, run_id: str) -> bool:
    """Publish `<home>/warehouse.duckdb` after a run started through Dagster's own API (`dg.materialize`,
    `execute_in_process`, `dagster asset materialize` without the daemon), as `tokenledger run` and the daemon's
    publish sensors do after theirs. A run that succeeded and rebuilt every whole-history mart finishes itself and the
    runs that ended before it; publishing then copies the working warehouse over the published one. Returns False when
    there is no working warehouse yet; raises WarehouseUnfinished, publishing nothing, while a run that wrote days
    still awaits a rebuild of the whole-history marts (readers keep the last good state)."""
    home = home if isinstance(home, Home) else Home.at(home)
    record = instance.get_run_record_by_id(run_id)
    if record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS:
        finish_run(home, instance, run_id)
    return publish(home)


def instance_for(home: Home, *, cli: bool = False) -> dg.DagsterInstance:
    """A persistent Dagster instance inside the home folder, so `tokenledger dev` shows every run; `cli`: the one
    `tokenledger run` uses, on the same storage, without compute log capture."""
    from dagster._core.instance.ref import InstanceRef

    folder = home.dagster_home
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shipped_dir("dagster.yaml"), folder / "dagster.yaml")
    name = "dagster.yaml"
    if cli:
        name = CLI_CONFIG
        (folder / CLI_CONFIG).write_text((folder / "dagster.yaml").read_text() + CLI_COMPUTE_LOGS)
    # Dagster finds the file by a glob of its path: a home named with [ ] * ? matched nothing, and the instance ran
    # with Dagster's defaults (telemetry on, output capture on). The settings are given as they are instead.
    settings = load_yaml(folder / name) or {}
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(folder), config_filename=name, overrides=settings))


def recover_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark CLI runs a killed process left NOT_STARTED (killed between creating and starting it), STARTING,
    STARTED or CANCELING as failed and free their `duckdb` pool slots.

    Called while holding the home's run lock, so no other CLI run on this home can be alive.
    """
    alive = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    dead = instance.get_runs(filters=dg.RunsFilter(statuses=alive, tags=LAUNCHER_TAG))
    for run in dead:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        instance.report_run_failed(run, message="the process running it died before it finished (found by the next run)")
    return [run.run_id for run in dead]


def run_pipeline(
    home: Home,
    start: dt.date | None = None,
    end: dt.date | None = None,
    progress: Callable[[str], None] = print,
) -> RunSummary:
    """Ingest new landing files, then materialize the touched dates (or [start, end] when given)."""
    home.ensure()
    warning = short_key_warning(load_key(home.secrets), home.secrets)
    if warning:
        progress(warning)
    definitions = defs()
    assets = [asset for asset in definitions.assets or [] if isinstance(asset, dg.AssetsDefinition) and asset.is_executable]
    resources = {"tokenledger": TokenledgerHome(home=str(home.root))}
    summary = RunSummary()
    with stop_signals_noted(), run_lock(home), instance_for(home, cli=True) as instance:
        for run_id in recover_dead_runs(instance):
            progress(f"run {run_id} was interrupted earlier: marked failed, its warehouse lock released")
        for run_id in end_dead_runs(home, instance):
            progress(f"run {run_id}'s run worker died before the run finished: marked failed, its warehouse lock released")
        removed = remove_scratch(home)
        if removed:
            progress(f"removed the scratch of {removed} interrupted ingestion(s)")
        if start is not None or end is not None:
            first, last = start or end, end or start
            wanted = {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}
            held = wanted & dates_holding_rows(home)  # a day without a request anywhere has nothing to re-price
            if len(held) < len(wanted):
                progress(f"{len(wanted) - len(held)} of the {len(wanted)} dates from {first} to {last} hold no request: "
                         "nothing to re-price on them")
            mark_pending(home, held)  # a range re-priced but killed before its marts is finished by the next run
        try:
            with printed_to(lambda message: progress(f"  {message}")):  # the slow steps' own lines, indented
                _stages(home, assets, stage_keys(assets), instance, resources, summary, progress)
        except BaseException:
            try:  # what a run that failed in ingestion wrote is published (each file is whole); after that, nothing is
                publish(home)
            except WarehouseUnfinished as exc:
                progress(f"{exc}")
            except Exception:  # the run's own error is what is reported
                pass
            raise
        if stop_requested():  # a signal Dagster swallowed while it wrote the last stage's events: nothing published
            raise KeyboardInterrupt
        finish_run(home, instance, summary.run_ids[-1])  # the whole-history marts were rebuilt after every day it wrote
        try:
            publish(home)
        except WarehouseUnfinished as exc:  # this run is finished; another (a daemon's, still running or dead) is not
            summary.warnings.append(str(exc))
            progress(f"warning: {exc}")
        if stop_requested():  # one that landed in finish_run's or publish's own writes (SQLAlchemy's, DuckDB's), which
            raise KeyboardInterrupt  # went on: the run is whole and published, and the command still says "interrupted"
    return summary


def dates_holding_rows(home: Home) -> set[dt.date]:
    """The dates with a gateway request in the lake or a row in a daily table (one whose requests were withdrawn)."""
    held = request_dates(home)
    for name in LAKE_TABLES:
        held |= held_dates(home, name)
    return held


def _stages(home: Home, assets: list, keys: tuple, instance: dg.DagsterInstance, resources: dict, summary: RunSummary,
            progress: Callable[[str], None]) -> None:
    """Ingestion, then each contiguous range of pending dates, then the whole-history marts (`defs.stages`)."""
    ingest_keys, daily_keys, summary_keys = keys
    progress("ingesting new landing files")
    result = _materialize(assets, ingest_keys, instance, resources, tags={})
    summary.run_ids.append(result.run_id)
    _warn(result, summary, progress)
    gateway = next(m for m in result.get_asset_materialization_events() if m.asset_key == GATEWAY_ASSET).materialization.metadata
    summary.ingest = {k: gateway[k].value for k in INGEST_COUNTS}
    archived = summary.ingest["files_archived"]
    progress(
        f"ingested {summary.ingest['files_ingested']} files ({summary.ingest['files_unchanged']} unchanged"
        + (f", {summary.ingest['files_failed']} could not be read" if summary.ingest["files_failed"] else "")
        + (f", {archived} no longer in landing: their rows stay" if archived else "")
        + f"): {summary.ingest['rows_loaded']} rows loaded, {summary.ingest['rows_rejected']} rejected, "
        f"{summary.ingest['rows_duplicate']} duplicate"
        + (f", {summary.ingest['rows_skipped']} skipped (not provider calls)" if summary.ingest["rows_skipped"] else "")
    )
    _report_records(result, summary, progress)
    wanted = pending_dates(home)
    today = dt.datetime.now(dt.timezone.utc).date()
    summary.dates, outside = partition_dates(wanted, today)
    if outside:
        bounds = f"{EARLIEST_DATE} .. {today + dt.timedelta(days=1)}"
        summary.warnings.append(f"{len(outside)} date(s) outside the daily partitions ({bounds}) not materialized: {outside[0]} .. {outside[-1]}")
        progress(f"warning: {summary.warnings[-1]}")
    for first, last in contiguous_ranges(summary.dates):
        progress(f"materializing {first}" + (f" .. {last}" if last != first else ""))
        result = _materialize(assets, daily_keys, instance, resources, tags=range_tags(first, last))
        summary.run_ids.append(result.run_id)
        _warn(result, summary, progress)
        clear_pending(home, {first + dt.timedelta(days=n) for n in range((last - first).days + 1)})
    progress("refreshing the whole-history marts (coverage, restatements, billing, outcomes, revenue)")
    result = _materialize(assets, summary_keys, instance, resources, tags={})
    summary.run_ids.append(result.run_id)
    _warn(result, summary, progress)


def _report_records(result: dg.ExecuteInProcessResult, summary: RunSummary, progress: Callable[[str], None]) -> None:
    """A line for each other landed source (bills, outcomes, revenue, ...) that had new files, and a warning when any
    of their rows were rejected: a bill's rejected row is money missing from the reconciliation."""
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if event.asset_key == GATEWAY_ASSET or "landing" not in metadata:
            continue
        counts = {k: metadata[k].value for k in INGEST_COUNTS if k in metadata}
        if not counts.get("files_ingested") and not counts.get("files_failed") and not counts.get("files_removed"):
            continue
        folder = metadata["landing"].value
        progress(
            f"{folder}: {counts['files_ingested']} file(s) ingested"
            + (f", {counts['files_failed']} could not be read" if counts.get("files_failed") else "")
            + (f", {counts['files_removed']} no longer in landing: their rows withdrawn" if counts.get("files_removed") else "")
            + f": {counts['rows_loaded']} rows loaded, {counts['rows_rejected']} rejected, {counts['rows_duplicate']} duplicate"
        )
        if counts["rows_rejected"]:
            summary.warnings.append(f"{folder}: {counts['rows_rejected']} row(s) rejected (audit.rejected_rows names file, row, field and reason)")
            progress(f"warning: {summary.warnings[-1]}")


def _warn(result: dg.ExecuteInProcessResult, summary: RunSummary, progress: Callable[[str], None]) -> None:
    """Every check a stage's run did not pass (warnings: a failed blocking check fails the run) into the summary, and
    the rows an asset reading landed files rejected (metadata `rejected_rows`, `rejected_from` the landing folder,
    `rejected_in` the audit table naming them: exchange rates, whose rejected row is money that cannot be
    converted), once a run."""
    found = [f"{e.asset_key.to_user_string()} {e.check_name}: {e.description}" for e in result.get_asset_check_evaluations() if not e.passed]
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if "rejected_from" in metadata and metadata["rejected_rows"].value:
            warning = (
                f"{metadata['rejected_from'].value}: {metadata['rejected_rows'].value} row(s) rejected "
                f"({metadata['rejected_in'].value} names file, row, field and reason)"
            )
            if warning not in summary.warnings:
                found.append(warning)
    for warning in found:
        summary.warnings.append(warning)
        progress(f"warning: {warning}")


def _materialize(assets, keys, instance, resources, tags) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        assets,
        selection=dg.AssetSelection.assets(*keys),
        instance=instance,
        resources=resources,
        tags={**tags, **LAUNCHER_TAG, **PUBLISHED_BY_LAUNCHER},  # this runner publishes at the end (run_pipeline)
        run_config=QUIET,
        raise_on_error=False,
    )
    if stop_requested():  # Ctrl-C or SIGTERM, whether the run failed of it or went on (`stop_signals_noted`)
        raise KeyboardInterrupt
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
        if not evaluation.passed and evaluation.severity != dg.AssetCheckSeverity.WARN:  # a warning, or a check not run
            failures = evaluation.metadata.get("failures")
            details = [
                f"{f['expectation']} {f['column']} ({f['unexpected_count']} unexpected, e.g. {', '.join(f['examples'][:3])})"
                for f in (failures.value if failures is not None else [])
            ]
            messages.append(f"check {evaluation.check_name} failed" + (": " + "; ".join(details) if details else ""))
    return messages or [event.message or "" for event in result.all_events if event.is_failure]
