"""Small helpers for assets: the partition window as dates, and metadata tables."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from pipelines.contracts import ContractResult
from pipelines.home import Home
from pipelines.ingest import read_manifest


def window_dates(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """[start, end) of the run's partition window, as UTC dates."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days)]


def markdown_table(header: list[str], rows: list[tuple]) -> str:
    """A small markdown table for materialization metadata."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def contract_check(check_name: str, result: ContractResult) -> dg.AssetCheckResult:
    """A blocking check result from a data-contract run: each failed expectation with column and examples."""
    rows = [(f["expectation"], f["column"], f["unexpected_count"], ", ".join(f["examples"])) for f in result.failures]
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=result.success,
        metadata={
            "rows_validated": result.rows,
            "failed_expectations": dg.MetadataValue.md(markdown_table(["expectation", "column", "unexpected", "examples"], rows)),
            "failures": dg.MetadataValue.json(result.failures),
        },
    )


def conservation_check(home: Home, prefix: str, check_name: str = "rows_conserved") -> dg.AssetCheckResult:
    """rows_read = rows_loaded + rows_rejected + rows_duplicate for every landed file under landing/<prefix>."""
    manifest = [row for path, row in read_manifest(home).items() if path.startswith(prefix)]
    broken = [
        f"{row['path']}: read {row['rows_read']} != loaded {row['rows_loaded']} + rejected {row['rows_rejected']}"
        f" + duplicate {row['rows_duplicate']}"
        for row in manifest
        if row["rows_read"] != row["rows_loaded"] + row["rows_rejected"] + row["rows_duplicate"]
    ]
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=not broken,
        metadata={"files_checked": len(manifest), "violations": dg.MetadataValue.json(broken[:20])},
    )
