"""Gateway adapters: landed bytes in, canonical request rows and rejected rows out (pure functions).

The row shapes they produce (CANONICAL_SCHEMA, REJECTED_SCHEMA, the token buckets) are the lake's
(`storage.schemas`); one module per gateway format, the token semantics of each in docs/formats/.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.adapters.lines import FileProblem, LongLine, TextChunk, WholeText
from pipelines.storage.schemas import (
    CANONICAL_COLUMNS,
    CANONICAL_SCHEMA,
    EARLIEST_DATE,
    REJECTED_SCHEMA,
    TOKEN_BUCKETS,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "CANONICAL_SCHEMA",
    "EARLIEST_DATE",
    "REJECTED_SCHEMA",
    "TOKEN_BUCKETS",
    "AdapterResult",
    "UnreadableFile",
    "judged_chunks",
    "judged_whole",
    "lone_surrogate_problem",
    "merge_skipped",
    "reject_file_problem",
    "reject_long_line",
]

def merge_skipped(parts) -> tuple[tuple[str, int], ...]:
    """Skipped counts by reason, added up over parts of a file; sorted by reason."""
    total: dict[str, int] = {}
    for skipped in parts:
        for reason, count in skipped:
            total[reason] = total.get(reason, 0) + count
    return tuple(sorted((reason, count) for reason, count in total.items() if count))


class UnreadableFile(ValueError):
    """A landed file that cannot be read at all (its reason becomes the file's error in the manifest)."""


@dataclass(frozen=True)
class AdapterResult:
    """What an adapter made of one file: canonical rows, rejected rows, and the records it read and skipped
    (records that are not provider calls, such as an OTel span of a tool or a database, counted by reason)."""

    rows: pa.Table
    rejected: pa.Table
    skipped: tuple[tuple[str, int], ...] = ()

    @property
    def rows_skipped(self) -> int:
        return sum(count for _, count in self.skipped)

    @property
    def rows_read(self) -> int:
        return self.rows.num_rows + self.rejected.num_rows + self.rows_skipped

    @classmethod
    def empty(cls) -> "AdapterResult":
        return cls(rows=CANONICAL_SCHEMA.empty_table(), rejected=REJECTED_SCHEMA.empty_table())

    @classmethod
    def concat(cls, parts: list["AdapterResult"]) -> "AdapterResult":
        """One result from the results of a file's chunks, in order."""
        if not parts:
            return cls.empty()
        return cls(rows=pa.concat_tables([p.rows for p in parts]), rejected=pa.concat_tables([p.rejected for p in parts]),
                   skipped=merge_skipped(p.skipped for p in parts))

    def shifted(self, byte_offset: int) -> "AdapterResult":
        """The same result with rejected rows' byte offsets moved by `byte_offset` (a chunk's place in its file)."""
        if not byte_offset or not self.rejected.num_rows:
            return self
        column = pc.add(self.rejected["byte_offset"], pa.scalar(byte_offset, pa.int64()))
        return AdapterResult(self.rows, self.rejected.set_column(self.rejected.schema.get_field_index("byte_offset"), "byte_offset", column),
                             self.skipped)

    def without_offsets(self) -> "AdapterResult":
        """The same result with byte offsets and lengths null (rows that did not come from a text file)."""
        if not self.rejected.num_rows:
            return self
        rejected = self.rejected
        for name in ("byte_offset", "byte_length"):
            rejected = rejected.set_column(rejected.schema.get_field_index(name), name, pa.nulls(rejected.num_rows, pa.int64()))
        return AdapterResult(self.rows, rejected, self.skipped)

    @classmethod
    def from_judged(cls, judged: pa.Table, *, source: str, text: bytes) -> "AdapterResult":
        """Split a judged table (one `problem` column, 'field|reason' or null) into rows and rejections."""
        bad = pc.is_valid(judged["problem"])
        good = judged.filter(pc.invert(bad))
        rows = good.append_column("source", pa.array([source] * good.num_rows, pa.string()))
        rows = rows.rename_columns(["source_row" if n == "line_no" else n for n in rows.column_names])
        rows = rows.select(list(CANONICAL_COLUMNS)).cast(CANONICAL_SCHEMA)
        rejected = judged.filter(bad)
        parts = pc.split_pattern(rejected["problem"], "|", max_splits=1)
        rejected_table = pa.table(
            {
                "row_number": rejected["line_no"],
                "byte_offset": rejected["byte_offset"],
                "byte_length": rejected["byte_length"],
                "field": pc.list_element(parts, 0),
                "reason": pc.list_element(parts, 1),
                "request_id": rejected["request_id"],
                "user_id": rejected["user_id"],
                "record": rejected["record"],
                "record_sha256": _hashes(text, rejected["byte_offset"], rejected["byte_length"]),
            }
        ).cast(REJECTED_SCHEMA)
        return cls(rows=rows, rejected=_lone_surrogates_named(rejected_table, text))


_EXPLAINED = 1000
"""At most this many unparsable lines of a chunk are read again to say which field made them so."""


def _lone_surrogates_named(rejected: pa.Table, text: bytes) -> pa.Table:
    """Rejected rows whose line is JSON only to a lenient parser, a string holding a lone UTF-16 surrogate escape
    (`"\\ud800"`, which DuckDB's parser refuses and no Unicode text can hold), with that string's field and escape
    named instead of a bare 'invalid JSON'. Other unparsable lines keep their reason."""
    bare = pc.and_(pc.equal(rejected["reason"], "invalid JSON"), pc.equal(rejected["field"], ""))
    indices = pc.indices_nonzero(pc.fill_null(bare, False)).to_pylist()[:_EXPLAINED]
    if not indices:
        return rejected
    fields, reasons = rejected["field"].to_pylist(), rejected["reason"].to_pylist()
    offsets, lengths = rejected["byte_offset"].to_pylist(), rejected["byte_length"].to_pylist()
    for i in indices:
        if offsets[i] is None or lengths[i] is None:
            continue
        named = lone_surrogate_problem(text[offsets[i] : offsets[i] + lengths[i]])
        if named is not None:
            fields[i], reasons[i] = named
    rejected = rejected.set_column(rejected.schema.get_field_index("field"), "field", pa.array(fields, pa.string()))
    return rejected.set_column(rejected.schema.get_field_index("reason"), "reason", pa.array(reasons, pa.string()))


def lone_surrogate_problem(line: bytes) -> tuple[str, str] | None:
    """(field, reason) for a line DuckDB cannot parse because a string in it holds a lone surrogate escape, or None
    when the line is not JSON to Python's parser either or holds none."""
    found = _lone_surrogate(line)
    if found is None:
        return None
    field, code = found
    return field, f"invalid JSON: a string holds a lone surrogate escape (\\u{code:04x}), not a Unicode character"


def _lone_surrogate(line: bytes) -> tuple[str, int] | None:
    """(field path, code point) of the first string (value or key) in `line` holding a lone surrogate, or None when
    the line is not JSON even to Python's parser or holds none. A key's own surrogate is shown escaped."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            children = []
            for key, child in item.items():
                named = f"{path}.{key}" if path else key
                code = _surrogate_in(key)
                if code is not None:
                    return _shown(named), code
                children.append((named, child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{path}[{n}]", child) for n, child in enumerate(item)]))
        elif isinstance(item, str):
            code = _surrogate_in(item)
            if code is not None:
                return _shown(path), code
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_in(text: str) -> int | None:
    found = _SURROGATE.search(text)
    return None if found is None else ord(found.group())


def _shown(path: str) -> str:
    """A field path as text storable anywhere: surrogates escaped, at most 200 characters."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")[:200]


