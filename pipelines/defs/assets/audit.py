"""Audit tables: every landed file and every rejected row, from the lake's manifest."""

from pipelines.defs.sql_models import Preview, sql_model
from pipelines.warehouse.tables import LAKE_ASSETS

ingested_files = sql_model(
    "audit.ingested_files",
    "One row per landed file: its hash and rows read, loaded, rejected and duplicate.",
    deps=LAKE_ASSETS,
    preview=Preview(("path", "status", "rows_read", "rows_loaded", "rows_rejected", "rows_duplicate"), "ingested_at desc, path"),
)

rejected_rows = sql_model(
    "audit.rejected_rows",
    "One row per rejected input row: file, row, field, reason, record without content.",
    deps=LAKE_ASSETS,
    preview=Preview(("source_file", "row_number", "field", "reason"), "source_file, row_number"),
)
