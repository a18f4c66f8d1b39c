"""The one partitions definition: daily, UTC."""

import dagster as dg

from pipelines.adapters import EARLIEST_DATE

daily = dg.DailyPartitionsDefinition(start_date=EARLIEST_DATE, timezone="UTC", end_offset=1)
