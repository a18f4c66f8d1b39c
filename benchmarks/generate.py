"""Write clean synthetic envelope logs and a pseudonymization key into a home folder, for benchmarks."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.demo_data import GenerationSummary, generate_gateway_logs
from pipelines.home import Home
from pipelines.privacy import create_key

DEFAULT_START = dt.date(2026, 11, 2)


@dataclass(frozen=True)
class Generated:
    """What one generation wrote and how long it took."""

    home: Home
    summary: GenerationSummary
    start: dt.date
    days: int
    seconds: float

    @property
    def bytes_written(self) -> int:
        return sum(path.stat().st_size for path in self.summary.files)


def requests_per_day(requests: int, days: int) -> int:
    """Requests for each day; the total must split evenly so the benchmark writes exactly `requests`."""
    if requests < 1 or days < 1:
        raise ValueError(f"need --requests >= 1 and --days >= 1, got {requests} and {days}")
    if requests % days:
        raise ValueError(f"--requests {requests} does not split evenly over --days {days}")
    return requests // days


def generate(
    home_dir: str | Path,
    *,
    requests: int,
    days: int = 1,
    files_per_day: int = 1,
    seed: int = 7,
    start: dt.date = DEFAULT_START,
) -> Generated:
    """Write `requests` good envelope requests (no bad lines, no duplicates) and the key into home_dir."""
    per_day = requests_per_day(requests, days)
    home = Home.at(home_dir).ensure()
    create_key(home.secrets)
    started = time.perf_counter()
    summary = generate_gateway_logs(
        home.landing, start=start, days=days, requests_per_day=per_day,
        seed=seed, bad_lines=False, files_per_day=files_per_day,
    )
    return Generated(home, summary, start, days, time.perf_counter() - started)


def describe(generated: Generated) -> str:
    summary = generated.summary
    last = generated.start + dt.timedelta(days=generated.days - 1)
    return (
        f"generated {summary.requests:,} requests ({summary.unknown_model_requests:,} to unknown models) "
        f"for {generated.start} .. {last} in {len(summary.files)} files, "
        f"{generated.bytes_written / 2**20:,.1f} MiB gzip, in {generated.seconds:.1f}s "
        f"under {generated.home.landing}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", required=True, help="home folder to write into (landing/ and secrets/)")
    parser.add_argument("--requests", type=int, required=True, help="total requests to write")
    parser.add_argument("--days", type=int, default=1, help="days the requests spread over (default 1)")
    parser.add_argument("--files-per-day", type=int, default=1, help="landing files per day (default 1)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=DEFAULT_START,
                        help=f"first day, YYYY-MM-DD (default {DEFAULT_START})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        generated = generate(
            args.home, requests=args.requests, days=args.days,
            files_per_day=args.files_per_day, seed=args.seed, start=args.start,
        )
    except ValueError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    print(describe(generated))
    return 0


if __name__ == "__main__":
    sys.exit(main())
