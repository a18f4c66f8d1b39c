"""Audit tables: every landed file and every rejected row, from the lake's manifest; every gateway record that does
not count, by the identity rule."""

from pipelines.defs.sql_models import sql_model
from pipelines.warehouse.tables import LAKE_ASSETS

ingested_files = sql_model("audit.ingested_files", deps=LAKE_ASSETS)
rejected_rows = sql_model("audit.rejected_rows", deps=LAKE_ASSETS)
duplicate_requests = sql_model("audit.duplicate_requests", deps=["lake/gateway_requests"])
