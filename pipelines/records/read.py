"""Landed record files that are not gateway logs (bills, outcomes, revenue, GPU capacity): readers and judging.

Readers turn JSON Lines, JSON arrays, CSV and Parquet (gzip allowed) into one JSON text `record` per row; a
format then types and judges the records in one DuckDB query (`judge`), the same way for every container
format: a row with a problem is rejected with its row number, field and reason, the rest of the file loads.
A `RecordSource` says where a source lands, its formats, its lake schema and its duplicate key;
`pipelines.ingest.records` ingests it with the gateway's rules.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.adapters import REJECTED_SCHEMA, lone_surrogate_problem
from pipelines.adapters.lines import decompress, split_lines
from pipelines.adapters.sql import LINE_PROBLEM
from pipelines.settings import clipped, unique_keys
from pipelines.storage.database import in_memory
from pipelines.storage.relations import sql_identifier

RAW_SCHEMA = pa.schema(
    [
        ("row_number", pa.int64()),
        ("byte_offset", pa.int64()),
        ("byte_length", pa.int64()),
        ("record", pa.string()),
        ("problem", pa.string()),
    ]
)
"""What a reader makes of a file: one JSON object per row as text, or a '|reason' problem."""

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv", ".csv.gz", ".parquet")


class FileError(ValueError):
    """A file that cannot be read at all (its reason goes to the manifest's `error`)."""


@dataclass(frozen=True)
class ParseResult:
    """What an adapter made of one file: typed rows (with `source_row`) and rejected rows."""

    rows: pa.Table
    rejected: pa.Table

    @property
    def rows_read(self) -> int:
        return self.rows.num_rows + self.rejected.num_rows


@dataclass(frozen=True)
class RecordFormat:
    """How to parse one landed file of a format, and which file names it accepts."""

    parse: Callable[[bytes, str], ParseResult]
    suffixes: tuple[str, ...] = SUFFIXES


@dataclass(frozen=True)
class RecordSource:
    """A kind of landed record file, e.g. billing exports under landing/billing/<format>/.

    With `by_format_folder`, each folder under landing/<landing>/ names a format of `formats`;
    otherwise the files sit anywhere under landing/<landing>/ and `formats` has one entry keyed
    by `landing`. Rows repeating `key` (within the file or already in the lake) count as duplicates.
    `dates` is the column whose dates the manifest records; with `pending`, those dates are marked
    for the daily models to re-materialize. With `withdraw_removed`, a file no longer in landing
    withdraws its rows (an export re-delivered with fewer parts replaces the old delivery). The `pseudonymized`
    columns are replaced by their pseudonyms (and a format keeps them out of rejected records).
    """

    table: str
    landing: str
    formats: Mapping[str, RecordFormat]
    schema: pa.Schema
    key: tuple[str, ...] = ()
    dates: str | None = None
    by_format_folder: bool = False
    pending: bool = False
    withdraw_removed: bool = False
    pseudonymized: tuple[str, ...] = ()
    """Columns that hold user ids: ingestion replaces them by their pseudonyms before anything is written."""

    @property
    def lake_schema(self) -> pa.Schema:
        return self.schema.append(pa.field("source_file", pa.string())).append(pa.field("file_id", pa.string()))


# -- readers --------------------------------------------------------------------------------------


def read_records(data: bytes, name: str) -> pa.Table:
    """One JSON text record per row of a JSON Lines, JSON (an array or one object), CSV or Parquet file (gzip allowed).

    Rows are numbered from 1 (lines for JSON Lines, records after the header for CSV, array
    elements, Parquet rows). A row that is not a readable object gets a '|reason' problem.
    """
    lower = name.lower()
    if lower.endswith(".parquet"):
        return _read_parquet(data, name)
    text, problem = decompress(data, name)
    base = lower.removesuffix(".gz")
    if base.endswith(".jsonl"):
        table = _read_jsonl(text)
    elif base.endswith(".json"):
        table = _read_json_array(text, name)
    elif base.endswith(".csv"):
        table = _read_csv(text, name)
    else:
        raise FileError(f"unsupported file type (expected one of {', '.join(SUFFIXES)})")
    if problem is not None:
        last = pc.max(table["row_number"]).as_py() or 0
        extra = pa.table(
            {"row_number": [last + 1], "byte_offset": [problem.byte_offset], "byte_length": [None], "record": [None], "problem": ["|" + problem.reason]},
            schema=RAW_SCHEMA,
        )
        table = pa.concat_tables([table, extra])
    return table


def records_from_objects(objects: list, *, start: int = 1) -> pa.Table:
    """Records from already-parsed JSON values (for paged API exports): non-objects get a problem."""
    texts = [json.dumps(o) if isinstance(o, dict) else None for o in objects]
    problems = [None if isinstance(o, dict) else f"|record is not a JSON object (found {_kind(o)})" for o in objects]
    n = len(objects)
    return pa.table(
        {
            "row_number": pa.array(range(start, start + n), pa.int64()),
            "byte_offset": pa.nulls(n, pa.int64()),
            "byte_length": pa.nulls(n, pa.int64()),
            "record": pa.array(texts, pa.string()),
            "problem": pa.array(problems, pa.string()),
        },
        schema=RAW_SCHEMA,
    )


def load_json_document(data: bytes, name: str) -> object:
    """A whole JSON document (gzip allowed), decimals kept as their text so money stays exact.
    A file that is not one is a FileError naming the position; one with a key given twice in an object, naming
    the key (`unique_keys`)."""
    text, problem = decompress(data, name)
    if problem is not None:
        raise FileError(problem.reason)
    try:
        return json.loads(text.decode("utf-8-sig"), parse_float=str, object_pairs_hook=unique_keys)
    except UnicodeDecodeError as exc:
        raise FileError(f"file is not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FileError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:  # a key given twice, a whole number of more than 4,300 digits
        raise FileError(f"not read: {clipped(str(exc), 300)}") from None
    except RecursionError:
        raise FileError("JSON nested too deeply to read") from None


def _kind(value: object) -> str:
    return {list: "array", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}.get(type(value), "value")


def _read_jsonl(text: bytes) -> pa.Table:
    with in_memory() as con:
        con.register("lines_in", split_lines(text))
        table = con.sql(
            f"""
            select line_no as row_number, byte_offset, byte_length,
                case when problem is null then line end as record, problem
            from (select *, {LINE_PROBLEM} as problem from lines_in)
            order by line_no
            """
        ).to_arrow_table().cast(RAW_SCHEMA)
    return _exact_numbers(_lone_surrogates_named(table, text))


def _lone_surrogates_named(table: pa.Table, text: bytes) -> pa.Table:
    """Lines rejected as invalid JSON because a string holds a lone surrogate escape get that string's field named
    (`lone_surrogate_problem`); the first thousand such lines are read again, the rest keep 'invalid JSON'."""
    bare = pc.indices_nonzero(pc.fill_null(pc.equal(table["problem"], "|invalid JSON"), False)).to_pylist()[:1000]
    if not bare:
        return table
    offsets, lengths = (table[name].take(bare).to_pylist() for name in ("byte_offset", "byte_length"))
    named = {}
    for i, offset, length in zip(bare, offsets, lengths):
        found = lone_surrogate_problem(text[offset : offset + length])
        if found is not None:
            field, reason = found
            named[i] = field.replace("|", "\\x7c") + "|" + reason  # the first '|' splits field from reason
    if not named:
        return table
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[list(named)] = True
    problems = pc.replace_with_mask(table["problem"].combine_chunks(), pa.array(mask), pa.array([named[i] for i in sorted(named)], pa.string()))
    return table.set_column(table.schema.get_field_index("problem"), "problem", problems)


def _exact_numbers(table: pa.Table) -> pa.Table:
    """DuckDB's JSON functions read a JSON number as a binary double (1234567890.123456789 comes out as
    1234567890.1234567): a record with a run of 16 or more digits gets its numbers rewritten as their own text, as
    a JSON array file's are (`load_json_document`), so amounts stay exact. Only those records go through Python."""
    long = pc.fill_null(pc.match_substring_regex(table["record"], r"[0-9.]{17}"), False)
    if not pc.any(long).as_py():
        return table
    records = table["record"].to_pylist()
    for i in pc.indices_nonzero(long).to_pylist():
        try:
            parsed = json.loads(records[i], parse_float=str, parse_int=lambda digits: digits if len(digits) > 15 else int(digits))
        except (ValueError, RecursionError):
            continue  # judged as it is: the judging query names the problem
        if isinstance(parsed, dict):
            records[i] = json.dumps(parsed, ensure_ascii=False)
    return table.set_column(table.schema.get_field_index("record"), "record", pa.array(records, pa.string()))


def _read_json_array(text: bytes, name: str) -> pa.Table:
    document = load_json_document(text, name.removesuffix(".gz").removesuffix(".GZ"))
    return records_from_objects(document if isinstance(document, list) else [document])


def _read_csv(text: bytes, name: str) -> pa.Table:
    """CSV with a header row; every cell is text. A record with the wrong number of cells is a problem."""
    try:
        decoded = text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"file is not valid UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(decoded, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return RAW_SCHEMA.empty_table()
    except csv.Error as exc:
        raise FileError(f"header row is not valid CSV: {exc}") from None
    if len(set(header)) != len(header):
        repeated = sorted({h for h in header if header.count(h) > 1})
        raise FileError(f"header names a column more than once: {', '.join(repeated)}")
    numbers, records, problems = [], [], []
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            number += 1
            numbers.append(number)
            records.append(None)
            problems.append(f"|record is not valid CSV: {exc}")
            continue
        if not cells or all(not c.strip() for c in cells):
            continue
        number += 1
        numbers.append(number)
        if len(cells) != len(header):
            records.append(json.dumps(cells))
            problems.append(f"|record has {len(cells)} cells, the header has {len(header)}")
            continue
        records.append(json.dumps(dict(zip(header, cells))))
        problems.append(None)
    n = len(numbers)
    return pa.table(
        {
            "row_number": pa.array(numbers, pa.int64()),
            "byte_offset": pa.nulls(n, pa.int64()),
            "byte_length": pa.nulls(n, pa.int64()),
            "record": pa.array(records, pa.string()),
            "problem": pa.array(problems, pa.string()),
        },
        schema=RAW_SCHEMA,
    )


def _read_parquet(data: bytes, name: str) -> pa.Table:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileError(f"not a readable Parquet file: {exc}") from None
    # Scalars as their text (amounts exact, never doubles); a map, struct or list as a JSON value, so its fields
    # are paths of the record (CUR 2.0's `product` map holds product_name), not DuckDB's '{k=v}' text.
    nested = (pa.types.is_map, pa.types.is_struct, pa.types.is_list, pa.types.is_large_list)
    columns = ", ".join(
        f"to_json({sql_identifier(f.name)}) as {sql_identifier(f.name)}" if any(kind(f.type) for kind in nested) else f"{sql_identifier(f.name)}::varchar as {sql_identifier(f.name)}"
        for f in table.schema
    )
    with in_memory() as con:
        con.register("parquet_in", table)
        con.execute("set TimeZone = 'UTC'")
        return con.sql(
            f"""
            select row_number() over () as row_number, null as byte_offset, null as byte_length,
                cast(to_json(t) as varchar) as record, null as problem
            from (select {columns or '*'} from parquet_in) as t
            """
        ).to_arrow_table().cast(RAW_SCHEMA)




def judge(raw: pa.Table, query: str, schema: pa.Schema, params: dict | None = None) -> ParseResult:
    """Run an adapter's query over `records_in` (the reader's table) and split rows from rejections.

    The query returns row_number, byte_offset, byte_length, record, a `problem` column
    ('field|reason' or null) and every column of `schema` except source_row.
    """
    with in_memory() as con:
        con.execute("set TimeZone = 'UTC'")
        con.register("records_in", raw)
        judged = con.sql(query, params=params).to_arrow_table() if params else con.sql(query).to_arrow_table()
    bad = pc.fill_null(pc.is_valid(judged["problem"]), False)
    good = judged.filter(pc.invert(bad))
    good = good.append_column("source_row", good["row_number"])
    rows = good.select(schema.names).cast(schema)
    rejected = judged.filter(bad)
    parts = pc.split_pattern(rejected["problem"], "|", max_splits=1)
    records = rejected["record"]
    hashes = [hashlib.sha256(r.encode()).hexdigest() if r is not None else None for r in records.to_pylist()]
    return ParseResult(
        rows=rows,
        rejected=pa.table(
            {
                "row_number": rejected["row_number"],
                "byte_offset": rejected["byte_offset"],
                "byte_length": rejected["byte_length"],
                "field": pc.list_element(parts, 0),
                "reason": pc.list_element(parts, 1),
                "request_id": pa.nulls(rejected.num_rows, pa.string()),
                "user_id": pa.nulls(rejected.num_rows, pa.string()),
                "record": records,
                "record_sha256": pa.array(hashes, pa.string()),
            }
        ).cast(REJECTED_SCHEMA),
    )


def file_rejected(reason: str) -> pa.Table:
    """One rejected row standing for a whole unreadable file."""
    return pa.table(
        {"row_number": [None], "byte_offset": [None], "byte_length": [None], "field": [""], "reason": [reason],
         "request_id": [None], "user_id": [None], "record": [None], "record_sha256": [None]},
        schema=REJECTED_SCHEMA,
    )
