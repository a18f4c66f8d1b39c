"""When the marts are expected to be fresh; `pipelines.definitions` applies it to every asset in group `marts`."""

import datetime as dt

import dagster as dg

MARTS_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron="0 4 * * *", lower_bound_delta=dt.timedelta(hours=2), timezone="UTC")
"""Fresh when materialized between 02:00 and the 04:00 UTC deadline of each day (the daily run starts at 02:00)."""
