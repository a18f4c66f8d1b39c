"""Envelope files stored as Parquet: one row per request, the envelope's fields as columns, made into what the
envelope query judges.

`usage` and `tags` may be structs or JSON text. `parquet_lines` renders each batch of rows back to one JSON
object per row inside DuckDB and numbers them as lines, so a Parquet row is accepted or rejected exactly as
its JSON line would be; line_no is the Parquet row (1-based). `parquet_fields` gives, for the whole-file path,
SQL per envelope field with the text that rendering would give, or None when a column's type only renders
faithfully line by line.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.adapters import UnreadableFile
from pipelines.adapters.lines import scannable
from pipelines.storage.relations import sql_identifier

PARQUET_BATCH_ROWS = 131_072
JSON_FIELDS = ("usage", "tags")
"""Envelope fields holding a JSON object; the others are text."""


def parquet_lines(con: duckdb.DuckDBPyConnection, data: bytes, names: tuple[str, ...]) -> Iterator[tuple[pa.Table, bytes]]:
    """Each batch of a Parquet envelope file as `lines_in` rows and the JSON Lines text they make (for hashes). Only
    the envelope's fields (`names`) are read, as a JSON line's other keys are never read."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnreadableFile("not a readable Parquet file (no valid Parquet footer)") from exc
    columns = [name for name in dict.fromkeys(parquet.schema_arrow.names) if name in names]
    first = 1
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns):
        table = _plain_text(pa.Table.from_batches([batch]))
        con.register("batch_in", scannable(table))
        try:
            rendered = con.sql(f"select {_parquet_json(table.schema)} as line from batch_in").to_arrow_table()["line"]
        finally:
            con.unregister("batch_in")
        yield _numbered(rendered, first)
        first += batch.num_rows


def _plain_text(table: pa.Table) -> pa.Table:
    """Text stored as a dictionary (pandas `category`, Polars `Categorical`) or as `string_view` (Polars' own strings)
    as plain strings, which DuckDB reads as text (it read them as something other than a string, so a JSON `usage`
    column became a JSON string and every row was rejected)."""
    plain = lambda kind: pa.types.is_string(kind) or pa.types.is_large_string(kind)  # noqa: E731
    fields = [pa.field(f.name, f.type if plain(f.type) or not _is_text(f.type) else pa.large_string(), f.nullable) for f in table.schema]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


def _json_text(column: str) -> str:
    """SQL: a text column as JSON: its value when it is valid JSON, else the text as a JSON string."""
    return f"case when json_valid({column}) then json({column}) else to_json({column}) end"


def _utc_text(column: str, kind: pa.TimestampType) -> str:
    """SQL: a timestamp column as ISO 8601 text, as a gateway would log it: in UTC with `Z` when the column is in UTC
    (Parquet's isAdjustedToUTC), and without an offset when it is a local time, which the envelope rejects as it
    rejects a naive timestamp in a JSON line."""
    return f"strftime({column}, '%Y-%m-%dT%H:%M:%S.%f{'Z' if kind.tz is not None else ''}')"


def _is_text(kind: pa.DataType) -> bool:
    """Text, however Arrow holds it: string, large_string, string_view, or a dictionary of strings."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _parquet_json(schema: pa.Schema) -> str:
    """SQL rendering one Parquet row as the JSON object the envelope line would hold."""
    parts = []
    for field in schema:
        column = sql_identifier(field.name)
        if field.name in JSON_FIELDS and _is_text(field.type):
            value = _json_text(column)
        elif pa.types.is_timestamp(field.type):
            value = _utc_text(column, field.type)
        else:
            value = column
        parts.append(f"'{field.name.replace(chr(39), chr(39) * 2)}', {value}")
    return f"cast(json_object({', '.join(parts)}) as varchar)"


def _numbered(rendered: pa.ChunkedArray, first: int) -> tuple[pa.Table, bytes]:
    """lines_in for rendered rows, and the text they would make as JSON Lines (for the rejected rows' hashes)."""
    values = rendered.combine_chunks().cast(pa.large_string())
    with_breaks = pc.binary_join_element_wise(values, pa.scalar("\n", pa.large_string()), pa.scalar("", pa.large_string()))
    offsets = np.frombuffer(with_breaks.buffers()[1], dtype=np.int64)[with_breaks.offset : with_breaks.offset + len(values) + 1]
    starts = offsets[:-1] - offsets[0]
    text = with_breaks.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    lines = pa.table(
        {
            "line_no": np.arange(first, first + len(values), dtype=np.int64),
            "byte_offset": starts,
            "byte_length": np.diff(offsets) - 1,
            "line": values,
        }
    )
    return lines, text


def parquet_fields(schema: pa.Schema, names: tuple[str, ...]) -> dict[str, str] | None:
    """SQL per envelope field (`names`) giving the text `_parquet_json` + `from_json` would give, or None when a
    column's type is one only the line-by-line path renders faithfully (floats, booleans, lists, nested dimensions)."""
    values = {}
    for name in names:
        if len(schema.get_all_field_indices(name)) > 1:
            return None
        index = schema.get_field_index(name)
        if index < 0:
            values[name] = "cast(null as json)" if name in JSON_FIELDS else "cast(null as varchar)"
            continue
        kind, column = schema.field(index).type, f'"{name}"'
        if name in JSON_FIELDS:
            if _is_text(kind):
                values[name] = _json_text(column)
            elif pa.types.is_struct(kind) or pa.types.is_map(kind):
                values[name] = f"to_json({column})"
            else:
                return None
        elif _is_text(kind):
            values[name] = column
        elif pa.types.is_timestamp(kind):
            values[name] = _utc_text(column, kind)
        elif pa.types.is_integer(kind):
            values[name] = f"cast({column} as varchar)"
        else:
            return None
    return values
