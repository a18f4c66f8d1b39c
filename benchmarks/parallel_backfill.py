"""A backfill of N days as N Dagster runs (one per daily partition, multiprocess executor): all at once against
one after another, on the same ingested home.

    python benchmarks/parallel_backfill.py --days 8 --requests-per-day 100000 --out /tmp/backfill

Prints, for each way: wall time, the largest child's peak RSS, how many pricing steps (`core__request_costs`)
ran at the same time at most and for how long two or more did; then whether the two warehouses are equal row
for row (`staging.stg_gateway_requests`, `core.request_costs`, `marts.daily_spend`). Every daily step (duplicates,
staging, pricing, the daily spend) commits its own partitions of the lake's Delta tables and takes no pool slot, so
the runs overlap; publishing the warehouse, done once after the runs, is the only serialized step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from pipelines.settings import HOME_ENV, PSEUDONYM_KEY_ENV  # noqa: E402
from pipelines.storage.home import Home  # noqa: E402

JOB = "daily_partitions"
PRICING = "core__request_costs"
TABLES = ("staging.stg_gateway_requests", "core.request_costs", "marts.daily_spend")
KEY = "parallel-backfill-benchmark-key"


def daily_job() -> dg.JobDefinition:
    """The daily partitioned assets as one job on the multiprocess executor (home from $TOKENLEDGER_HOME)."""
    from pipelines.definitions import defs
    from pipelines.defs.stages import stage_keys

    definitions = defs()
    _, daily, _ = stage_keys(list(definitions.assets or []))
    job = dg.define_asset_job(JOB, selection=dg.AssetSelection.assets(*daily),
                              executor_def=dg.multiprocess_executor.configured({"max_concurrent": 2}))
    return dg.Definitions.merge(definitions, dg.Definitions(jobs=[job])).resolve_job_def(JOB)


def _child(dagster_home: str, partition: str) -> int:
    import parallel_backfill

    with dg.DagsterInstance.from_config(dagster_home) as instance:
        result = dg.execute_job(dg.reconstructable(parallel_backfill.daily_job), instance=instance,
                                tags={"dagster/partition": partition})
    print(result.run_id)
    return 0 if result.success else 1


def ingested_home(root: Path, start: dt.date, days: int, per_day: int) -> Home:
    """A home with `days` days of landed gateway logs, ingested (lake, reference and audit assets) in process."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome
    from pipelines.defs.stages import stage_keys
    from pipelines.demo.gateway import generate_gateway_logs
    from pipelines.runner import instance_for

    home = Home.at(root).ensure()
    generate_gateway_logs(home.landing, start=start, days=days, requests_per_day=per_day, seed=11, bad_lines=False)
    assets = list(defs().assets or [])
    ingest, _, _ = stage_keys(assets)
    with instance_for(home) as instance:
        result = dg.materialize(assets, selection=dg.AssetSelection.assets(*ingest), instance=instance,
                                resources={"tokenledger": TokenledgerHome(home=str(home.root))})
    if not result.success:
        raise SystemExit("ingestion failed")
    return home


def rebuild_history(home: Home) -> None:
    """The whole-history marts over what the partition runs wrote, in process (not timed), so the home can be published."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome
    from pipelines.defs.stages import finish_run, stage_keys
    from pipelines.runner import instance_for

    assets = list(defs().assets or [])
    _, _, history = stage_keys(assets)
    with instance_for(home) as instance:
        result = dg.materialize(assets, selection=dg.AssetSelection.assets(*history), instance=instance,
                                resources={"tokenledger": TokenledgerHome(home=str(home.root))})
        if not result.success or not finish_run(home, instance, result.run_id):
            raise SystemExit("the whole-history marts failed")


def launch(home: Home, partitions: list[str], *, together: bool) -> tuple[float, list[str]]:
    """Run one Dagster run per partition, all at once or one after another; (wall seconds, run ids)."""
    env = {**os.environ, PSEUDONYM_KEY_ENV: KEY, HOME_ENV: str(home.root),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(Path(__file__)), "--child", str(home.dagster_home)]
    started, run_ids = time.perf_counter(), []

    def finish(process: subprocess.Popen) -> None:
        out, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a partition run failed:\n{err[-3000:]}")
        run_ids.append(out.strip().splitlines()[-1])

    if together:
        for process in [subprocess.Popen([*command, p], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for p in partitions]:
            finish(process)
    else:
        for partition in partitions:
            finish(subprocess.Popen([*command, partition], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    return time.perf_counter() - started, run_ids


def step_intervals(home: Home, run_ids: list[str], step: str) -> list[tuple[float, float]]:
    """(start, end) of `step` in each run, from the runs' event logs."""
    intervals = []
    with dg.DagsterInstance.from_config(str(home.dagster_home)) as instance:
        for run_id in run_ids:
            begun = ended = None
            for record in instance.all_logs(run_id):
                event = record.dagster_event
                if event is None or event.step_key != step:
                    continue
                if event.event_type == dg.DagsterEventType.STEP_START:
                    begun = record.timestamp
                elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
                    ended = record.timestamp
            if begun is not None and ended is not None:
                intervals.append((begun, ended))
    return intervals


def overlap(intervals: list[tuple[float, float]]) -> tuple[int, float]:
    """(most intervals open at once, seconds during which two or more were open)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most, open_now, shared, last = 0, 0, 0.0, None
    for moment, change in events:
        if open_now >= 2 and last is not None:
            shared += moment - last
        open_now += change
        most = max(most, open_now)
        last = moment
    return most, shared


def tables(home: Home) -> dict[str, list[tuple]]:
    import duckdb

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return {table: con.execute(f"select * from {table} order by all").fetchall() for table in TABLES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("DAGSTER_HOME", "PARTITION"), help=argparse.SUPPRESS)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--requests-per-day", type=int, default=100_000)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 11, 2))
    parser.add_argument("--out", type=Path, required=False)
    args = parser.parse_args()
    if args.child:
        return _child(*args.child)
    if args.out is None:
        parser.error("--out is required")
    from pipelines.storage.database import publish

    os.environ[PSEUDONYM_KEY_ENV] = KEY
    shutil.rmtree(args.out, ignore_errors=True)
    began = time.perf_counter()
    seed = ingested_home(args.out / "seed", args.start, args.days, args.requests_per_day)
    print(f"ingested {args.days} days x {args.requests_per_day:,} requests in {time.perf_counter() - began:.1f}s", flush=True)
    partitions = [(args.start + dt.timedelta(days=n)).isoformat() for n in range(args.days)]
    results = {}
    for way, together in (("one after another", False), ("all at once", True)):
        home = Home.at(args.out / way.replace(" ", "-"))
        shutil.copytree(seed.root, home.root)
        wall, run_ids = launch(home, partitions, together=together)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        most, shared = overlap(step_intervals(home, run_ids, PRICING))
        rebuild_history(home)  # the partition runs wrote days only: a warehouse is published once its marts follow them
        publish(home)
        results[way] = (wall, home)
        print(f"{way:>18}: {len(partitions)} runs in {wall:6.1f}s; pricing steps at once: at most {most}, "
              f"two or more for {shared:.1f}s; largest child's peak RSS so far {peak:,.0f} MiB", flush=True)
    (first, a), (second, b) = results.values()
    equal = tables(a) == tables(b)
    print(f"warehouses equal row for row: {equal}; all at once / one after another: {second / first:.3f}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
