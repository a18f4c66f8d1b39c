"""The jobs: ingestion, a range of dates (then the whole-history marts), and both, as `tokenledger run` does."""

import dagster as dg

from pipelines.defs.sql_models import asset_key
from pipelines.defs.stages import INGEST_GROUPS
from pipelines.warehouse.tables import TABLES

INGEST_TAG = {"tokenledger/ingest": "true"}

_daily = dg.AssetSelection.assets(*(asset_key(entry.name) for entry in TABLES if entry.daily))
_ingest = dg.AssetSelection.groups(*INGEST_GROUPS) - _daily
"""Ingestion: the unpartitioned assets of the ingest groups (a daily audit table, such as
audit.duplicate_requests, is built with the dates it covers)."""
ingest_job = dg.define_asset_job(
    "tokenledger_ingest", selection=_ingest, tags=INGEST_TAG, description="Ingest new and changed landing files and reload the price book."
)
models_job = dg.define_asset_job(
    "tokenledger_models",
    selection=dg.AssetSelection.all() - _ingest,
    description="Materialize a range of dates (staging, core, daily marts), then the whole-history marts.",
)
daily_job = dg.define_asset_job(
    "tokenledger_daily",
    selection=dg.AssetSelection.all(),
    tags=INGEST_TAG,
    description="Ingest landing, materialize a range of dates, then the whole-history marts: what `tokenledger run` does.",
)
