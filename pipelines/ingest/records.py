"""Ingest landed record files (bills, outcomes, revenue, GPU capacity) into the lake, by the gateway's rules.

A file is read once per content hash and a changed file replaces what it wrote; every file gets one manifest
row and its bad rows go to the lake's rejected rows, so rows_read = rows_loaded + rows_rejected +
rows_duplicate holds for every file. These sources are small next to gateway logs, so each landed file becomes
one Parquet file, `lake/<table>/<file_id>.parquet` (no date partitions).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingest.landed import IngestReport, LandedSource, ingest_landed
from pipelines.ingest.privacy import load_key, pseudonymize
from pipelines.records.read import FileError, ParseResult, RecordSource, file_rejected
from pipelines.storage.database import in_memory
from pipelines.storage.home import Home
from pipelines.storage.lake import (
    LandedFile,
    discover_landed,
    file_problem,
    manifest_entry,
    mark_pending,
    parquet_bytes,
    table_file,
    table_files,
    write_audit,
)
from pipelines.storage.relations import register_parquet


def ingest_source(home: Home, source: RecordSource, progress=lambda _: None) -> IngestReport:
    """Ingest every new or changed file of one record source into lake/<table>/."""
    where = f"landing/{source.landing}/<format>/" if source.by_format_folder else f"landing/{source.landing}/"
    suffixes = {name: fmt.suffixes for name, fmt in source.formats.items()}
    landed_source = LandedSource(
        name=source.table,
        folder=source.landing,
        problem=lambda landed: file_problem(home, landed, suffixes, where),
        load=lambda landed, data, sha, previous: _load(home, source, landed, data, sha, previous),
        forget=lambda landed, previous: home.lake_store.delete(table_file(source.table, landed.file_id)),
        gone=(lambda home, path, previous: _withdraw(home, source, path, previous)) if source.withdraw_removed else None,
        table=source.table,
        dates=source.dates if source.pending else None,
    )
    landed = list(discover_landed(home, source.landing, by_format=source.by_format_folder))
    report = ingest_landed(home, landed_source, landed, progress)
    if source.pending:
        mark_pending(home, report.touched_dates)  # withdrawn and failed files' dates (new rows were marked before their manifest row)
    return report


def _load(home: Home, source: RecordSource, landed: LandedFile, data: bytes, sha: str, previous: dict | None) -> dict:
    """Parse, judge and de-duplicate one file; write its Parquet, then its audit; its manifest row."""
    try:
        result = source.formats[landed.format].parse(data, landed.name)
    except FileError as exc:
        result = ParseResult(rows=source.schema.empty_table(), rejected=file_rejected(str(exc)))
    rows = result.rows.cast(source.schema)
    if source.pseudonymized and rows.num_rows:
        key = load_key(home.secrets)
        for column in source.pseudonymized:
            rows = rows.set_column(rows.schema.get_field_index(column), column, pseudonymize(rows[column], key))
    n = rows.num_rows
    rows = rows.append_column("source_file", pa.array([landed.relative] * n, pa.string()))
    rows = rows.append_column("file_id", pa.array([landed.file_id] * n, pa.string()))
    rows, duplicates, landed_before = _drop_duplicates(home, source, rows, landed.file_id)
    dates = sorted(set(pc.unique(pc.cast(rows[source.dates], pa.date32())).drop_null().to_pylist())) if source.dates and n else []
    home.lake_store.write_bytes(table_file(source.table, landed.file_id), parquet_bytes(rows))
    if source.pending:
        mark_pending(home, set(dates) | set((previous or {}).get("event_dates") or []))
    rejected_rows = result.rejected.num_rows
    entry = manifest_entry(
        landed,
        sha256=sha,
        status="loaded",
        error=f"{rejected_rows} rows rejected" if rejected_rows else None,
        rows_read=result.rows_read,
        rows_loaded=rows.num_rows - landed_before,
        rows_rejected=rejected_rows,
        rows_duplicate=duplicates + landed_before,
        event_dates=dates,
    )
    rejected = result.rejected
    rejected = rejected.add_column(0, "source_file", pa.array([landed.relative] * rejected.num_rows, pa.string()))
    rejected = rejected.add_column(0, "file_id", pa.array([landed.file_id] * rejected.num_rows, pa.string()))
    write_audit(home, landed, entry, rejected)
    return entry


def _withdraw(home: Home, source: RecordSource, path: str, previous: dict) -> dict:
    """Remove a vanished file's rows from the lake and record it as removed (all counts zero): an export
    re-delivered with fewer parts replaces the earlier delivery."""
    landed = LandedFile(path=None, relative=path, format=previous["format"])
    home.lake_store.delete(table_file(source.table, landed.file_id))
    entry = manifest_entry(landed, sha256=None, status="removed", error=f"no longer in landing; its {previous['rows_loaded']} rows were withdrawn")
    write_audit(home, landed, entry)
    return entry


def _drop_duplicates(home: Home, source: RecordSource, rows: pa.Table, file_id: str) -> tuple[pa.Table, int, int]:
    """The first row per key in the file, the rows dropped for repeating a key of the file, and how many kept rows
    repeat a key another lake file of this source holds. Those are counted as duplicates but stored: which file's
    row counts is decided where the warehouse reads the lake (`warehouse.tables`, the first landed), so a row
    another file held comes back when that file changes or leaves, as it would in a home that never saw it."""
    if not source.key or rows.num_rows == 0:
        return rows, 0, 0
    others = table_files(home, source.table, exclude=file_id)
    key = ", ".join(f'"{k}"' for k in source.key)
    # A null key part matches a null (`is not distinct from`), so a row without an optional key part is still one row.
    same = " and ".join(f'kept."{k}" is not distinct from seen."{k}"' for k in source.key)
    with in_memory() as con:
        con.register("incoming", rows)
        kept = con.sql(f"select * from incoming qualify row_number() over (partition by {key} order by source_row) = 1").to_arrow_table()
        landed_before = 0
        if others:
            register_parquet(con, "seen", others, source.lake_schema)
            con.register("kept", kept)
            landed_before = con.execute(f"select count(*) from kept semi join (select distinct {key} from seen) as seen on {same}").fetchone()[0]
    kept = kept.sort_by("source_row").cast(rows.schema)
    return kept, rows.num_rows - kept.num_rows, landed_before
