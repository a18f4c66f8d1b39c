"""Time `tokenledger run` on a home folder against a DuckDB floor that sums the same lake without pricing."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from generate import describe, generate, requests_per_day

from pipelines.home import Home
from pipelines.warehouse import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV

MARKER = ".tokenledger-bench"
MARKER_TEXT = "home folder created by benchmarks/bench_run.py; the script may delete it\n"

FLOOR_SQL = """
select
    event_date,
    feature,
    model,
    count(*) as requests,
    sum(input_tokens) as input_tokens,
    sum(cache_read_tokens) as cache_read_tokens,
    sum(cache_write_5m_tokens) as cache_write_5m_tokens,
    sum(cache_write_1h_tokens) as cache_write_1h_tokens,
    sum(output_tokens) as output_tokens,
    sum(reasoning_tokens) as reasoning_tokens,
    sum(audio_input_tokens) as audio_input_tokens,
    sum(audio_output_tokens) as audio_output_tokens,
    sum(web_search_requests) as web_search_requests,
from read_parquet($files, hive_partitioning = false, union_by_name = true)
group by all
"""


class BenchError(Exception):
    """A precondition of the benchmark does not hold; shown in one line."""


@dataclass
class RunTiming:
    """One timed `tokenledger run`: wall and CPU time, peak RSS of its process tree, and its timestamped output."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    returncode: int
    lines: list[tuple[float, str]] = field(default_factory=list)


