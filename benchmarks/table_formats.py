"""Delta Lake against Apache Iceberg for the request-level tables: write, read and concurrent commits, measured.

Takes `core.request_costs` of a built home's warehouse (10M requests in one day from `bench_run.py`: ~42 columns,
ten DECIMAL(38,15)) and writes it, partitioned by event_date, as

  parquet   DuckDB's own partitioned Parquet writer (the floor: what writing these rows as files costs)
  duckdb    a DuckDB table in a fresh database file (what the working warehouse does today)
  delta     a Delta Lake table (`deltalake`, streaming DuckDB's Arrow batches)
  iceberg   an Apache Iceberg table (`pyiceberg` with a SQLite SQL catalog, one transaction of Arrow appends)

then reads each back with DuckDB and with Polars (spend per feature, all rows), and has two processes commit a
different day each to the same table at once. Every step runs in a child process; it prints wall seconds, the
child's peak RSS and the bytes on disk.

    pip install deltalake 'pyiceberg[sql-sqlite,pyarrow]'
    python benchmarks/table_formats.py --warehouse <home>/warehouse.duckdb --out /tmp/formats
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

BATCH_ROWS = 1_000_000
# DuckDB streams a relation's Arrow batches (`con.sql(q).to_arrow_reader`); a DB-API result's reader
# (`con.execute(q).to_arrow_reader`) first materializes every row (8 GB for these 10M).
SPEND = "select feature, count(*) as requests, sum(cost_usd) as cost_usd from requests group by feature order by feature"


def _source(warehouse: str, where: str = ""):
    import duckdb

    con = duckdb.connect(warehouse, read_only=True)
    con.execute("set TimeZone = 'UTC'")
    return con, con.sql(f"select * from core.request_costs {where}").to_arrow_reader(BATCH_ROWS)


def _shifted(warehouse: str, days: int, rows: int):
    """`rows` requests moved `days` later: another day's partition for the concurrent-commit test."""
    import duckdb

    con = duckdb.connect(warehouse, read_only=True)
    con.execute("set TimeZone = 'UTC'")
    query = (f"select * replace (event_date + {days} as event_date, occurred_at + interval {days} day as occurred_at) "
             f"from core.request_costs limit {rows}")
    return con, con.sql(query).to_arrow_reader(BATCH_ROWS)


def _iceberg_catalog(out: Path, name: str = "iceberg"):
    from pyiceberg.catalog.sql import SqlCatalog

    (out / name).mkdir(exist_ok=True)
    return SqlCatalog("bench", uri=f"sqlite:///{out / name / 'catalog.db'}", warehouse=(out / name).as_uri())


def _days(con) -> list:
    return [day for (day,) in con.execute("select distinct event_date from w.core.request_costs order by 1").fetchall()]


def _copy_day(con, day, folder: Path, exclude: str = "") -> list[Path]:
    """DuckDB writes one day's rows as zstd Parquet files of at most 128 MB each, in a new folder."""
    columns = f"* exclude ({exclude})" if exclude else "*"
    folder.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"copy (select {columns} from w.core.request_costs where event_date = '{day}') to '{folder}' "
        "(format parquet, compression zstd, file_size_bytes '128MB', filename_pattern 'part-{uuid}')"
    )
    return sorted(folder.glob("*.parquet"))


def _attached(args):
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{args.warehouse}' as w (read_only)")
    return con


# ---------------------------------------------------------------- child steps


def write_parquet(args) -> dict:
    import duckdb

    target = args.out / "parquet"
    con = duckdb.connect()
    con.execute(f"attach '{args.warehouse}' as w (read_only)")
    con.execute(f"copy (select * from w.core.request_costs) to '{target}' (format parquet, partition_by (event_date))")
    return {"rows": con.execute(f"select count(*) from read_parquet('{target}/**/*.parquet')").fetchone()[0]}


