"""Envelope JSON Lines files from a frame of requests: rendered, spoiled with bad lines and a duplicate, written.

Lines are rendered in Polars in chunks of CHUNK_ROWS and keep the frame's row order. A file's bad lines and its
duplicate are placed by a plan made from the whole file, so where they land never depends on the chunking.
Each file is written under a hidden name and renamed into place only when complete.
"""

from __future__ import annotations

import io
import json
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from pipelines.demo.catalog import ANTHROPIC, ANTHROPIC_OLD_SDK, CHAT, RESPONSES

BAD_LINES_PER_FILE = 4
CHUNK_ROWS = 200_000
GZIP_LEVEL = 1


def _json(template: str, *values: str) -> list[pl.Expr]:
    """Pieces of a JSON text: literal parts of `template` with each `{}` filled by a column."""
    parts = template.split("{}")
    if len(parts) != len(values) + 1:
        raise ValueError(f"template has {len(parts) - 1} slots for {len(values)} values: {template}")
    pieces = [pl.lit(parts[0])]
    for value, literal in zip(values, parts[1:]):
        pieces.append(pl.col(value).cast(pl.String))
        if literal:
            pieces.append(pl.lit(literal))
    return pieces


_ENVELOPE = _json(
    '{"request_id":"{}","timestamp":"{}","provider":"{}","model":"{}","service_tier":"{}",'
    '"feature":"{}","user_id":"{}","user_segment":"{}","customer_id":"{}","conversation_id":"{}",'
    '"latency_ms":{},"status":"{}","usage":',
    "request_id", "timestamp", "provider", "model", "service_tier", "feature", "user_id",
    "user_segment", "customer_id", "conversation_id", "latency_ms", "status",
)

_USAGE = {
    CHAT: _json(
        '{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{},'
        '"prompt_tokens_details":{"cached_tokens":{},"audio_tokens":0},'
        '"completion_tokens_details":{"reasoning_tokens":{},"audio_tokens":0,'
        '"accepted_prediction_tokens":{},"rejected_prediction_tokens":{}}}',
        "prompt", "output", "total", "cached", "reasoning", "accepted", "rejected",
    ),
    RESPONSES: _json(
        '{"input_tokens":{},"input_tokens_details":{"cached_tokens":{}},"output_tokens":{},'
        '"output_tokens_details":{"reasoning_tokens":{}},"total_tokens":{}}',
        "prompt", "cached", "output", "reasoning", "total",
    ),
    ANTHROPIC: _json(
        '{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},'
        '"cache_creation":{"ephemeral_5m_input_tokens":{},"ephemeral_1h_input_tokens":{}},'
        '"output_tokens":{},"server_tool_use":{"web_search_requests":{},"web_fetch_requests":0},'
        '"service_tier":"{}"}',
        "uncached", "write", "cached", "write_5m", "write_1h", "output", "web_search", "usage_tier",
    ),
    ANTHROPIC_OLD_SDK: _json(
        '{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},'
        '"output_tokens":{},"server_tool_use":{"web_search_requests":{},"web_fetch_requests":0},'
        '"service_tier":"{}"}',
        "uncached", "write", "cached", "output", "web_search", "usage_tier",
    ),
}


def _render_lines(frame: pl.DataFrame) -> pl.Series:
    """One JSON text per row, in row order."""
    rendered = [
        frame.lazy()
        .filter(pl.col("shape") == shape)
        .select("row", pl.concat_str([*_ENVELOPE, *usage, pl.col("tags"), pl.lit("}")]).alias("line"))
        for shape, usage in _USAGE.items()
    ]
    return pl.concat(rendered).sort("row").collect()["line"]


class SpoilPlan(NamedTuple):
    """Where a file's bad lines go, which good line is repeated, and after which line."""

    bad_at: tuple[int, ...]
    duplicate_of: int | None
    duplicate_after: int | None