def _hashes(text: bytes, offsets: pa.ChunkedArray, lengths: pa.ChunkedArray) -> pa.Array:
    """SHA-256 of each rejected line's bytes, so a record never kept as text can still be matched."""
    pairs = zip(offsets.to_pylist(), lengths.to_pylist())
    return pa.array([hashlib.sha256(text[o : o + n]).hexdigest() for o, n in pairs], pa.string())


def reject_file_problem(result: AdapterResult, problem: FileProblem, *, last_line: int) -> AdapterResult:
    """Add one rejected row for a problem with the file itself (say a truncated gzip stream)."""
    row = pa.table(
        {
            "row_number": [last_line + 1],
            "byte_offset": [problem.byte_offset],
            "byte_length": [None],
            "field": [""],
            "reason": [problem.reason],
            "request_id": [None],
            "user_id": [None],
            "record": [None],
            "record_sha256": [None],
        }
    ).cast(REJECTED_SCHEMA)
    return AdapterResult(rows=result.rows, rejected=pa.concat_tables([result.rejected, row]), skipped=result.skipped)


def reject_long_line(line: LongLine) -> AdapterResult:
    """One rejected row for a line longer than the line limit: its place, length and hash, never its text."""
    row = pa.table(
        {
            "row_number": [line.line_no],
            "byte_offset": [line.byte_offset],
            "byte_length": [line.byte_length],
            "field": [""],
            "reason": [line.reason],
            "request_id": [None],
            "user_id": [None],
            "record": [None],
            "record_sha256": [line.sha256],
        }
    ).cast(REJECTED_SCHEMA)
    return AdapterResult(rows=CANONICAL_SCHEMA.empty_table(), rejected=row)


def judged_chunks(
    items: Iterable[tuple[TextChunk, pa.Table] | LongLine | FileProblem], judge: Callable[[pa.Table, bytes], AdapterResult]
) -> Iterator[AdapterResult]:
    """A file's results chunk by chunk, from its chunks (each with its numbered lines), long lines and problem
    (`lines.text_chunks`): `judge(lines, text)` judges a chunk's lines, a chunk of blank lines is not judged,
    long lines and the file's problem become rejected rows, and offsets are those of the whole file."""
    lines_read = 0
    for item in items:
        if isinstance(item, FileProblem):
            yield reject_file_problem(AdapterResult.empty(), item, last_line=lines_read)
        elif isinstance(item, LongLine):
            lines_read = item.line_no
            yield reject_long_line(item)
        else:
            chunk, lines = item
            lines_read = chunk.first_line_no - 1 + chunk.line_count()
            if lines.num_rows:
                yield judge(lines, chunk.text).shifted(chunk.byte_offset)


def judged_whole(whole: WholeText, result: AdapterResult, lines: pa.Table) -> AdapterResult:
    """The result of judging the `lines` of `whole.text` completed: byte offsets of the file (past the lines cut
    out), a rejected row for each line too long to read, one for the file's problem after the last line."""
    rejected = result.rejected
    if whole.cuts and rejected.num_rows:
        offsets = whole.file_offsets(rejected["byte_offset"])
        rejected = rejected.set_column(rejected.schema.get_field_index("byte_offset"), "byte_offset", offsets)
    if whole.long_lines:
        rejected = pa.concat_tables([rejected, *(reject_long_line(line).rejected for line in whole.long_lines)])
        rejected = rejected.sort_by([("row_number", "ascending")])
    result = AdapterResult(result.rows, rejected, result.skipped)
    if whole.problem is not None:
        last = pc.max(lines["line_no"]).as_py() if lines.num_rows else 0
        result = reject_file_problem(result, whole.problem, last_line=max([last, *(line.line_no for line in whole.long_lines)]))
    return result