def write_duckdb(args) -> dict:
    import duckdb

    target = args.out / "duckdb" / "warehouse.duckdb"
    target.parent.mkdir(parents=True)
    con = duckdb.connect(str(target))
    con.execute(f"attach '{args.warehouse}' as w (read_only)")
    con.execute("create table request_costs as select * from w.core.request_costs")
    con.execute("checkpoint")
    return {"rows": con.execute("select count(*) from request_costs").fetchone()[0]}


def write_delta(args) -> dict:
    from deltalake import DeltaTable, write_deltalake

    con, batches = _source(args.warehouse)
    write_deltalake(str(args.out / "delta"), batches, partition_by=["event_date"], mode="overwrite", target_file_size=args.target_file_size)
    table = DeltaTable(str(args.out / "delta"))
    return {"rows": table.to_pyarrow_dataset().count_rows(), "version": table.version()}


def write_iceberg(args) -> dict:
    import pyarrow as pa

    catalog = _iceberg_catalog(args.out)
    catalog.create_namespace_if_not_exists("core")
    con, batches = _source(args.warehouse)
    table = catalog.create_table("core.request_costs", schema=batches.schema)
    with table.update_spec() as spec:
        spec.add_identity("event_date")
    with table.transaction() as transaction:
        for batch in batches:
            transaction.append(pa.Table.from_batches([batch]))
    table = catalog.load_table("core.request_costs")
    return {"rows": int(table.current_snapshot().summary["total-records"]), "snapshots": len(table.snapshots())}


