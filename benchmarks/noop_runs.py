"""Run `tokenledger run` many times on a home with nothing new, with every core kept busy, and count failures.

A no-op run still starts Dagster, ingests nothing, checks every lake asset and refreshes the whole-history
marts, so it exercises the start-up imports and the run storage each time. Busy cores make thread races
(an import on a background thread meeting Dagster's own) show up; the run must not fail once.

    python benchmarks/noop_runs.py --home /tmp/noop-home --runs 50

Prints each run's wall time and exit code, then the failures, the median wall time and the peak RSS of a run.
The home is created with a small demo (2 days) when it has no warehouse yet.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _burn(stop: multiprocessing.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "TOKENLEDGER_HOME"}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args, "--home", str(home)], capture_output=True, text=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2, help="busy processes beside the runs (default: one per core)")
    args = parser.parse_args()

    if not (args.home / "warehouse.duckdb").exists():
        print(f"making a small demo home at {args.home}", flush=True)
        done = _cli(args.home, "demo", "--days", "2", "--requests-per-day", "500", "--end", "2026-11-27")
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1

    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.burners)]
    for burner in burners:
        burner.start()
    failures, seconds = [], []
    try:
        for n in range(1, args.runs + 1):
            started = time.perf_counter()
            done = _cli(args.home, "run")
            seconds.append(time.perf_counter() - started)
            print(f"run {n:3}: {seconds[-1]:6.1f} s  exit {done.returncode}", flush=True)
            if done.returncode != 0:
                failures.append((n, (done.stderr or done.stdout).strip().splitlines()[-1:]))
    finally:
        stop.set()
        for burner in burners:
            burner.join(timeout=10)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\n{args.runs} no-op runs beside {args.burners} busy processes: {len(failures)} failed")
    for n, last in failures:
        print(f"  run {n}: {last}")
    print(f"median {statistics.median(seconds):.1f} s per run ({args.runs / sum(seconds) * 60:.1f} runs/min), "
          f"peak RSS of one run {peak:,.0f} MiB (demo included)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
