"""Split landed bytes into numbered lines, keeping byte offsets, without per-line Python; hand them to DuckDB
in batches it scans on every core (`scannable`).

Big files are read as a stream of text chunks (`text_chunks`): each chunk ends at a line break, and
carries the number of its first line and its byte offset in the decompressed file, so a file of any
size is judged in bounded memory and line numbers and offsets stay those of the whole file. Memory is
bounded by the line limit (`settings.max_line_bytes`), not by the input: gzip is inflated at most
PIECE_BYTES at a time, a line longer than the limit is never held (it becomes a `LongLine`: its place,
length and SHA-256, hashed as it streams by), a chunk holds at most CHUNK_LINES lines (a file of blank
lines is skipped chunk by chunk), and a format that judges a file at once reads at most
`whole_text_bytes` of it.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.settings import MAX_LINE_BYTES_ENV, max_line_bytes

BOM = b"\xef\xbb\xbf"
CHUNK_BYTES = 64 * 2**20
"""Decompressed bytes per chunk: about 100k-150k gateway lines, a few hundred MB once judged."""
CHUNK_LINES = 2**20
"""Most lines (blank ones included) a chunk holds before it is cut: short or blank lines cannot make a chunk's
per-line arrays big."""
PIECE_BYTES = 2**20
"""Most bytes decompressed at once (zlib's max_length): a gzip bomb inflates one piece at a time."""
WHOLE_TEXT_LINES = 32
"""A format judged a whole file at once (OTel, LiteLLM CSV) reads at most this many times the line limit."""
SCAN_BATCH_ROWS = 16_384
"""Rows per Arrow batch handed to DuckDB: it scans one batch per thread, so one big batch would use one core."""
_COMPRESSED_STEP = 256 * 2**10
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
class LongLine:
    """A line longer than the line limit: never held whole, kept as its place, its length and the SHA-256 of its
    bytes (as `split_lines` would number and measure it: without its line break, without a leading byte-order mark)."""

    line_no: int
    byte_offset: int
    byte_length: int
    sha256: str
    limit: int

    @property
    def reason(self) -> str:
        return f"line is longer than {self.limit} bytes (the {MAX_LINE_BYTES_ENV} limit); not read"


@dataclass(frozen=True)
class TextChunk:
    """Whole lines of a file: their text, the number of the first line, and where the text starts in the file."""

    text: bytes
    first_line_no: int
    byte_offset: int

    def lines(self) -> pa.Table:
        if not self.text or self.text.isspace():  # only blank lines: nothing to number, however many there are
            return _LINES_SCHEMA.empty_table()
        return split_lines(self.text, first_line_no=self.first_line_no, bom=self.byte_offset == 0)

    def line_count(self) -> int:
        """Lines this chunk numbers (blank ones included), so the next chunk continues the count."""
        return self.text.count(b"\n") + (0 if self.text.endswith(b"\n") else 1)


def decompress(data: bytes, name: str, limit: int | None = None) -> tuple[bytes, FileProblem | None]:
    """Gunzip `.gz` files (any case) member by member, a piece at a time; at a truncated or corrupt member, keep
    what decompressed before the break and report the byte where that member starts. At most
    `whole_text_bytes(limit)` is inflated: past that the text ends at the last line break and a FileProblem says
    the rest was not read (a small gzip cannot inflate into all of memory)."""
    if not name.lower().endswith(".gz"):
        return data, None
    most = whole_text_bytes(limit)
    text = bytearray()
    for piece in _decompressed_pieces(data, name):
        if isinstance(piece, FileProblem):
            cut = text.rfind(b"\n") + 1
            dropped = len(text) - cut
            del text[cut:]
            return bytes(text), _unfinished(piece, dropped)
        if len(text) + len(piece) > most:
            text += piece[: most - len(text)]
            del text[text.rfind(b"\n") + 1 :]
            return bytes(text), _too_long(most, len(text))
        text += piece
    return bytes(text), None


def text_chunks(
    data: bytes, name: str, chunk_bytes: int = CHUNK_BYTES, limit: int | None = None
) -> Iterator[TextChunk | LongLine | FileProblem]:
    """The file's text as chunks of whole lines (gunzipped for `.gz` names), in file order, with a LongLine in
    place of each line longer than `limit` (default: the setting), then a FileProblem if the gzip stream broke:
    the same lines, offsets and problem as `decompress` + `split_lines` on the whole file, except that a member
    corrupt mid-way keeps the text decompressed before the corruption. No chunk holds a line over the limit."""
    splitter = _Splitter(limit or max_line_bytes(), chunk_bytes)
    for piece in _decompressed_pieces(data, name):
        if isinstance(piece, FileProblem):
            dropped = splitter.drop_unfinished()
            yield from splitter.finish(at_eof=False)
            yield _unfinished(piece, dropped)
            return
        yield from splitter.feed(piece)
    yield from splitter.finish(at_eof=True)


def _unfinished(problem: FileProblem, dropped: int) -> FileProblem:
    """A stream that broke `dropped` bytes into a line cut it short (4800.00 read as 48): it is not read, and it says so."""
    return problem if not dropped else FileProblem(f"{problem.reason}; the {dropped:,} bytes after the last line break, a line it cut short, are not read", problem.byte_offset)


def numbered(items: Iterator[TextChunk | LongLine | FileProblem]) -> Iterator[tuple[TextChunk, pa.Table] | LongLine | FileProblem]:
    """The same items, each chunk with its numbered lines (`TextChunk.lines`), for `prefetch` to split on its thread."""
    for item in items:
        yield (item, item.lines()) if isinstance(item, TextChunk) else item


class _Splitter:
    """Pieces of text in, chunks of whole lines and LongLines out (see `text_chunks`).

    `pending` holds the text not yet handed out, from file offset `offset` and line `line_no`; `checked` is
    where its last, unfinished line starts (every line before it is within the limit). A line that grows over
    the limit before its break is streamed through a hash (`skipping`) instead of being kept.
    """

    def __init__(self, limit: int, chunk_bytes: int):
        self.limit, self.chunk_bytes = limit, chunk_bytes
        self.pending = bytearray()
        self.pending_lines = 0
        self.checked = 0
        self.line_no, self.offset = 1, 0
        self.skipping: _Skipped | None = None
        self.handed_out = False

    def feed(self, piece: bytes) -> Iterator[TextChunk | LongLine]:
        if self.skipping is not None:
            cut = piece.find(b"\n")
            if cut < 0:
                self.skipping.add(piece)
                return
            self.skipping.add(piece[:cut])
            yield self._skipped()
            self.offset += 1  # the long line's break
            piece = piece[cut + 1 :]
        self.pending += piece
        self.pending_lines += piece.count(b"\n")
        yield from self._cut_long_lines()
        if self.skipping is None and (len(self.pending) >= self.chunk_bytes or self.pending_lines >= CHUNK_LINES):
            cut = self.pending.rfind(b"\n")
            if cut >= 0:
                yield self._chunk(cut + 1)

    def drop_unfinished(self) -> int:
        """Forget the text after the last line break (a line cut short); its length. A long line being hashed is left
        to `finish`, which rejects it as long."""
        if self.skipping is not None:
            return 0
        cut = self.pending.rfind(b"\n") + 1
        dropped = len(self.pending) - cut
        del self.pending[cut:]
        self.checked = min(self.checked, cut)
        return dropped

    def finish(self, at_eof: bool) -> Iterator[TextChunk | LongLine]:
        if self.skipping is not None:
            yield self._skipped()
        elif self.pending or (at_eof and not self.handed_out):
            yield self._chunk(len(self.pending))

    def _cut_long_lines(self) -> Iterator[TextChunk | LongLine]:
        """Hand out every line over the limit among the lines not checked yet, with the whole lines before it."""
        while True:
            found = _long_line(self.pending, self.checked, self.limit)
            if found is None:
                self.checked = self.pending.rfind(b"\n", self.checked) + 1 or self.checked
                return
            start, end = found
            if start:
                yield self._chunk(start)
            skipped = _Skipped(self.line_no, self.offset, self.limit, bom=self.offset == 0 and self.pending.startswith(BOM))
            if end < 0:  # the line goes on past what has been read: hash it as it comes
                skipped.add(self.pending)
                self.pending.clear()
                self.pending_lines, self.checked = 0, 0
                self.skipping = skipped
                return
            skipped.add(self.pending[: end - start])
            del self.pending[: end - start + 1]
            self.skipping = skipped
            yield self._skipped()
            self.offset += 1  # the long line's break
            self.pending_lines -= 1
            self.checked = 0

    def _chunk(self, end: int) -> TextChunk:
        """The first `end` bytes of pending (whole lines) as a chunk."""
        chunk = TextChunk(bytes(self.pending[:end]), self.line_no, self.offset)
        del self.pending[:end]
        lines = chunk.text.count(b"\n")
        self.pending_lines -= lines
        self.checked = max(self.checked - end, 0)
        self.line_no += lines if chunk.text.endswith(b"\n") else lines + 1
        self.offset += end
        self.handed_out = True
        return chunk

    def _skipped(self) -> LongLine:
        skipped, self.skipping = self.skipping, None
        self.line_no += 1
        self.offset += skipped.length
        self.handed_out = True
        return skipped.line()


class _Skipped:
    """A line over the limit as it streams by: where it starts, how long it is so far, and its running SHA-256."""

    def __init__(self, line_no: int, offset: int, limit: int, bom: bool):
        self.line_no, self.start, self.limit = line_no, offset, limit
        self.length = 0
        self.bom = bom
        self.hash = hashlib.sha256()

    def add(self, data: bytes | bytearray) -> None:
        self.hash.update(data[len(BOM) :] if self.bom and self.length == 0 else data)
        self.length += len(data)

    def line(self) -> LongLine:
        skip = len(BOM) if self.bom else 0
        return LongLine(self.line_no, self.start + skip, self.length - skip, self.hash.hexdigest(), self.limit)


def _long_line(buffer: bytearray, start: int, limit: int) -> tuple[int, int] | None:
    """The first line starting at or after `start` that is longer than `limit`, as (start, end) in `buffer`, end
    -1 when it has no break yet; None when there is none. Nothing is looked at when the bytes after `start` are
    fewer than the limit (the common case: a piece is smaller than the limit)."""
    if len(buffer) - start <= limit:
        return None
    view = np.frombuffer(buffer, dtype=np.uint8)[start:]
    breaks = np.flatnonzero(view == ord("\n"))
    size = len(view)
    del view  # a live view would keep the bytearray from being resized
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [size]))
    long = np.flatnonzero(ends - starts > limit)
    if not len(long):
        return None
    first = int(long[0])
    return start + int(starts[first]), start + int(ends[first]) if first < len(breaks) else -1


