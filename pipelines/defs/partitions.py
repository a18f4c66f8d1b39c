"""The one partitions definition: daily, UTC, from the first day requests are accepted to tomorrow."""

import datetime as dt
from collections.abc import Mapping

import dagster as dg

from pipelines.storage.schemas import EARLIEST_DATE

daily = dg.DailyPartitionsDefinition(start_date=EARLIEST_DATE, timezone="UTC", end_offset=1)
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def range_dates(tags: Mapping[str, str]) -> set[dt.date] | None:
    """The dates of a run's partition range tags, or None when it has none."""
    if RANGE_START not in tags or RANGE_END not in tags:
        return None
    first, last = dt.date.fromisoformat(tags[RANGE_START]), dt.date.fromisoformat(tags[RANGE_END])
    return {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}
