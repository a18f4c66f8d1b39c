"""Gateway adapters: landed bytes in, canonical request rows and rejected rows out (pure functions).

The row shapes they produce (CANONICAL_SCHEMA, REJECTED_SCHEMA, the token buckets) are the lake's
(`storage.schemas`); one module per gateway format, the token semantics of each in docs/formats/.
"""

from __future__ import annotations

import hashlib
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
        return cls(rows=rows, rejected=rejected_table)


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