NOT_GZIP = "file is not gzip: its name ends .gz but it does not start with gzip's bytes 1f 8b"


def _decompressed_pieces(data: bytes, name: str) -> Iterator[bytes | FileProblem]:
    """Decompressed bytes in pieces of at most PIECE_BYTES, member by member; a FileProblem where a member is
    cut or corrupt. However much a member inflates, no more than one piece is made at a time."""
    if not name.lower().endswith(".gz"):
        for start in range(0, max(len(data), 1), PIECE_BYTES):
            yield data[start : start + PIECE_BYTES]
        return
    if data and not data.startswith(b"\x1f\x8b"):
        yield FileProblem(NOT_GZIP, 0)
        return
    view = memoryview(data)
    member_start, produced = 0, 0
    while member_start < len(data):
        if data[member_start] == 0 and data.count(b"\0", member_start) == len(data) - member_start:
            return
        inflater = zlib.decompressobj(wbits=31)
        position = member_start
        try:
            while not inflater.eof:
                if inflater.unconsumed_tail:
                    out = inflater.decompress(inflater.unconsumed_tail, PIECE_BYTES)
                elif position < len(data):
                    out = inflater.decompress(view[position : position + _COMPRESSED_STEP], PIECE_BYTES)
                    position += _COMPRESSED_STEP
                else:
                    out = inflater.decompress(b"", PIECE_BYTES)  # output zlib still holds, if any
                    if not out:
                        break
                produced += len(out)
                if out:
                    yield out
        except zlib.error:
            yield FileProblem(f"gzip stream is truncated or corrupt after {produced} decompressed bytes", member_start)
            return
        if not inflater.eof:
            yield FileProblem(f"gzip stream is truncated or corrupt after {produced} decompressed bytes", member_start)
            return
        member_start = min(position, len(data)) - len(inflater.unused_data)


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


