"""DuckDB relations over things outside the warehouse: a SQL literal for the places DuckDB takes no parameter,
and temp views over Parquet files on disk or in a bucket; and what makes a value safe to show outside (a CSV cell a
spreadsheet opens, text for a terminal or a report page)."""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa


def sql_literal(value: object) -> str:
    """A SQL string literal holding `value` exactly (quotes doubled), for the few places DuckDB takes no
    parameter: `set` statements, `copy ... to` targets, file lists of table functions."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A quoted SQL identifier naming column `name` exactly (quotes doubled), whatever a file called it."""
    return '"' + name.replace('"', '""') + '"'


def register_parquet(con: duckdb.DuckDBPyConnection, name: str, files: list[str], schema: pa.Schema) -> None:
    """A temp view `name` over Parquet files (read lazily), or over an empty table of `schema` when none.

    Files may be local paths or s3:// URLs; URLs are read through a pyarrow dataset (streamed, with
    column and filter pushdown), so DuckDB needs no extension for object storage.
    """
    remote = [f for f in files if "://" in f]
    if remote:
        con.register(f"_{name}_dataset", _remote_dataset(files, schema))
        con.execute(f"create or replace temp view {name} as select * from _{name}_dataset")
    elif files:
        listed = ", ".join(sql_literal(f) for f in files)
        body = f"select * from read_parquet([{listed}], hive_partitioning = false, union_by_name = true)"
        con.execute(f"create or replace temp view {name} as {body}")
        missing = _missing_columns(con, name, schema)
        if missing:  # files written before a column was added: the column reads as null
            con.execute(f"create or replace temp view {name} as select *, {', '.join(missing)} from ({body})")
    else:
        con.register(f"_{name}_empty", pa.table({n: [] for n in schema.names}, schema=schema))
        con.execute(f"create or replace temp view {name} as select * from _{name}_empty")


def _missing_columns(con: duckdb.DuckDBPyConnection, name: str, schema: pa.Schema) -> list[str]:
    """`cast(null as <type>) as <column>` for each column of `schema` that the view `name` lacks."""
    have = {row[0] for row in con.execute(f"describe {name}").fetchall()}
    wanted = [field for field in schema if field.name not in have]
    if not wanted:
        return []
    con.register("_wanted_shape", pa.schema(wanted).empty_table())
    types = dict(con.execute("select column_name, column_type from (describe _wanted_shape)").fetchall())
    con.unregister("_wanted_shape")
    return [f'cast(null as {types[field.name]}) as "{field.name}"' for field in wanted]


def _remote_dataset(urls: list[str], schema: pa.Schema):
    """A pyarrow dataset over Parquet objects in one bucket (credentials and endpoint from the AWS variables)."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    filesystem, _ = pafs.FileSystem.from_uri(urls[0])
    paths = [url.split("://", 1)[1] for url in urls]
    return ds.dataset(paths, schema=schema, format="parquet", filesystem=filesystem)


# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection"); the fullwidth forms are
# folded to them by some spreadsheets.
FORMULA_START = r"^[=+\-@\t\r\n＝＋－＠]"
PLAIN_NUMBER = r"-?[0-9]+(\.[0-9]+)?"
"""A decimal number written as text (an amount trimmed of its trailing zeros): a spreadsheet reads it as that number,
never as a formula, so a credit of `-0.03` stays a number."""


def spreadsheet_safe(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> str:
    """`query` with every text cell that a spreadsheet would run as a formula prefixed with a single quote, for
    `copy ... (format csv)`: text columns only, and not a text cell that is a plain decimal number, so numbers (a
    credit of -0.03, typed or written as text) are written as they are."""
    columns = con.execute(f"describe ({query})", params).fetchall()
    start, number = sql_literal(FORMULA_START), sql_literal(PLAIN_NUMBER)
    guarded = []
    for name, type_name, *_ in columns:
        ident = sql_identifier(name)
        if type_name in ("VARCHAR", "JSON"):
            guarded.append(
                f"case when regexp_matches({ident}, {start}) and not regexp_full_match({ident}, {number}) "
                f"then '''' || {ident} else {ident} end as {ident}"
            )
        else:
            guarded.append(ident)
    return f"select {', '.join(guarded)} from ({query})"


_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
"""Control characters (tab and newline aside), the marks that reorder or break text, and the invisible ones (Unicode's
default-ignorable code points: zero-width space and joiners, word joiner, soft hyphen, byte-order mark, variation
selectors, tag characters, the Hangul fillers; and the interlinear annotation marks): in a value they could retitle or
clear the operator's terminal, make a table or a report say what it does not, or make two names (`support_chat`,
`support\u200bchat`, `t\U000e0041t`) look alike."""


def printable(text: str) -> str:
    """The text with every unsafe character written as its escape (\\x1b, \\u202e): for a terminal or a page."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}" if ord(m[0]) < 0x10000
                       else f"\\U{ord(m[0]):08x}", text)
