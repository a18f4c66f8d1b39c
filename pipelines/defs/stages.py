"""The three stages a run goes through, and the partition ranges between them.

1. Ingestion: the unpartitioned assets of groups lake, reference and audit (they read landing and the price book).
2. The daily models: every partitioned asset, over contiguous ranges of the dates ingestion touched.
3. Every other unpartitioned asset: the whole-history marts.

The command line runs and the jobs, schedule and sensors (`defs.automation`) share these.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from pipelines.storage.schemas import EARLIEST_DATE

INGEST_GROUPS = ("lake", "reference", "audit")
"""Unpartitioned assets in these groups run first: they read landing and the price book."""
PUBLISHED_BY_LAUNCHER = {"tokenledger/published-by": "launcher"}
"""The tag of a run whose launcher publishes the warehouse when it is done: the publish sensors leave it alone."""
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


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
