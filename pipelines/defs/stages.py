"""The three stages a run goes through, and the partition ranges between them.

1. Ingestion: the unpartitioned assets of groups lake, reference and audit (they read landing and the price book).
2. The daily models: every partitioned asset, over contiguous ranges of the dates ingestion touched.
3. Every other unpartitioned asset: the whole-history marts.

The command line runs and the jobs, schedule and sensors (`defs.automation`) share these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from pipelines.defs.partitions import RANGE_END, RANGE_START
from pipelines.storage.home import Home
from pipelines.storage.schemas import EARLIEST_DATE
from pipelines.storage.unfinished import cover, writing
from pipelines.warehouse.tables import TABLES

INGEST_GROUPS = ("lake", "reference", "audit")
"""Unpartitioned assets in these groups run first: they read landing and the price book."""
PUBLISHED_BY_LAUNCHER = {"tokenledger/published-by": "launcher"}
"""The tag of a run whose launcher publishes the warehouse when it is done: the publish sensors leave it alone."""
HISTORY_TABLES = tuple(entry.name for entry in TABLES if not entry.daily and entry.name.split(".")[0] not in (*INGEST_GROUPS, "finance"))
"""The whole-history marts (stage 3): a run that wrote a day is finished once it, or a later run, rebuilt them all."""


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


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    """The run tags that make a run materialize the partitions [first, last]."""
    return {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}


def partition_dates(dates: set[dt.date], today: dt.date) -> tuple[list[dt.date], list[dt.date]]:
    """(the dates the daily partitions hold, [first partition day, tomorrow] UTC, sorted; the others, sorted)."""
    first, last = dt.date.fromisoformat(EARLIEST_DATE), today + dt.timedelta(days=1)
    inside = sorted(d for d in dates if first <= d <= last)
    return inside, sorted(set(dates) - set(inside))


@contextmanager
def writing_marts(home: Home, run_id: str, name: str, daily: bool) -> Iterator[None]:
    """Around a step that builds table `name`: a day's table or a whole-history mart makes its run unfinished until
    a run rebuilt every whole-history mart after it (`storage.unfinished`); ingestion's tables do not."""
    history = name in HISTORY_TABLES
    if daily or history:
        writing(home, run_id, daily=daily)
    yield
    if history:
        writing(home, run_id, built=name)


def finish_run(home: Home, instance: dg.DagsterInstance, run_id: str) -> bool:
    """After run `run_id` succeeded: when it (with the runs it re-executed from failure) rebuilt every whole-history
    mart, they and every run that ended before it started are finished (their days are in its marts); one that wrote
    no day is finished. Returns whether it is."""
    record = instance.get_run_record_by_id(run_id)
    started = record.start_time if record is not None and record.start_time is not None else None
    chain = [run_id]
    run = record.dagster_run if record is not None else None
    while run is not None and run.parent_run_id and run.parent_run_id not in chain:  # re-executed from failure
        chain.append(run.parent_run_id)
        run = instance.get_run_by_id(run.parent_run_id)

    def ended_before(other: str) -> bool:
        ended = instance.get_run_record_by_id(other)
        if ended is None or started is None:
            return ended is None  # a deleted run (or a record never written by a run) wrote nothing later
        return ended.end_time is not None and ended.end_time <= started

    return cover(home, chain, HISTORY_TABLES, ended_before)
