"""Split landed bytes into numbered lines, keeping byte offsets, without per-line Python."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class FileProblem:
    """A problem with the file as a whole (not one line): truncated gzip, unreadable bytes."""

    reason: str
    byte_offset: int


def decompress(data: bytes, name: str) -> tuple[bytes, FileProblem | None]:
    """Gunzip `.gz` files (any case) member by member; at a truncated or corrupt member, keep what
    decompressed before it and report the byte where that member starts."""
    if not name.lower().endswith(".gz"):
        return data, None
    try:
        return gzip.decompress(data), None
    except (EOFError, OSError, zlib.error):
        pass
    kept: list[bytes] = []
    offset = 0
    while offset < len(data):
        inflater = zlib.decompressobj(wbits=31)
        try:
            chunk = inflater.decompress(data[offset:])
        except zlib.error:
            chunk = None
        if chunk is None or not inflater.eof:
            kept.append(chunk or b"")
            size = sum(len(k) for k in kept)
            return b"".join(kept), FileProblem(f"gzip stream is truncated or corrupt after {size} decompressed bytes", offset)
        kept.append(chunk)
        offset = len(data) - len(inflater.unused_data)
    return b"".join(kept), None


def split_lines(data: bytes) -> pa.Table:
    """One row per non-blank line: line_no (1-based), byte_offset, byte_length, line (null when not UTF-8)."""
    start = len(BOM) if data.startswith(BOM) else 0
    buffer = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(buffer == ord("\n"))
    starts = np.concatenate(([start], breaks + 1)).astype(np.int64)
    ends = np.concatenate((breaks, [len(data)])).astype(np.int64)
    keep = starts >= start
    starts, ends = starts[keep], ends[keep]
    line_no = np.arange(1, len(starts) + 1, dtype=np.int64)
    lengths = ends - starts
    raw = _slices(data, starts, ends)
    text = _as_utf8(raw)
    table = pa.table(
        {
            "line_no": line_no,
            "byte_offset": starts,
            "byte_length": lengths,
            "line": text,
        }
    )
    stripped = pc.utf8_trim_whitespace(table["line"])
    blank = pc.fill_null(pc.equal(pc.utf8_length(stripped), 0), False)
    return table.filter(pc.invert(blank))


def _slices(data: bytes, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """A binary array of data[start:end] per line, built from offsets rather than line by line."""
    keep = np.zeros(len(data), dtype=bool)
    keep[starts[0] if len(starts) else len(data) :] = True
    keep[ends[:-1]] = False
    packed = np.frombuffer(data, dtype=np.uint8)[keep].tobytes()
    offsets = np.concatenate(([0], np.cumsum(ends - starts))).astype(np.int64)
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(packed)]
    )


def _as_utf8(raw: pa.Array) -> pa.Array:
    """Cast to UTF-8 text; lines that are not valid UTF-8 become null so the caller can reject them by row."""
    try:
        return raw.cast(pa.large_string())
    except pa.ArrowInvalid:
        values = []
        for value in raw.to_pylist():
            try:
                values.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                values.append(None)
        return pa.array(values, type=pa.large_string())
