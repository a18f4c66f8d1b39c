"""Ingestion: landed gateway files to canonical Parquet in the lake."""

import dagster as dg

from pipelines.contracts import prefetch_gx
from pipelines.defs.resources import TokenledgerHome
from pipelines.ingest import ingest_gateway, read_manifest

CONSERVATION = "rows_conserved"


@dg.asset(
    key=["lake", "gateway_requests"],
    group_name="lake",
    kinds={"parquet"},
    check_specs=[dg.AssetCheckSpec(CONSERVATION, asset=["lake", "gateway_requests"], blocking=True)],
)
def gateway_requests(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per gateway request, in Parquet per landed file and event date (new and changed files only)."""
    prefetch_gx()  # the contracts of the daily models need it next; importing it takes seconds
    home = tokenledger.paths
    report = ingest_gateway(home, progress=context.log.info)
    manifest = read_manifest(home)
    broken = [
        f"{row['path']}: read {row['rows_read']} != loaded {row['rows_loaded']} + rejected {row['rows_rejected']}"
        f" + duplicate {row['rows_duplicate']}"
        for row in manifest.values()
        if row["rows_read"] != row["rows_loaded"] + row["rows_rejected"] + row["rows_duplicate"]
    ]
    totals = report.rows
    return dg.MaterializeResult(
        metadata={
            "files_ingested": len(report.ingested),
            "files_unchanged": report.skipped,
            **totals,
            "touched_dates": dg.MetadataValue.json(sorted(d.isoformat() for d in report.touched_dates)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CONSERVATION,
                passed=not broken,
                metadata={"files_checked": len(manifest), "violations": dg.MetadataValue.json(broken[:20])},
            )
        ],
    )