_LINES_SCHEMA = pa.schema(
    {"line_no": pa.int64(), "byte_offset": pa.int64(), "byte_length": pa.int64(), "line": pa.large_string()}
)


def scannable(table: pa.Table) -> pa.Table:
    """The same table in batches of SCAN_BATCH_ROWS, for DuckDB to scan on every thread."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_BATCH_ROWS), table.schema)


def count_lines(data: bytes, name: str, limit: int | None = None, samples: dict[int, bytes] | None = None) -> int | None:
    """How many lines the file holds (a last line without a break counts), gunzipped in pieces for `.gz`
    names; None when the gzip stream is cut or corrupt, or a line is longer than `limit` (default: the setting).

    With `samples`, also keeps one line per piece (the first that starts and ends inside it), by its 0-based
    line number: a whole-file read checks against them that its rows came out in file order."""
    limit = limit or max_line_bytes()
    lines, last, running = 0, b"\n", 0
    for piece in _decompressed_pieces(data, name):
        if isinstance(piece, FileProblem):
            return None
        if not piece:
            continue
        first = piece.find(b"\n")
        if first < 0:
            running += len(piece)
        else:
            if running + first > limit or (len(piece) > limit and _long_line(bytearray(piece), 0, limit) is not None):
                return None
            running = len(piece) - piece.rfind(b"\n") - 1
        if running > limit:
            return None
        if samples is not None and first >= 0:
            end = piece.find(b"\n", first + 1)
            if end > first + 1:
                samples[lines + 1] = bytes(piece[first + 1 : end])
        lines += piece.count(b"\n")
        last = piece[-1:]
    return lines + (0 if last == b"\n" else 1)


def whole_text_bytes(limit: int | None = None) -> int:
    """The most text a format judged a whole file at once reads: WHOLE_TEXT_LINES times the line limit."""
    return WHOLE_TEXT_LINES * (limit or max_line_bytes())


@dataclass(frozen=True)
class WholeText:
    """A file read whole, for a format that judges a file at once (OTel, LiteLLM CSV), in bounded memory.

    `text` is the file's text (gunzipped) with each line over the line limit cut out but its line break kept,
    so every line keeps its number; `lines` are its numbered lines (as `split_lines` would give them; offsets
    in `text`); `long_lines` the lines cut out; `problem` a broken gzip stream, or the text growing past
    `whole_text_bytes` (then it ends at the last line break before, and the rest is not read).
    """

    text: bytes
    lines: pa.Table
    long_lines: tuple[LongLine, ...]
    problem: FileProblem | None
    cuts: tuple[tuple[int, int], ...] = ()
    """(offset in text of a cut-out line's break, bytes cut out before that break in all) for each long line."""

    def file_offsets(self, offsets: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Offsets in `text` as offsets in the file (past each cut-out line, by the bytes cut out)."""
        values = pa.chunked_array([offsets]) if isinstance(offsets, pa.Array) else offsets
        if not self.cuts or len(values) == 0:
            return values.combine_chunks()
        at = np.array([c[0] for c in self.cuts], dtype=np.int64)
        cut = np.array([0, *(c[1] for c in self.cuts)], dtype=np.int64)
        raw = values.to_numpy(zero_copy_only=False)
        known = ~np.isnan(raw) if raw.dtype.kind == "f" else np.ones(len(raw), dtype=bool)
        filled = np.where(known, raw, 0).astype(np.int64)
        moved = filled + cut[np.searchsorted(at, filled, side="right")]
        return pa.array(moved, pa.int64(), mask=~known)


def read_whole(data: bytes, name: str, limit: int | None = None) -> WholeText:
    """The file (gunzipped for `.gz` names) as a WholeText: read piece by piece (`text_chunks`), lines over the
    limit hashed and cut out, at most `whole_text_bytes(limit)` of text kept."""
    limit = limit or max_line_bytes()
    most = whole_text_bytes(limit)
    text = bytearray()
    tables: list[pa.Table] = []
    long_lines: list[LongLine] = []
    cuts: list[tuple[int, int]] = []
    problem = None
    for item in text_chunks(data, name, limit=limit):
        if isinstance(item, FileProblem):
            problem = item
            break
        if isinstance(item, LongLine):
            long_lines.append(item)
            cut = item.byte_offset + item.byte_length - len(text)  # the line (with a byte-order mark before it)
            cuts.append((len(text), cut))
            text += b"\n"
            continue
        if len(text) + len(item.text) > most:
            kept = item.text[: most - len(text)]
            kept = kept[: kept.rfind(b"\n") + 1]
            item = TextChunk(kept, item.first_line_no, item.byte_offset)
            problem = _too_long(most, item.byte_offset + len(kept))
        lines = item.lines()
        offsets = pc.add(lines["byte_offset"], pa.scalar(len(text), pa.int64()))
        tables.append(lines.set_column(lines.schema.get_field_index("byte_offset"), "byte_offset", offsets))
        text += item.text
        if problem is not None:
            break
    lines = pa.concat_tables(tables).combine_chunks() if tables else _LINES_SCHEMA.empty_table()
    return WholeText(bytes(text), lines, tuple(long_lines), problem, tuple(cuts))


def _too_long(most: int, byte_offset: int) -> FileProblem:
    return FileProblem(
        f"file is longer than {most} bytes decompressed ({WHOLE_TEXT_LINES} times the {MAX_LINE_BYTES_ENV} limit, "
        "the most this format reads of one file); the rest was not read",
        byte_offset,
    )