def prepare_fresh_home(home_dir: Path) -> None:
    """Delete home_dir only if this script's marker is in it; then create it empty with a new marker."""
    if home_dir.is_symlink():
        raise BenchError(f"{home_dir} is a symlink; give a real folder")
    if home_dir.exists():
        marker = home_dir / MARKER
        owned = marker.is_file() and not marker.is_symlink() and marker.read_text(encoding="utf-8") == MARKER_TEXT
        if owned:
            shutil.rmtree(home_dir)
        elif any(home_dir.iterdir()):
            raise BenchError(f"{home_dir} exists and was not created by this script (no {MARKER}); not touching it")
    home_dir.mkdir(parents=True, exist_ok=True)
    (home_dir / MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def tokenledger_command() -> str:
    """The `tokenledger` console script beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("tokenledger")
    found = str(beside) if beside.is_file() else shutil.which("tokenledger")
    if not found:
        raise BenchError("no `tokenledger` command: install the project (pip install -e .) in this interpreter's environment")
    return found


def time_run(home: Home) -> RunTiming:
    """Run `tokenledger run --home` as a child process, echoing its output with seconds since start.

    Peak RSS and CPU time come from RUSAGE_CHILDREN, so they cover that process tree only (ru_maxrss is KiB on Linux).
    """
    command = [tokenledger_command(), "run", "--home", str(home.root)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    lines: list[tuple[float, str]] = []
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as child:
        for line in child.stdout or ():
            at = time.perf_counter() - started
            lines.append((at, line.rstrip("\n")))
            print(f"  [{at:7.1f}s] {line.rstrip()}", flush=True)
        returncode = child.wait()
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return RunTiming(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, returncode, lines)


def stage_times(timing: RunTiming) -> dict[str, float]:
    """Seconds per stage, from the run's progress lines: startup, ingest, materialize, coverage, report and exit."""
    marks = {"start": 0.0}
    for at, text in timing.lines:
        text = text.strip()
        if text.startswith("ingesting new landing files"):
            marks.setdefault("ingest", at)
        elif text.startswith("materializing "):
            marks.setdefault("materialize", at)
        elif text.startswith("refreshing price coverage"):
            marks.setdefault("coverage", at)
        elif text.startswith("pipeline finished"):
            marks.setdefault("report", at)
    marks["end"] = timing.wall_s
    order = [name for name in ("start", "ingest", "materialize", "coverage", "report", "end") if name in marks]
    names = {"start": "startup", "ingest": "ingest", "materialize": "materialize", "coverage": "coverage", "report": "report_exit"}
    return {names[a]: marks[b] - marks[a] for a, b in zip(order, order[1:])}


def last_stage(stages: dict[str, float]) -> str:
    """The stage the run was in when it ended (for a failed run, where it failed)."""
    return list(stages)[-1] if stages else "startup"


def stage_text(stages: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in stages.items())


def warehouse_counts(home: Home) -> tuple[int, int]:
    """(sum of rows_loaded in audit.ingested_files, rows in core.request_costs), read-only."""
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        loaded = con.execute("select coalesce(sum(rows_loaded), 0) from audit.ingested_files").fetchone()[0]
        priced = con.execute("select count(*) from core.request_costs").fetchone()[0]
    return int(loaded), int(priced)


def lake_files(home: Home) -> list[str]:
    files = sorted(str(p) for p in (home.lake / "gateway_requests").glob("**/*.parquet"))
    if not files:
        raise BenchError(f"no Parquet under {home.lake / 'gateway_requests'}: did the run ingest anything?")
    return files


def time_floor(home: Home, repeats: int) -> tuple[float, int]:
    """Best wall seconds of summing tokens per event_date x feature x model over the lake, and the group count."""
    files = lake_files(home)
    best, groups = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        with duckdb.connect() as con:
            con.execute(f"set memory_limit = '{os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)}'")
            groups = len(con.execute(FLOOR_SQL, {"files": files}).fetchall())
        best = min(best, time.perf_counter() - started)
    return best, groups


LANDING_FLOOR_SQL = """
select cast(timestamp as date) as event_date, feature, model,
    sum(coalesce(usage.prompt_tokens, usage.input_tokens, 0)) as input_tokens,
    sum(coalesce(usage.completion_tokens, usage.output_tokens, 0)) as output_tokens
from read_json($files, format = 'newline_delimited', ignore_errors = true, columns = {
    'timestamp': 'TIMESTAMPTZ', 'feature': 'VARCHAR', 'model': 'VARCHAR',
    'usage': 'STRUCT(prompt_tokens BIGINT, completion_tokens BIGINT, input_tokens BIGINT, output_tokens BIGINT)'})
group by all
"""


def time_landing_floor(home: Home, repeats: int) -> float:
    """Best wall seconds of DuckDB reading the landed JSON Lines themselves and summing tokens per day x feature x model."""
    files = sorted(str(p) for p in (home.landing / "gateway" / "envelope").glob("**/*.jsonl*"))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        with duckdb.connect() as con:
            con.execute("set TimeZone = 'UTC'")
            con.execute(f"set memory_limit = '{os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)}'")
            con.execute(LANDING_FLOOR_SQL, {"files": files}).fetchall()
        best = min(best, time.perf_counter() - started)
    return best


def summary_line(requests: int, timing: RunTiming, floor_s: float, stages: dict[str, float]) -> str:
    """One line of key=value pairs; the first six keys keep their order so results can be grepped and compared."""
    stage_fields = " ".join(f"{name}_s={seconds:.1f}" for name, seconds in stages.items())
    return (
        f"requests={requests} wall_s={timing.wall_s:.1f} req_per_s={requests / timing.wall_s:.0f} "
        f"peak_rss_mib={timing.peak_rss_mib:.0f} floor_s={floor_s:.2f} ratio={timing.wall_s / floor_s:.1f} "
        f"cpu_s={timing.cpu_s:.1f} {stage_fields}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", required=True, type=Path, help="home folder to run on")
    parser.add_argument("--requests", type=int,
                        help=f"first generate this many requests into a fresh home (only deletes a home holding {MARKER})")
    parser.add_argument("--days", type=int, default=1, help="days to spread generated requests over (default 1)")
    parser.add_argument("--files-per-day", type=int, default=1, help="landing files per generated day (default 1)")
    parser.add_argument("--seed", type=int, default=7, help="random seed for generation (default 7)")
    parser.add_argument("--floor-repeats", type=int, default=3, help="floor query runs; the best counts (default 3)")
    return parser


def bench(args: argparse.Namespace) -> int:
    home = Home.at(args.home)
    if args.requests is not None:
        requests_per_day(args.requests, args.days)
        prepare_fresh_home(home.root)
        generated = generate(home.root, requests=args.requests, days=args.days,
                             files_per_day=args.files_per_day, seed=args.seed)
        print(describe(generated), flush=True)
    elif home.warehouse.exists():
        print(f"note: {home.warehouse} exists; files ingested before are skipped, so this times a re-run", flush=True)
    print(f"timing: tokenledger run --home {home.root}", flush=True)
    timing = time_run(home)
    stages = stage_times(timing)
    if timing.returncode != 0:
        raise BenchError(
            f"tokenledger run exited with {timing.returncode} after {timing.wall_s:.1f}s, in stage {last_stage(stages)} "
            f"(peak RSS {timing.peak_rss_mib:,.0f} MiB; stages: {stage_text(stages)})"
        )
    requests, priced_rows = warehouse_counts(home)
    floor_s, groups = time_floor(home, args.floor_repeats)
    landing_floor_s = time_landing_floor(home, args.floor_repeats)
    print(f"requests ingested:          {requests:,}")
    print(f"rows in core.request_costs: {priced_rows:,}")
    print(f"wall:                       {timing.wall_s:.1f}s ({requests / timing.wall_s:,.0f} requests/s)")
    print(f"CPU (run tree):             {timing.cpu_s:.1f}s user+system ({timing.cpu_s / timing.wall_s:.2f} cores busy on average)")
    print(f"peak RSS (run tree):        {timing.peak_rss_mib:,.0f} MiB")
    print(f"stages:                     {stage_text(stages)}")
    print(f"floor:                      {floor_s:.2f}s (DuckDB sum over the lake, {groups} groups, best of {args.floor_repeats})")
    print(f"run / floor:                {timing.wall_s / floor_s:.1f}")
    print(f"landing floor:              {landing_floor_s:.2f}s (DuckDB read_json over the landed files, same sums)")
    print(f"run / landing floor:        {timing.wall_s / landing_floor_s:.1f}")
    print(summary_line(requests, timing, floor_s, stages) + f" landing_floor_s={landing_floor_s:.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return bench(args)
    except (BenchError, ValueError) as exc:
        print(f"bench_run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
