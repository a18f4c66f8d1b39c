"""The one partitions definition: daily, UTC."""

import dagster as dg

FIRST_DAY = "2023-01-01"

daily = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)
