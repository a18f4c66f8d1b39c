"""`sql_model`: one SQL file, one asset. The asset key is the table's name, the group its schema, the
description the header of its SQL file.

    cost_per_outcome = sql_model("marts.cost_per_outcome", deps=["core.outcomes", "core.request_costs"])

The asset opens the warehouse, sets up the table's inputs (`pipelines.warehouse.tables`), replaces the table
(a daily table: the run's partition window) from `sql/<schema>/<table>.sql`, evaluates its checks and reports
the row count and the first rows. `deps` is written by hand, as the tables the SQL reads; a test compares them.
"""

import datetime as dt
import time
from collections.abc import Callable, Sequence

import dagster as dg
import duckdb
import pyarrow as pa

from pipelines.defs.checks import PREVIEW_ROWS, SqlCheck, contract_check, markdown_table, sql_header
from pipelines.defs.console import Progress
from pipelines.defs.partitions import daily
from pipelines.defs.resources import TokenledgerHome
from pipelines.defs.stages import writing_marts
from pipelines.storage.database import sql_text
from pipelines.storage.home import Home
from pipelines.storage.lake_tables import is_lake_table
from pipelines.warehouse.contracts import Contract, validate
from pipelines.warehouse.tables import Window, build, table

WAREHOUSE = {"pool": "duckdb", "kinds": {"duckdb"}}
"""Every asset that writes the warehouse waits for the one `duckdb` slot (dagster.yaml limits the pool to 1)."""
LAKE = {"kinds": {"duckdb", "delta"}}
"""An asset that writes a lake table (`storage.lake_tables`) commits its own partitions: it takes no pool slot."""


PREVIEW_COLUMNS = 8


class UpstreamMissing(RuntimeError):
    """A lake table's step run before the tables it reads exist (Dagster lets a user select it alone)."""


def header(name: str) -> str:
    """The comment at the top of a table's SQL file: what one row is, the money type, the traps."""
    return sql_header(sql_text(name))


def preview(con: duckdb.DuckDBPyConnection, name: str, window: dict) -> dg.MetadataValue:
    """The first rows of a table (of the window's, for a daily table) and its first columns, as markdown."""
    where = " where event_date >= $window_start and event_date < $window_end" if window else ""
    cursor = con.execute(f"select * from {name}{where} limit {PREVIEW_ROWS}", window)
    columns = [column[0] for column in cursor.description][:PREVIEW_COLUMNS]
    return dg.MetadataValue.md(markdown_table(columns, [row[:PREVIEW_COLUMNS] for row in cursor.fetchall()]))


def asset_key(name: str) -> dg.AssetKey:
    """`core.request_costs` or `lake/gateway_requests` -> the asset key."""
    return dg.AssetKey(name.replace(".", "/").split("/"))


def sql_metadata(files: Sequence[str], checks: Sequence[SqlCheck] = ()) -> dict:
    """The asset's definition metadata naming every SQL file it runs (shown in the Dagster UI; a test compares
    the tables they read with the asset's deps)."""
    return {"tokenledger/sql": dg.MetadataValue.json([*files, *(check.file for check in checks)])}


def window_of(context: dg.AssetExecutionContext) -> Window:
    """[start, end) of the run's partition window, as UTC dates."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def sql_model(
    name: str,
    deps: Sequence[str],
    checks: Sequence[SqlCheck] = (),
    contract: Contract | None = None,
    params: Callable[[Home], dict] | None = None,
    rows: Callable[[duckdb.DuckDBPyConnection, Home], dict[str, pa.Table]] | None = None,
    metadata: Callable[[duckdb.DuckDBPyConnection, dict, dict], dict] | None = None,
) -> dg.AssetsDefinition:
    """The asset that builds warehouse table `name` from its SQL file.

    `params(home)`: the SQL's parameters beyond the window; `rows(con, home)`: inputs computed in Python;
    `metadata(con, window_params, inputs)`: more materialization metadata; `contract`: a blocking data contract.
    """
    entry = table(name)
    key = asset_key(name)
    specs = [check.spec() for check in checks]
    if contract is not None:
        specs.append(dg.AssetCheckSpec(contract.name, asset=key, blocking=True))
    partitioned = {"partitions_def": daily, "backfill_policy": dg.BackfillPolicy.single_run()} if entry.daily else {}
    lake = is_lake_table(name)

    @dg.asset(key=key, group_name=key.path[0], deps=[asset_key(d) for d in deps], description=header(name),
              check_specs=specs, metadata=sql_metadata(entry.sql_files, checks), **partitioned, **(LAKE if lake else WAREHOUSE))
    def model(context: dg.AssetExecutionContext, tokenledger: TokenledgerHome) -> dg.MaterializeResult:
        home, began, say = tokenledger.paths, time.monotonic(), Progress(context)
        window = window_of(context) if entry.daily else None
        scope = {"window_start": window[0], "window_end": window[1]} if window else {}
        audited: list = []

        def audit(relation: str) -> bool:
            # write-audit-publish: a lake table's new rows meet the contract before their commit
            audited.append(validate(con, contract, scope, relation))
            return audited[0].success

        with writing_marts(home, context.run_id, name, entry.daily), tokenledger.lake() if lake else tokenledger.warehouse() as con:
            extra = rows(con, home) if rows else None
            try:
                count, inputs = build(con, home, name, window, params(home) if params else None, rows=extra,
                                      audit=audit if lake and contract is not None else None)
            except duckdb.CatalogException as exc:
                if not lake:
                    raise
                # a lake table's step selected alone on a home that never built what it reads
                raise UpstreamMissing(
                    f"{name} reads a table this home has not built yet ({str(exc).splitlines()[0]}): materialize its "
                    "upstream assets first (lake/gateway_requests, then the day's staging), or run `tokenledger run`, "
                    "which builds them in order"
                ) from None
            refused = bool(audited) and not audited[0].success
            if refused:
                # write-audit-publish: the window's new rows broke the contract; the lake keeps its previous rows
                meta: dict = {"committed": False, "rows_refused": count}
                results = [check.not_run(f"the window's rows failed {contract.name} and were not committed") for check in checks]
            else:
                meta = {"dagster/row_count": count, "preview": preview(con, name, scope)}
                if metadata is not None:
                    meta |= metadata(con, scope, inputs)
                results = [check.evaluate(con, scope | (params(home) if params else {})) for check in checks]
            if contract is not None:
                results.append(contract_check(contract.name, audited[0] if audited else validate(con, contract, scope)))
        last = window[1] - dt.timedelta(days=1) if window else None
        days = "" if window is None else f" {window[0]}" + (f" .. {last}" if last != window[0] else "")
        outcome = f"{count:,} rows failed {contract.name}, not committed (the lake keeps the previous rows)" if refused else f"{count:,} rows"
        say(f"built {name}{days}: {outcome} in {time.monotonic() - began:.1f}s")
        if window is not None and last != window[0]:
            # one result for a range run: Dagster shows it on every partition, so it says it is the window's, not a day's
            meta = {"window": f"{window[0]} .. {last}", **{("window_row_count" if k == "dagster/row_count" else k): v for k, v in meta.items()}}
        return dg.MaterializeResult(metadata=meta, check_results=results)

    return model
