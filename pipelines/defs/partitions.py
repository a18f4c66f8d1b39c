"""The one partitions definition: daily, UTC, from the first day requests are accepted to tomorrow."""

import dagster as dg

from pipelines.storage.schemas import EARLIEST_DATE

daily = dg.DailyPartitionsDefinition(start_date=EARLIEST_DATE, timezone="UTC", end_offset=1)
