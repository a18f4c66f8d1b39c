"""Synthetic gateway request logs in the `envelope` format, for the demo and for benchmarks.

A day's requests are drawn from the catalog (`demo.catalog`) by `demo.sampling` and written as JSON Lines by
`demo.jsonl`. Each day has its own generator, made from the seed and the date, so a day's files never depend on
which other days are generated, and the same arguments always give the same bytes.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.demo.catalog import FEATURES, SEGMENTS, UNKNOWN_MODELS, Population, draw_population
from pipelines.demo.jsonl import BAD_LINES_PER_FILE, OrderedWriter, Sink, file_chunks, file_counts, spoil_plan
from pipelines.demo.sampling import request_frame, sample_requests

__all__ = ["GenerationSummary", "generate_gateway_logs", "FEATURES", "SEGMENTS", "UNKNOWN_MODELS"]


@dataclass(frozen=True)
class GenerationSummary:
    """What was written: `requests` counts good lines including duplicates; bad lines are separate."""

    files: list[Path]
    requests: int
    bad_lines: int
    duplicate_lines: int
    unknown_model_requests: int


def generate_gateway_logs(
    landing_dir: Path,
    *,
    start: datetime.date,
    days: int,
    requests_per_day: int,
    seed: int = 7,
    bad_lines: bool = True,
    files_per_day: int = 1,
    compress: bool = True,
    experiment_tags: bool = True,
) -> GenerationSummary:
    """Write `days` days of envelope logs under `landing_dir/gateway/envelope/<date>/`.

    Each day holds `requests_per_day` distinct good requests split over `files_per_day` files in
    time order. With `bad_lines`, every file also gets one truncated JSON line, one negative token
    count, one timestamp without offset and one line without `request_id` (at 1/5, 2/5, 3/5 and
    4/5 of the file), plus one exact duplicate of an earlier request after 9/10 of it.
    Without `experiment_tags`, no request carries an experiment (the requests are otherwise the same).
    The same arguments always give the same bytes.
    """
    if days < 0 or requests_per_day < 0 or files_per_day < 1:
        raise ValueError(
            f"need days >= 0, requests_per_day >= 0 and files_per_day >= 1, "
            f"got {days}, {requests_per_day}, {files_per_day}"
        )
    population = draw_population(seed)
    files: list[Path] = []
    counts = np.zeros(4, dtype=np.int64)
    with OrderedWriter() as writer:
        for offset in range(days):
            day = start + datetime.timedelta(days=offset)
            day_files = _day_files(
                landing_dir, day, population, seed=seed, requests=requests_per_day,
                files_per_day=files_per_day, bad_lines=bad_lines, compress=compress, experiment_tags=experiment_tags,
            )
            for path, chunks, line_counts in day_files:
                sink = Sink(path, compress)
                for chunk in chunks:
                    writer.submit(sink.write, chunk)
                writer.submit(sink.close)
                files.append(path)
                counts += line_counts
    requests, bad, duplicates, unknown = (int(c) for c in counts)
    return GenerationSummary(files, requests, bad, duplicates, unknown)


def _day_files(
    landing_dir: Path, day: datetime.date, population: Population, *, seed: int, requests: int,
    files_per_day: int, bad_lines: bool, compress: bool, experiment_tags: bool = True,
) -> Iterator[tuple[Path, Iterator[bytes], np.ndarray]]:
    """Each file of one day: its path, its uncompressed bytes in chunks, and its summary counts."""
    rng = np.random.default_rng([seed, 1, day.toordinal()])
    per_file = _split_evenly(requests, files_per_day)
    if bad_lines:
        per_file = per_file + BAD_LINES_PER_FILE
    columns = sample_requests(rng, population, day, int(per_file.sum()))
    if not experiment_tags:
        columns["tag"] = np.zeros_like(columns["tag"])
    frame = request_frame(columns, population, day, rng)
    folder = landing_dir / "gateway" / "envelope" / f"{day:%Y-%m-%d}"
    suffix = ".jsonl.gz" if compress else ".jsonl"
    first = 0
    for i, size in enumerate(per_file.tolist()):
        unknown = columns["unknown"][first:first + size]
        plan = spoil_plan(unknown) if bad_lines else None
        chunks = file_chunks(frame.slice(first, size), plan)
        yield folder / f"requests-{i:03d}{suffix}", chunks, file_counts(unknown, plan)
        first += size


def _split_evenly(total: int, parts: int) -> np.ndarray:
    sizes = np.full(parts, total // parts, dtype=np.int64)
    sizes[: total % parts] += 1
    return sizes
