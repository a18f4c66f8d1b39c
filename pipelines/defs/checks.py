"""Asset checks: the rule's SQL in sql/checks/, the result with a description and examples as metadata.

A `SqlCheck` is a select returning the rows that break its rule (`sql/checks/<schema>__<table>__<check>.sql`):
it passes when there are none. Its description says how many broke it and names the first; every check
keeps its name as a constant beside its asset, declared in `check_specs` and returned inside the asset's
MaterializeResult.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import dagster as dg
import duckdb

from pipelines.storage.database import bound, sql_text
from pipelines.storage.home import Home
from pipelines.storage.lake import conservation_violations, failed_files
from pipelines.warehouse.contracts import ContractResult

PREVIEW_ROWS = 10
CONSERVATION = "rows_conserved"
READABLE = "every_file_read"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A small markdown table for materialization metadata (decimals shown to 6 places)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, Decimal):
        value = round(value, 6)
    return str(value).replace("|", "\\|")


@dataclass(frozen=True)
class SqlCheck:
    """A check whose rule is a select of the rows that break it; the rule in words is the file's header.

    `describe(rows, con, params)` says what broke, in one line; `passed` is the description when nothing did
    (or a function of con and params giving it). `source` names the file when another table's check shares it.
    """

    name: str
    table: str
    describe: Callable[[list[tuple], duckdb.DuckDBPyConnection, dict], str]
    passed: str | Callable[[duckdb.DuckDBPyConnection, dict], str]
    blocking: bool = False
    warn: bool = False
    source: str | None = None

    @property
    def file(self) -> str:
        """The check's SQL file, as `sql_text` names it."""
        return f"checks/{self.source or self.table.replace('.', '__') + '__' + self.name}"

    def spec(self) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(self.name, asset=self.table.split("."), blocking=self.blocking)

    def evaluate(self, con: duckdb.DuckDBPyConnection, params: dict | None = None) -> dg.AssetCheckResult:
        sql, params = sql_text(self.file), params or {}
        cursor = con.execute(sql, bound(sql, params))
        header = [column[0] for column in cursor.description]
        broken = cursor.fetchall()
        passed = self.passed if isinstance(self.passed, str) else self.passed(con, params)
        return dg.AssetCheckResult(
            check_name=self.name,
            asset_key=self.table.split("."),
            passed=not broken,
            severity=dg.AssetCheckSeverity.WARN if self.warn else dg.AssetCheckSeverity.ERROR,
            description=self.describe(broken, con, params) if broken else passed,
            metadata={
                "rule": sql_header(sql),
                "violations": len(broken),
                "examples": dg.MetadataValue.md(markdown_table(header, broken[:PREVIEW_ROWS])),
            },
        )


    def not_run(self, reason: str) -> dg.AssetCheckResult:
        """The result of a check that could not run (Dagster wants one for every declared check): a warning."""
        return dg.AssetCheckResult(check_name=self.name, asset_key=self.table.split("."), passed=False,
                                   severity=dg.AssetCheckSeverity.WARN, description=f"not run: {reason}")


def sql_header(sql: str) -> str:
    """The comment at the top of a SQL file, as one paragraph."""
    lines = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line[2:].strip())
    return " ".join(lines)


def unconverted(table: str, name: str, what: str, source: str | None = None) -> SqlCheck:
    """A warning naming the rows whose amount has no USD rate (the rows say which: first columns, then the reason)."""

    def describe(rows: list[tuple], con: duckdb.DuckDBPyConnection, params: dict) -> str:
        examples = ", ".join(" ".join(str(v) for v in row[:-1]) for row in rows[:3])
        return f"{len(rows)} {what}(s) without a USD rate in reference.fx_rates (e.g. {examples}); add rates under landing/fx"

    return SqlCheck(name, table, describe, passed=f"every {what} is in USD or has a rate", warn=True, source=source)


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


def conservation_check(home: Home, folder: str) -> dg.AssetCheckResult:
    """rows_read = rows_loaded + rows_rejected + rows_duplicate + rows_skipped for every file landed under landing/<folder>/."""
    checked, broken = conservation_violations(home, folder)
    return dg.AssetCheckResult(
        check_name=CONSERVATION,
        passed=not broken,
        metadata={"files_checked": checked, "violations": dg.MetadataValue.json(broken[:20])},
    )


def readable_check(home: Home, folder: str) -> dg.AssetCheckResult:
    """A warning naming every file under landing/<folder>/ that could not be read, and why; the others loaded."""
    failed = failed_files(home, folder)
    named = "; ".join(f"{row['path']} ({row['error']})" for row in failed[:5]) + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
    return dg.AssetCheckResult(
        check_name=READABLE,
        passed=not failed,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(failed)} landed file(s) could not be read: {named}" if failed else "every landed file was read",
        metadata={"failed_files": dg.MetadataValue.json([{"path": r["path"], "error": r["error"]} for r in failed[:50]])},
    )
