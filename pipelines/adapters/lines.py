"""Split landed bytes into numbered lines, keeping byte offsets, without per-line Python; hand them to DuckDB
in batches it scans on every core (`scannable`).

Big files are read as a stream of text chunks (`text_chunks`): each chunk ends at a line break, and
carries the number of its first line and its byte offset in the decompressed file, so a file of any
size is judged in bounded memory and line numbers and offsets stay those of the whole file.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BOM = b"\xef\xbb\xbf"
CHUNK_BYTES = 64 * 2**20
"""Decompressed bytes per chunk: about 100k-150k gateway lines, a few hundred MB once judged."""
SCAN_BATCH_ROWS = 16_384
"""Rows per Arrow batch handed to DuckDB: it scans one batch per thread, so one big batch would use one core."""
_COMPRESSED_STEP = 4 * 2**20
_WHITESPACE_FIRST_BYTES = np.array([*range(9, 14), *range(28, 33)], dtype=np.uint8)


T = TypeVar("T")


def prefetch(items: Iterator[T]) -> Iterator[T]:
    """The same items, the next one produced on a second thread while the caller works on this one.

    For decompressing and splitting chunk n+1 (zlib, numpy and Arrow release the GIL) while DuckDB
    judges chunk n: two cores busy, at most two chunks in memory.
    """
    done = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        ahead = pool.submit(next, items, done)
        while True:
            item = ahead.result()
            if item is done:
                return
            ahead = pool.submit(next, items, done)
            yield item


@dataclass(frozen=True)
class FileProblem:
    """A problem with the file as a whole (not one line): truncated gzip, unreadable bytes."""

    reason: str
    byte_offset: int


@dataclass(frozen=True)
class TextChunk:
    """Whole lines of a file: their text, the number of the first line, and where the text starts in the file."""

    text: bytes
    first_line_no: int
    byte_offset: int

    def lines(self) -> pa.Table:
        return split_lines(self.text, first_line_no=self.first_line_no, bom=self.byte_offset == 0)

    def line_count(self) -> int:
        """Lines this chunk numbers (blank ones included), so the next chunk continues the count."""
        return self.text.count(b"\n") + (0 if self.text.endswith(b"\n") else 1)


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


def text_chunks(data: bytes, name: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[TextChunk | FileProblem]:
    """The file's text as chunks of whole lines (gunzipped for `.gz` names), then a FileProblem if the
    gzip stream broke: the same lines, offsets and problem as `decompress` + `split_lines` on the whole
    file, except that a member corrupt mid-way keeps the text decompressed before the corruption."""
    line_no, offset = 1, 0
    pending = b""
    for piece in _decompressed_pieces(data, name):
        if isinstance(piece, FileProblem):
            if pending:
                yield TextChunk(pending, line_no, offset)
            yield piece
            return
        pending += piece
        if len(pending) < chunk_bytes:
            continue
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue
        chunk = TextChunk(pending[: cut + 1], line_no, offset)
        yield chunk
        line_no += chunk.line_count()
        offset += cut + 1
        pending = pending[cut + 1 :]
    if pending or offset == 0:
        yield TextChunk(pending, line_no, offset)


def _decompressed_pieces(data: bytes, name: str) -> Iterator[bytes | FileProblem]:
    """Decompressed bytes in pieces, member by member; a FileProblem where a member is cut or corrupt."""
    if not name.lower().endswith(".gz"):
        for start in range(0, max(len(data), 1), CHUNK_BYTES):
            yield data[start : start + CHUNK_BYTES]
        return
    view = memoryview(data)
    member_start, produced = 0, 0
    while member_start < len(data):
        if data[member_start] == 0 and data.count(b"\0", member_start) == len(data) - member_start:
            return
        inflater = zlib.decompressobj(wbits=31)
        position = member_start
        try:
            while not inflater.eof and position < len(data):
                out = inflater.decompress(view[position : position + _COMPRESSED_STEP])
                position += _COMPRESSED_STEP
                produced += len(out)
                yield out
        except zlib.error:
            yield FileProblem(f"gzip stream is truncated or corrupt after {produced} decompressed bytes", member_start)
            return
        if not inflater.eof:
            tail = inflater.flush()
            produced += len(tail)
            yield tail
            yield FileProblem(f"gzip stream is truncated or corrupt after {produced} decompressed bytes", member_start)
            return
        member_start = len(data) - len(inflater.unused_data)


def split_lines(data: bytes, first_line_no: int = 1, bom: bool = True) -> pa.Table:
    """One row per non-blank line: line_no (from first_line_no), byte_offset, byte_length, line (null when not UTF-8).

    Offsets are within `data`. A leading byte-order mark is skipped when `bom` (the start of a file).
    """
    start = len(BOM) if bom and data.startswith(BOM) else 0
    if not data.endswith(b"\n"):
        data += b"\n"
    buffer = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(buffer == ord("\n"))
    starts = np.concatenate(([start], breaks[:-1] + 1)).astype(np.int64)
    lengths = breaks - starts
    line_no = np.arange(first_line_no, first_line_no + len(starts), dtype=np.int64)
    with_breaks = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(starts), [None, pa.py_buffer(np.append(starts, len(data))), pa.py_buffer(data)]
    )
    text = _as_utf8(pc.binary_slice(with_breaks, 0, -1))
    table = pa.table({"line_no": line_no, "byte_offset": starts, "byte_length": lengths, "line": text})
    return table.filter(pa.array(~_blank(buffer, starts, lengths, text)))


def _blank(buffer: np.ndarray, starts: np.ndarray, lengths: np.ndarray, text: pa.Array) -> np.ndarray:
    """Lines that are empty or only whitespace; only lines starting with a space-like or non-ASCII byte are looked at."""
    blank = lengths == 0
    first = buffer[np.minimum(starts, len(buffer) - 1)]
    maybe = np.flatnonzero(~blank & (np.isin(first, _WHITESPACE_FIRST_BYTES) | (first >= 0x80)))
    if len(maybe):
        candidates = text.take(pa.array(maybe))
        empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(candidates)), 0)
        blank[maybe] = pc.fill_null(empty, False).to_numpy(zero_copy_only=False)
    return blank


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


def scannable(table: pa.Table) -> pa.Table:
    """The same table in batches of SCAN_BATCH_ROWS, for DuckDB to scan on every thread."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_BATCH_ROWS), table.schema)


def count_lines(data: bytes, name: str) -> int | None:
    """How many lines the file holds (a last line without a break counts), gunzipped in pieces for `.gz`
    names; None when the gzip stream is cut or corrupt."""
    lines, last = 0, b"\n"
    for piece in _decompressed_pieces(data, name):
        if isinstance(piece, FileProblem):
            return None
        if piece:
            lines += piece.count(b"\n")
            last = piece[-1:]
    return lines + (0 if last == b"\n" else 1)
