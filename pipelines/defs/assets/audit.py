"""Audit tables: every landed file and every rejected row, from the lake's manifest."""

import dagster as dg

from pipelines.defs.assets._util import markdown_table
from pipelines.defs.resources import TokenledgerHome
from pipelines.ingest import AUDIT_REJECTED_SCHEMA, MANIFEST_DIR, MANIFEST_SCHEMA, REJECTED_DIR, lake_audit_files
from pipelines.warehouse import register_parquet, replace_table, sql_text

_SOURCES = {
    "audit.ingested_files": ("lake_ingested_files", MANIFEST_DIR, MANIFEST_SCHEMA),
    "audit.rejected_rows": ("lake_rejected_rows", REJECTED_DIR, AUDIT_REJECTED_SCHEMA),
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["audit", "ingested_files"],
            group_name="audit",
            kinds={"duckdb"},
            deps=[["lake", "gateway_requests"], ["lake", "billing_line_items"], ["lake", "outcomes"], ["lake", "revenue"], ["lake", "gpu_capacity"]],
            description="One row per landed file: its hash and rows read, loaded, rejected and duplicate.",
        ),
        dg.AssetSpec(
            ["audit", "rejected_rows"],
            group_name="audit",
            kinds={"duckdb"},
            deps=[["lake", "gateway_requests"], ["lake", "billing_line_items"], ["lake", "outcomes"], ["lake", "revenue"], ["lake", "gpu_capacity"]],
            description="One row per rejected input row: file, row, field, reason, record without content.",
        ),
    ],
    pool="duckdb",
)
def audit_tables(tokenledger: TokenledgerHome):
    """Replace the audit tables with the lake's manifest and rejected rows."""
    home = tokenledger.paths
    counts = {}
    with tokenledger.warehouse() as con:
        for table, (relation, folder, schema) in _SOURCES.items():
            files = lake_audit_files(home, folder)
            register_parquet(con, relation, files, schema)
            counts[table] = replace_table(con, table, sql_text(table))
        preview = con.execute(
            "select source_file, row_number, field, reason from audit.rejected_rows order by source_file, row_number limit 10"
        ).fetchall()
    yield dg.MaterializeResult(asset_key=["audit", "ingested_files"], metadata={"dagster/row_count": counts["audit.ingested_files"]})
    yield dg.MaterializeResult(
        asset_key=["audit", "rejected_rows"],
        metadata={
            "dagster/row_count": counts["audit.rejected_rows"],
            "preview": dg.MetadataValue.md(markdown_table(["source_file", "row", "field", "reason"], preview)),
        },
    )

