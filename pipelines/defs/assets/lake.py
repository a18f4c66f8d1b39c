"""The lake: landed files to canonical Parquet, one asset per landed source. Lake assets write Parquet only and
run in parallel; each checks that every file it ever landed conserved its rows."""

import dagster as dg

from pipelines.defs.checks import CONSERVATION, READABLE, conservation_check, readable_check
from pipelines.defs.console import Progress
from pipelines.defs.resources import TokenledgerHome
from pipelines.ingest.gateway import ingest_gateway
from pipelines.ingest.landed import IngestReport
from pipelines.ingest.records import ingest_source
from pipelines.records.billing import BILLING
from pipelines.records.business import CARBON, EXPERIMENTS, GPU, OUTCOMES, OVERHEAD, REVENUE
from pipelines.records.read import RecordSource
from pipelines.storage.lake import GATEWAY


def _result(report: IngestReport, tokenledger: TokenledgerHome, folder: str) -> dg.MaterializeResult:
    metadata = {
        "files_ingested": sum(entry["status"] not in ("failed", "removed") for entry in report.ingested),
        "files_removed": sum(entry["status"] == "removed" for entry in report.ingested),
        "files_failed": sum(entry["status"] == "failed" for entry in report.ingested) + report.still_failed,
        "files_unchanged": report.skipped,
        "files_archived": len(report.archived),
        **report.rows,
        "touched_dates": dg.MetadataValue.json(sorted(d.isoformat() for d in report.touched_dates)),
        "landing": f"landing/{folder}",
    }
    home = tokenledger.paths
    return dg.MaterializeResult(metadata=metadata, check_results=[conservation_check(home, folder), readable_check(home, folder)])


def _spec(table: str) -> dict:
    key = ["lake", table]
    checks = [dg.AssetCheckSpec(CONSERVATION, asset=key, blocking=True), dg.AssetCheckSpec(READABLE, asset=key)]
    return {"key": key, "group_name": "lake", "kinds": {"parquet"}, "check_specs": checks}


@dg.asset(**_spec("gateway_requests"))
def gateway_requests(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
    """One row per gateway request, in Parquet per landed file and event date (new and changed files only)."""
    return _result(ingest_gateway(tokenledger.paths, progress=Progress(context)), tokenledger, GATEWAY)


def _record_source(source: RecordSource, description: str) -> dg.AssetsDefinition:
    @dg.asset(description=description, **_spec(source.table))
    def landed(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
        return _result(ingest_source(tokenledger.paths, source, progress=Progress(context)), tokenledger, source.landing)

    return landed


billing_line_items = _record_source(
    BILLING, "One row per line item of a landed billing export, in Parquet per landed file (new and changed files only)."
)
outcomes = _record_source(OUTCOMES, "One row per outcome event from landing/outcomes, in Parquet per landed file (new and changed files only).")
revenue = _record_source(REVENUE, "One row per revenue record from landing/revenue, in Parquet per landed file (new and changed files only).")
gpu_capacity = _record_source(GPU, "One row per cluster x day x GPU type from landing/gpu, in Parquet per landed file; marks its days for re-pricing.")
experiment_assignments = _record_source(
    EXPERIMENTS, "One row per experiment assignment from landing/experiments (user ids pseudonymized), in Parquet per landed file."
)
overhead = _record_source(
    OVERHEAD, "One row per overhead record (egress, storage, observability, ...) from landing/overhead, in Parquet per landed file."
)
carbon_intensity = _record_source(CARBON, "One row per grid region x day of carbon intensity from landing/carbon, in Parquet per landed file.")
