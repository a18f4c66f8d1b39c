"""Time `tokenledger run` on a home folder, on the same landed files, against (b) the floor: DuckDB reading
those files and summing tokens per day x feature x model with no pricing, and (c) per-request pricing in
Python with genai-prices' calc_price on a sample, extrapolated to every request.

With --incremental it instead times one new day materialized on top of --history-days days of history
against the same day run alone on an empty home.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from generate import describe, generate, requests_per_day

from pipelines.settings import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_ENV
from pipelines.storage.home import Home

MARKER = ".tokenledger-bench"
MARKER_TEXT = "home folder created by benchmarks/bench_run.py; the script may delete it\n"

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
    samples: list[tuple[float, float, float]] = field(default_factory=list)


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

    CPU time comes from wait4 on that child (its process tree only). Peak RSS is the larger of the tree's summed
    VmRSS and any process's VmHWM, sampled every 0.2 s from /proc: wait4's ru_maxrss is not used because Linux
    carries the parent's resident size at fork into the child's maximum, so a benchmark process that has just
    generated 10M requests would inflate it.
    """
    command = [tokenledger_command(), "run", "--home", str(home.root)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    lines: list[tuple[float, str]] = []
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as child:
        sampler = RssSampler(child.pid, started)
        sampler.start()
        for line in child.stdout or ():
            at = time.perf_counter() - started
            lines.append((at, line.rstrip("\n")))
            print(f"  [{at:7.1f}s] {line.rstrip()}", flush=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop()
    wall = time.perf_counter() - started
    peak = max((max(rss, high) for _, rss, high in sampler.samples), default=usage.ru_maxrss / 1024)
    return RunTiming(wall, usage.ru_utime + usage.ru_stime, peak, child.returncode, lines, sampler.samples)


class RssSampler(threading.Thread):
    """Samples the resident memory of a process and its descendants every 0.2 s (Linux /proc), to place the peak in a stage."""

    def __init__(self, pid: int, started: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.started = pid, started
        self.samples: list[tuple[float, float, float]] = []
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        high = 0
        while not self._done.wait(0.2):
            pids = _tree(self.pid)
            total = sum(_status_kib(pid, "VmRSS:") for pid in pids)
            high = max([high, *(_status_kib(pid, "VmHWM:") for pid in pids)])
            self.samples.append((time.perf_counter() - self.started, total / 1024, high / 1024))


def _tree(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    queue += [int(child) for child in handle.read().split()]
        except OSError:
            continue
    return found


def _status_kib(pid: int, key: str) -> int:
    """A memory line of /proc/<pid>/status (VmRSS: now, VmHWM: the peak so far), in KiB."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_by_stage(timing: "RunTiming") -> dict[str, str]:
    """Per stage: the highest sampled RSS of the process tree (MiB), and where a process's own peak (VmHWM) rose."""
    bounds = stage_bounds(timing)
    text: dict[str, str] = {}
    previous_high = 0.0
    for name, (start, end) in bounds.items():
        inside = [(rss, high) for at, rss, high in timing.samples if start <= at < end]
        if not inside:
            continue
        rss = max(r for r, _ in inside)
        high = max(h for _, h in inside)
        text[name] = f"{rss:,.0f} MiB" + (f" (a process peaked at {high:,.0f} MiB)" if high > previous_high and high > rss else "")
        previous_high = max(previous_high, high)
    return text


def stage_bounds(timing: RunTiming) -> dict[str, tuple[float, float]]:
    """(start, end) seconds of each stage, from the run's progress lines: startup, ingest, materialize, coverage, report and exit."""
    marks = {"start": 0.0}
    for at, text in timing.lines:
        text = text.strip()
        if text.startswith("ingesting new landing files"):
            marks.setdefault("ingest", at)
        elif text.startswith("materializing "):
            marks.setdefault("materialize", at)
        elif text.startswith("refreshing"):
            marks.setdefault("coverage", at)
        elif text.startswith("pipeline finished"):
            marks.setdefault("report", at)
    marks["end"] = timing.wall_s
    order = [name for name in ("start", "ingest", "materialize", "coverage", "report", "end") if name in marks]
    names = {"start": "startup", "ingest": "ingest", "materialize": "materialize", "coverage": "coverage", "report": "report_exit"}
    return {names[a]: (marks[a], marks[b]) for a, b in zip(order, order[1:])}


def stage_times(timing: RunTiming) -> dict[str, float]:
    """Seconds per stage."""
    return {name: end - start for name, (start, end) in stage_bounds(timing).items()}


def last_stage(stages: dict[str, float]) -> str:
    """The stage the run was in when it ended (for a failed run, where it failed)."""
    return list(stages)[-1] if stages else "startup"


def stage_text(stages: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in stages.items())


def warehouse_counts(home: Home) -> tuple[int, int]:
    """(sum of rows_loaded in audit.ingested_files, rows in core.request_costs), read-only."""
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        loaded = con.execute("select coalesce(sum(rows_loaded), 0) from audit.ingested_files").fetchall()[0][0]
        priced = con.execute("select count(*) from core.request_costs").fetchall()[0][0]
    return int(loaded), int(priced)


_TOKENS = """
    coalesce(u.prompt_tokens, u.input_tokens, u.promptTokenCount, u.inputTokens, 0) as input_tokens,
    coalesce(u.prompt_tokens_details.cached_tokens, u.input_tokens_details.cached_tokens, u.cache_read_input_tokens,
             u.cachedContentTokenCount, u.cacheReadInputTokens, 0) as cached_tokens,
    coalesce(u.cache_creation_input_tokens, u.cacheWriteInputTokens, 0) as cache_write_tokens,
    coalesce(u.completion_tokens, u.output_tokens, u.candidatesTokenCount, u.outputTokens, 0) as output_tokens,
    coalesce(u.completion_tokens_details.reasoning_tokens, u.output_tokens_details.reasoning_tokens, u.thoughtsTokenCount, 0)
        as reasoning_tokens"""
_USAGE_FIELDS = {
    "prompt_tokens": "BIGINT", "completion_tokens": "BIGINT", "input_tokens": "BIGINT", "output_tokens": "BIGINT",
    "prompt_tokens_details": {"cached_tokens": "BIGINT"}, "input_tokens_details": {"cached_tokens": "BIGINT"},
    "completion_tokens_details": {"reasoning_tokens": "BIGINT"}, "output_tokens_details": {"reasoning_tokens": "BIGINT"},
    "cache_read_input_tokens": "BIGINT", "cache_creation_input_tokens": "BIGINT",
    "promptTokenCount": "BIGINT", "cachedContentTokenCount": "BIGINT", "candidatesTokenCount": "BIGINT", "thoughtsTokenCount": "BIGINT",
    "inputTokens": "BIGINT", "outputTokens": "BIGINT", "cacheReadInputTokens": "BIGINT", "cacheWriteInputTokens": "BIGINT",
}


def _struct_type(fields: dict) -> str:
    return "STRUCT(" + ", ".join(f'"{k}" ' + (_struct_type(v) if isinstance(v, dict) else v) for k, v in fields.items()) + ")"


_USAGE = _struct_type(_USAGE_FIELDS)
_JSON_SOURCE = f"""
select cast(timestamp as date) as event_date, feature, model, usage as u
from read_json($json_files, format = 'newline_delimited', ignore_errors = true, columns = {{
    'timestamp': 'TIMESTAMPTZ', 'feature': 'VARCHAR', 'model': 'VARCHAR', 'usage': '{_USAGE}'}})"""
_PARQUET_SOURCE = f"""
select cast(cast(timestamp as timestamptz) as date) as event_date, feature, model, from_json(usage, '{json.dumps(_USAGE_FIELDS)}') as u
from read_parquet($parquet_files)"""


def floor_sql(json_files: bool, parquet_files: bool) -> str:
    """Sum every token kind per event_date x feature x model straight from the landed files: no checks, no pricing, no writes."""
    sources = [sql for sql, present in ((_JSON_SOURCE, json_files), (_PARQUET_SOURCE, parquet_files)) if present]
    return f"""
select event_date, feature, model, count(*) as requests,
    sum(input_tokens), sum(cached_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens)
from (select event_date, feature, model, {_TOKENS} from ({' union all '.join(sources)}))
group by all"""


def landed_files(home: Home) -> tuple[list[str], list[str]]:
    """(JSON Lines files, Parquet files) under landing/gateway/envelope."""
    root = home.landing / "gateway" / "envelope"
    json_files = sorted(str(p) for p in root.glob("**/*.jsonl*"))
    parquet_files = sorted(str(p) for p in root.glob("**/*.parquet"))
    if not json_files and not parquet_files:
        raise BenchError(f"no landed envelope files under {root}")
    return json_files, parquet_files


def time_floor(home: Home, repeats: int) -> tuple[float, int, int]:
    """Best wall seconds of the floor query over the landed files, its group count and the requests it counted."""
    json_files, parquet_files = landed_files(home)
    sql = floor_sql(bool(json_files), bool(parquet_files))
    params = {k: v for k, v in (("json_files", json_files), ("parquet_files", parquet_files)) if v}
    best, groups, requests = float("inf"), 0, 0
    for _ in range(repeats):
        started = time.perf_counter()
        with duckdb.connect() as con:
            con.execute("set TimeZone = 'UTC'")
            con.execute(f"set memory_limit = '{os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)}'")
            rows = con.execute(sql, params).fetchall()
        best = min(best, time.perf_counter() - started)
        groups, requests = len(rows), sum(row[3] for row in rows)
    return best, groups, requests


@dataclass
class PerRowTiming:
    """genai-prices' calc_price on a sample of landed requests, one call per request as a per-request tool does."""

    sample: int
    seconds: float
    unpriced: int

    @property
    def per_second(self) -> float:
        return self.sample / self.seconds

    def extrapolated(self, requests: int) -> float:
        return requests / self.per_second


def _usage_for_genai(provider: str, usage: dict):
    """The request's usage as genai-prices reads it: input includes cache reads and writes, output includes reasoning."""
    from genai_prices import Usage

    if provider == "google":
        return Usage(input_tokens=usage.get("promptTokenCount", 0), cache_read_tokens=usage.get("cachedContentTokenCount", 0),
                     output_tokens=usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0))
    if provider == "aws_bedrock":
        read, write = usage.get("cacheReadInputTokens", 0), usage.get("cacheWriteInputTokens", 0)
        return Usage(input_tokens=usage.get("inputTokens", 0) + read + write, cache_read_tokens=read,
                     cache_write_tokens=write, output_tokens=usage.get("outputTokens", 0))
    if provider == "anthropic":
        read, write = usage.get("cache_read_input_tokens", 0), usage.get("cache_creation_input_tokens", 0)
        return Usage(input_tokens=usage.get("input_tokens", 0) + read + write, cache_read_tokens=read,
                     cache_write_tokens=write, output_tokens=usage.get("output_tokens", 0))
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    return Usage(input_tokens=usage.get("prompt_tokens", usage.get("input_tokens", 0)), cache_read_tokens=details.get("cached_tokens", 0),
                 output_tokens=usage.get("completion_tokens", usage.get("output_tokens", 0)))


_GENAI_PROVIDER = {"aws_bedrock": "aws"}


def sample_lines(home: Home, size: int) -> list[bytes]:
    """The first `size` requests of the landed files, as JSON text (Parquet rows rendered as the JSON line they stand for)."""
    json_files, parquet_files = landed_files(home)
    lines: list[bytes] = []
    for path in json_files:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as handle:
            for line in handle:
                lines.append(line)
                if len(lines) >= size // 2 or (not parquet_files and len(lines) >= size):
                    break
        if len(lines) >= size // 2:
            break
    if parquet_files:
        with duckdb.connect() as con:
            rows = con.execute(
                "select cast(to_json(t) as varchar) from (select * replace (json(usage) as usage) from read_parquet($files)) t limit $n",
                {"files": parquet_files, "n": size - len(lines)},
            ).fetchall()
        lines += [row[0].encode() for row in rows]
    return lines


def time_per_row(home: Home, size: int) -> PerRowTiming:
    """Parse and price each sampled request with genai-prices' calc_price, one call at a time."""
    from genai_prices import calc_price

    lines = sample_lines(home, size)
    started = time.perf_counter()
    unpriced = 0
    for line in lines:
        record = json.loads(line)
        try:
            calc_price(
                _usage_for_genai(record["provider"], record["usage"]), record["model"],
                provider_id=_GENAI_PROVIDER.get(record["provider"], record["provider"]),
                genai_request_timestamp=dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")),
            )
        except LookupError:
            unpriced += 1
    return PerRowTiming(len(lines), time.perf_counter() - started, unpriced)


def summary_line(requests: int, timing: RunTiming, floor_s: float, per_row: PerRowTiming, stages: dict[str, float]) -> str:
    """One line of key=value pairs; the first six keys keep their order so results can be grepped and compared."""
    stage_fields = " ".join(f"{name}_s={seconds:.1f}" for name, seconds in stages.items())
    genai_s = per_row.extrapolated(requests)
    return (
        f"requests={requests} wall_s={timing.wall_s:.1f} req_per_s={requests / timing.wall_s:.0f} "
        f"peak_rss_mib={timing.peak_rss_mib:.0f} floor_s={floor_s:.2f} ratio={timing.wall_s / floor_s:.1f} "
        f"genai_prices_s={genai_s:.1f} genai_prices_per_s={per_row.per_second:.0f} genai_over_run={genai_s / timing.wall_s:.1f} "
        f"cpu_s={timing.cpu_s:.1f} {stage_fields}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", required=True, type=Path, help="home folder to run on")
    parser.add_argument("--requests", type=int,
                        help=f"first generate this many requests into a fresh home (only deletes a home holding {MARKER})")
    parser.add_argument("--days", type=int, default=1, help="days to spread generated requests over (default 1)")
    parser.add_argument("--files-per-day", type=int, default=4, help="landing files per generated day (default 4)")
    parser.add_argument("--parquet-share", type=float, default=0.25,
                        help="share of each day's files written as Parquet with Gemini and Bedrock traffic (default 0.25)")
    parser.add_argument("--seed", type=int, default=7, help="random seed for generation (default 7)")
    parser.add_argument("--no-experiment-tags", action="store_true",
                        help="generate requests without tags.experiment (the same requests otherwise): the run without the "
                             "experiment marts' work, to compare against")
    parser.add_argument("--floor-repeats", type=int, default=3, help="floor query runs; the best counts (default 3)")
    parser.add_argument("--genai-sample", type=int, default=20_000,
                        help="requests priced one by one with genai-prices' calc_price, then extrapolated (default 20000)")
    parser.add_argument("--incremental", action="store_true",
                        help="time one new day on top of --history-days days against the same day on an empty home")
    parser.add_argument("--history-days", type=int, default=90, help="days of history for --incremental (default 90)")
    parser.add_argument("--requests-per-day", type=int, default=50_000, help="requests per day for --incremental (default 50000)")
    return parser


def bench(args: argparse.Namespace) -> int:
    home = Home.at(args.home)
    if args.requests is not None:
        requests_per_day(args.requests, args.days)
        prepare_fresh_home(home.root)
        generated = generate(home.root, requests=args.requests, days=args.days, files_per_day=args.files_per_day, seed=args.seed,
                             parquet_share=args.parquet_share, experiment_tags=not args.no_experiment_tags)
        print(describe(generated), flush=True)
    elif home.warehouse.exists():
        print(f"note: {home.warehouse} exists; files ingested before are skipped, so this times a re-run", flush=True)
    print(f"(a) timing: tokenledger run --home {home.root}", flush=True)
    timing = checked_run(home)
    stages = stage_times(timing)
    requests, priced_rows = warehouse_counts(home)
    print("(b) timing the floor: DuckDB summing tokens per day x feature x model over the same landed files", flush=True)
    floor_s, groups, floor_requests = time_floor(home, args.floor_repeats)
    print(f"(c) timing genai-prices' calc_price on {args.genai_sample:,} landed requests, one call each", flush=True)
    per_row = time_per_row(home, args.genai_sample)
    genai_s = per_row.extrapolated(requests)
    print(f"requests ingested:          {requests:,} (the floor counted {floor_requests:,})")
    print(f"rows in core.request_costs: {priced_rows:,}")
    print(f"(a) tokenledger run:        {timing.wall_s:.1f}s ({requests / timing.wall_s:,.0f} requests/s)")
    print(f"    CPU (run tree):         {timing.cpu_s:.1f}s user+system ({timing.cpu_s / timing.wall_s:.2f} cores busy on average)")
    print(f"    peak RSS (run tree):    {timing.peak_rss_mib:,.0f} MiB")
    print(f"    stages:                 {stage_text(stages)}")
    print("    peak RSS per stage:     " + ", ".join(f"{k} {v}" for k, v in peak_by_stage(timing).items()))
    print(f"(b) floor:                  {floor_s:.2f}s ({floor_requests / floor_s:,.0f} requests/s; {groups} groups, best of {args.floor_repeats})")
    print(f"(c) genai-prices per row:   {genai_s:.1f}s extrapolated ({per_row.per_second:,.0f} requests/s on {per_row.sample:,}; "
          f"{per_row.unpriced} it could not price)")
    print(f"run / floor:                {timing.wall_s / floor_s:.1f}x")
    print(f"genai-prices / run:         {genai_s / timing.wall_s:.1f}x")
    print(summary_line(requests, timing, floor_s, per_row, stages))
    return 0


def checked_run(home: Home) -> RunTiming:
    timing = time_run(home)
    if timing.returncode != 0:
        stages = stage_times(timing)
        raise BenchError(
            f"tokenledger run exited with {timing.returncode} after {timing.wall_s:.1f}s, in stage {last_stage(stages)} "
            f"(peak RSS {timing.peak_rss_mib:,.0f} MiB; stages: {stage_text(stages)})"
        )
    return timing


def bench_incremental(args: argparse.Namespace) -> int:
    """Day N+1 on top of N days of history, against day N+1 alone on an empty home (same requests, same files).

    The days end two days before today (UTC): the pipeline rejects timestamps more than a day ahead.
    """
    per_day, files = args.requests_per_day, args.files_per_day
    history_home, alone_home = Home.at(args.home / "history"), Home.at(args.home / "alone")
    start = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=args.history_days + 2)
    new_day = start + dt.timedelta(days=args.history_days)
    prepare_fresh_home(args.home)
    for target in (history_home, alone_home):
        target.root.mkdir(parents=True)
    generated = generate(history_home.root, requests=per_day * args.history_days, days=args.history_days,
                         files_per_day=files, seed=args.seed, parquet_share=args.parquet_share, start=start)
    print(describe(generated), flush=True)
    print(f"building the history: tokenledger run --home {history_home.root}", flush=True)
    history = checked_run(history_home)
    print(f"history of {args.history_days} days built in {history.wall_s:.1f}s", flush=True)
    timings = {}
    for name, target in (("alone", alone_home), ("on_history", history_home)):
        generated = generate(target.root, requests=per_day, days=1, files_per_day=files, seed=args.seed,
                             parquet_share=args.parquet_share, start=new_day)
        print(f"{name}: {describe(generated)}", flush=True)
        print(f"timing: tokenledger run --home {target.root} ({name})", flush=True)
        timings[name] = checked_run(target)
    alone, on_history = timings["alone"], timings["on_history"]
    print(f"first day alone:            {alone.wall_s:.1f}s (stages: {stage_text(stage_times(alone))})")
    print(f"one day on {args.history_days} days:         {on_history.wall_s:.1f}s (stages: {stage_text(stage_times(on_history))})")
    print(f"incremental ratio:          {on_history.wall_s / alone.wall_s:.2f} (target <= 1.2)")
    print(
        f"requests_per_day={per_day} history_days={args.history_days} alone_s={alone.wall_s:.1f} "
        f"on_history_s={on_history.wall_s:.1f} incremental_ratio={on_history.wall_s / alone.wall_s:.2f} "
        f"history_build_s={history.wall_s:.1f} peak_rss_mib={max(t.peak_rss_mib for t in (history, alone, on_history)):.0f}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return bench_incremental(args) if args.incremental else bench(args)
    except (BenchError, ValueError) as exc:
        print(f"bench_run: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