def write_delta_files(args) -> dict:
    """DuckDB writes each day's Parquet files; one Delta commit adds them (the table format only writes metadata)."""
    import pyarrow.parquet as pq
    from deltalake import DeltaTable, Schema
    from deltalake.transaction import AddAction, create_table_with_add_actions

    root = args.out / "delta-files"
    con = _attached(args)
    actions = []
    for day in _days(con):
        for path in _copy_day(con, day, root / f"event_date={day}", exclude="event_date"):
            stat = path.stat()
            stats = json.dumps({"numRecords": pq.read_metadata(path).num_rows})
            actions.append(AddAction(f"event_date={day}/{path.name}", stat.st_size, {"event_date": str(day)}, stat.st_mtime_ns // 10**6, True, stats))
    schema = Schema.from_arrow(con.sql("select * from w.core.request_costs limit 0").to_arrow_table().schema)
    create_table_with_add_actions(str(root), schema, actions, mode="overwrite", partition_by=["event_date"])
    table = DeltaTable(str(root))
    return {"rows": table.to_pyarrow_dataset().count_rows(), "files": len(actions), "version": table.version()}


def write_iceberg_files(args) -> dict:
    """DuckDB writes each day's Parquet files; one Iceberg commit adds them (`add_files`)."""
    catalog = _iceberg_catalog(args.out, "iceberg-files")
    catalog.create_namespace_if_not_exists("core")
    con = _attached(args)
    table = catalog.create_table("core.request_costs", schema=con.sql("select * from w.core.request_costs limit 0").to_arrow_table().schema)
    with table.update_spec() as spec:
        spec.add_identity("event_date")
    files = [path for day in _days(con) for path in _copy_day(con, day, args.out / "iceberg-files" / "data" / f"event_date={day}")]
    table.add_files([str(path) for path in files])
    table = catalog.load_table("core.request_costs")
    return {"rows": int(table.current_snapshot().summary["total-records"]), "files": len(files), "snapshots": len(table.snapshots())}


def _requests(args):
    """The format's rows as something DuckDB scans (an Arrow dataset or batch reader)."""
    if args.format == "parquet":
        import pyarrow.dataset as pads

        return pads.dataset(str(args.out / "parquet"), format="parquet", partitioning="hive")
    if args.format.startswith("delta"):
        from deltalake import DeltaTable

        return DeltaTable(str(args.out / args.format)).to_pyarrow_dataset()
    return _iceberg_catalog(args.out, args.format).load_table("core.request_costs").scan().to_arrow_batch_reader()


def read_duckdb(args) -> dict:
    import duckdb

    con = duckdb.connect()
    if args.format == "duckdb":
        con.execute(f"attach '{args.out / 'duckdb' / 'warehouse.duckdb'}' as w (read_only)")
        con.execute("create view requests as select * from w.request_costs")
    else:
        con.register("requests", _requests(args))
    rows = con.execute(SPEND).fetchall()
    return {"features": len(rows), "cost_usd": str(sum(r[2] for r in rows))}


def read_polars(args) -> dict:
    import polars as pl

    if args.format == "parquet":
        frame = pl.scan_parquet(str(args.out / "parquet" / "**" / "*.parquet"), hive_partitioning=True)
    elif args.format.startswith("delta"):
        frame = pl.scan_delta(str(args.out / args.format))
    else:
        frame = pl.scan_iceberg(_iceberg_catalog(args.out, args.format).load_table("core.request_costs"))
    spend = frame.group_by("feature").agg(pl.len().alias("requests"), pl.col("cost_usd").sum()).collect()
    return {"features": spend.height, "cost_usd": str(spend["cost_usd"].sum())}


def commit_day(args) -> dict:
    """Append `--rows` requests moved `--days` later, as one partition's step would."""
    import pyarrow as pa

    con, batches = _shifted(args.warehouse, args.days, args.rows)
    table = pa.Table.from_batches(list(batches))
    started = time.perf_counter()
    if args.format.startswith("delta"):
        from deltalake import write_deltalake

        write_deltalake(str(args.out / args.format), table, partition_by=["event_date"], mode="append")
    else:
        _iceberg_catalog(args.out, args.format).load_table("core.request_costs").append(table)
    return {"commit_s": round(time.perf_counter() - started, 2)}


STEPS = {f.__name__.replace("_", "-"): f for f in (write_parquet, write_duckdb, write_delta, write_iceberg, write_delta_files,
                                                    write_iceberg_files, read_duckdb, read_polars, commit_day)}


# ---------------------------------------------------------------- the parent


def _child(step: str, args, *extra: str) -> subprocess.Popen:
    command = [sys.executable, __file__, "--warehouse", args.warehouse, "--out", str(args.out), "--step", step, *extra]
    if args.target_file_size:
        command += ["--target-file-size", str(args.target_file_size)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, started: float) -> dict:
    out, err = process.communicate()
    if process.returncode != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {process.returncode}", "seconds": round(time.perf_counter() - started, 1)}
    found = json.loads(out.strip().splitlines()[-1])
    found["seconds"] = round(time.perf_counter() - started, 1)
    return found


def _measure(step: str, args, *extra: str) -> dict:
    started = time.perf_counter()
    return _finish(_child(step, args, *extra), started)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True, help="a built home's warehouse.duckdb (one 10M-request day)")
    parser.add_argument("--out", type=Path, required=True, help="a scratch folder (emptied first)")
    parser.add_argument("--formats", default="parquet,duckdb,delta,iceberg,delta-files,iceberg-files")
    parser.add_argument("--concurrent-rows", type=int, default=1_000_000)
    parser.add_argument("--target-file-size", type=int, default=None, help="Delta: bytes per data file (deltalake's default when absent)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    parser.add_argument("--days", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.step:  # a child: one step, its result and peak RSS as JSON on the last line
        result = STEPS[args.step](args)
        result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return 0

    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    for name in args.formats.split(","):
        written = _measure(f"write-{name}", args)
        written["bytes"] = _size(args.out / name)
        print(f"{name:8} write   {json.dumps(written)}", flush=True)
        for reader in ("duckdb", "polars"):
            if name == "duckdb" and reader == "polars":
                continue
            print(f"{name:8} read {reader:7} {json.dumps(_measure(f'read-{reader}', args, '--format', name))}", flush=True)
        if name not in ("parquet", "duckdb"):
            started = time.perf_counter()
            both = [_child("commit-day", args, "--format", name, "--days", str(days), "--rows", str(args.concurrent_rows))
                    for days in (1, 2)]
            results = [_finish(process, started) for process in both]
            print(f"{name:8} two concurrent commits of {args.concurrent_rows:,} rows (other days): {json.dumps(results)}", flush=True)
            print(f"{name:8} read duckdb  {json.dumps(_measure('read-duckdb', args, '--format', name))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
