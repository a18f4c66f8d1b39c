"""The jobs: ingestion, a range of dates (then the whole-history marts), and both, as `tokenledger run` does."""

import dagster as dg

from pipelines.defs.stages import INGEST_GROUPS

INGEST_TAG = {"tokenledger/ingest": "true"}

_ingest = dg.AssetSelection.groups(*INGEST_GROUPS)
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