def spoil_plan(unknown: np.ndarray) -> SpoilPlan:
    """Bad lines at 1/5, 2/5, 3/5 and 4/5 of the file; the first good known-model line repeated after 9/10."""
    size = len(unknown)
    bad_at = tuple((k + 1) * size // 5 for k in range(BAD_LINES_PER_FILE))
    good = np.ones(size, dtype=bool)
    good[list(bad_at)] = False
    candidates = np.flatnonzero(good & ~unknown)
    if not len(candidates):
        return SpoilPlan(bad_at, None, None)
    source = int(candidates[0])
    return SpoilPlan(bad_at, source, max(9 * size // 10, source))


def file_counts(unknown: np.ndarray, plan: SpoilPlan | None) -> np.ndarray:
    """(good lines including duplicates, bad lines, duplicate lines, unknown-model requests)."""
    good = np.ones(len(unknown), dtype=bool)
    duplicates = 0
    if plan is not None:
        good[list(plan.bad_at)] = False
        duplicates = int(plan.duplicate_of is not None)
    bad = len(unknown) - int(good.sum())
    return np.array([int(good.sum()) + duplicates, bad, duplicates, int((good & unknown).sum())])


def file_chunks(frame: pl.DataFrame, plan: SpoilPlan | None) -> Iterator[bytes]:
    """The file's uncompressed bytes, CHUNK_ROWS lines at a time, with `plan` applied."""
    duplicate: str | None = None
    for first in range(0, frame.height, CHUNK_ROWS):
        lines = _render_lines(frame.slice(first, CHUNK_ROWS))
        if plan is not None:
            lines, duplicate = _spoil(lines, first, plan, duplicate)
        yield _ndjson_bytes(lines)


def _spoil(
    lines: pl.Series, first: int, plan: SpoilPlan, duplicate: str | None
) -> tuple[pl.Series, str | None]:
    """Apply the part of `plan` that falls in `lines`, which start at line `first` of the file."""
    inside = range(first, first + len(lines))
    for spoiler, at in zip(_SPOILERS, plan.bad_at):
        if at in inside:
            lines = lines.scatter(at - first, spoiler(lines[at - first]))
    if plan.duplicate_of in inside:
        duplicate = lines[plan.duplicate_of - first]
    if plan.duplicate_after in inside and duplicate is not None:
        cut = plan.duplicate_after - first + 1
        lines = pl.concat([lines.slice(0, cut), pl.Series([duplicate], dtype=pl.String), lines.slice(cut)])
    return lines, duplicate


def _truncated(line: str) -> str:
    return line[: len(line) // 2]


def _negative_tokens(line: str) -> str:
    record = json.loads(line)
    usage = record["usage"]
    key = "completion_tokens" if "completion_tokens" in usage else "output_tokens"
    usage[key] = -usage[key]
    return _dumps(record)


def _timestamp_without_offset(line: str) -> str:
    record = json.loads(line)
    record["timestamp"] = record["timestamp"][:19]
    return _dumps(record)


def _without_request_id(line: str) -> str:
    record = json.loads(line)
    del record["request_id"]
    return _dumps(record)


def _dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"))


_SPOILERS = (_truncated, _negative_tokens, _timestamp_without_offset, _without_request_id)


def _ndjson_bytes(lines: pl.Series) -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({"line": lines}).write_csv(buffer, include_header=False, quote_style="never")
    return buffer.getvalue()


class Sink:
    """One landing file, written under a hidden name and renamed into place when complete."""

    def __init__(self, path: Path, compress: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._partial = path.with_name(f".{path.name}.partial")
        self._file = self._partial.open("wb")
        self._gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compress else None

    def write(self, data: bytes) -> None:
        self._file.write(self._gzip.compress(data) if self._gzip else data)

    def close(self) -> None:
        if self._gzip:
            self._file.write(self._gzip.flush())
        self._file.close()
        self._partial.replace(self._path)


class OrderedWriter:
    """Runs writes in submission order on one background thread, with a short queue."""

    def __init__(self, depth: int = 2) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1)
        self._pending: deque[Future[None]] = deque()
        self._depth = depth

    def submit(self, write: Callable[..., None], *args: object) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(write, *args))

    def __enter__(self) -> OrderedWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._executor.shutdown(cancel_futures=True)
