"""Ingest landed gateway files into the lake: one Parquet file per (landed file, event date), with a manifest.

A file is read once per content hash; a file whose content changed replaces the rows it wrote before.
Rows are keyed by (source, request_id): a request already in the lake is counted as a duplicate, not
loaded twice. Every file gets one row in the manifest (`lake/_audit/ingested_files`) and its bad rows
go to `lake/_audit/rejected_rows`, so rows_read = rows_loaded + rows_rejected + rows_duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.adapters import CANONICAL_SCHEMA, REJECTED_SCHEMA, TOKEN_BUCKETS, AdapterResult
from pipelines.adapters.envelope import parse_envelope
from pipelines.adapters.helicone import parse_helicone
from pipelines.adapters.litellm import parse_litellm
from pipelines.adapters.otel import parse_otel
from pipelines.adapters.portkey import parse_portkey
from pipelines.attribution import AttributionConfig
from pipelines.home import Home
from pipelines.privacy import load_key, pseudonymize

REQUESTS_TABLE = "gateway_requests"
MANIFEST_DIR = "_audit/ingested_files"
REJECTED_DIR = "_audit/rejected_rows"
PENDING_FILE = "_audit/pending_dates.txt"


@dataclass(frozen=True)
class Adapter:
    """A gateway format: how to parse a landed file, and which file names it accepts."""

    parse: Callable[[bytes, str, AttributionConfig], AdapterResult]
    suffixes: tuple[str, ...]


ADAPTERS: dict[str, Adapter] = {
    "envelope": Adapter(lambda data, name, _: parse_envelope(data, name), (".jsonl", ".jsonl.gz")),
    "otel": Adapter(parse_otel, (".jsonl", ".jsonl.gz", ".json", ".json.gz")),
    "litellm": Adapter(parse_litellm, (".jsonl", ".jsonl.gz", ".csv", ".csv.gz")),
    "helicone": Adapter(parse_helicone, (".jsonl", ".jsonl.gz")),
    "portkey": Adapter(parse_portkey, (".jsonl", ".jsonl.gz")),
}

LAKE_SCHEMA = CANONICAL_SCHEMA.append(pa.field("source_file", pa.string())).append(pa.field("event_date", pa.date32()))
MANIFEST_SCHEMA = pa.schema(
    [
        ("file_id", pa.string()),
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("format", pa.string()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("rows_read", pa.int64()),
        ("rows_loaded", pa.int64()),
        ("rows_rejected", pa.int64()),
        ("rows_duplicate", pa.int64()),
        ("duplicate_conflicts", pa.int64()),
        ("event_dates", pa.list_(pa.date32())),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
    ]
)
AUDIT_REJECTED_SCHEMA = pa.schema([("file_id", pa.string()), ("source_file", pa.string()), *REJECTED_SCHEMA])


@dataclass(frozen=True)
class LandedFile:
    """A file found under landing/gateway/<format>/."""

    path: Path
    relative: str
    format: str

    @property
    def file_id(self) -> str:
        return hashlib.sha256(self.relative.encode()).hexdigest()[:20]


@dataclass
class IngestReport:
    """What one ingestion pass did."""

    ingested: list[dict] = field(default_factory=list)
    skipped: int = 0
    touched_dates: set[dt.date] = field(default_factory=set)

    @property
    def rows(self) -> dict[str, int]:
        keys = ("rows_read", "rows_loaded", "rows_rejected", "rows_duplicate")
        return {k: sum(entry[k] for entry in self.ingested) for k in keys}


def pending_dates(home: Home) -> set[dt.date]:
    """Dates whose lake rows changed and that no successful run has materialized since."""
    path = home.lake / PENDING_FILE
    if not path.is_file():
        return set()
    return {dt.date.fromisoformat(line) for line in path.read_text().split() if line}


def mark_pending(home: Home, dates: set[dt.date]) -> None:
    _write_pending(home, pending_dates(home) | set(dates))


def clear_pending(home: Home, dates: set[dt.date]) -> None:
    _write_pending(home, pending_dates(home) - set(dates))


def _write_pending(home: Home, dates: set[dt.date]) -> None:
    path = home.lake / PENDING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text("".join(f"{d.isoformat()}\n" for d in sorted(dates)))
    os.replace(tmp, path)


def discover(home: Home) -> Iterator[LandedFile]:
    """Every regular file under landing/gateway/<format>/, sorted by path, symlinks included (judged later)."""
    root = home.landing / "gateway"
    if not root.is_dir():
        return
    for fmt_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(fmt_dir.rglob("*")):
            if path.is_file() or path.is_symlink():
                if path.name.startswith("."):
                    continue
                yield LandedFile(path=path, relative=path.relative_to(home.landing).as_posix(), format=fmt_dir.name)


def read_manifest(home: Home) -> dict[str, dict]:
    """The latest manifest row per landed path."""
    folder = home.lake / MANIFEST_DIR
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        return {}
    table = pa.concat_tables([pq.read_table(f, schema=MANIFEST_SCHEMA) for f in files])
    return {row["path"]: row for row in table.to_pylist()}


def ingest_gateway(home: Home, progress: Callable[[str], None] = lambda _: None) -> IngestReport:
    """Ingest every new or changed gateway file in landing; return what was done and which dates it touched.

    Touched dates are also recorded as pending in the lake before the file's manifest row is written,
    so a run killed after ingestion still materializes them next time.
    """
    manifest = read_manifest(home)
    key = load_key(home.secrets)
    attribution = AttributionConfig.load(home.root)
    report = IngestReport()
    landed = list(discover(home))
    for index, landed_file in enumerate(landed, start=1):
        previous = manifest.get(landed_file.relative)
        entry = _ingest_file(home, landed_file, previous, key, attribution)
        if entry is None:
            report.skipped += 1
            continue
        report.ingested.append(entry)
        report.touched_dates |= set(entry["event_dates"]) | set((previous or {}).get("event_dates") or [])
        progress(
            f"[{index}/{len(landed)}] {landed_file.relative}: {entry['rows_loaded']} loaded, "
            f"{entry['rows_rejected']} rejected, {entry['rows_duplicate']} duplicate"
            + (f" ({entry['error']})" if entry["error"] else "")
        )
    return report


def _ingest_file(home: Home, landed: LandedFile, previous: dict | None, key: bytes, attribution: AttributionConfig) -> dict | None:
    problem = _file_problem(home, landed)
    if problem:
        if previous and previous["error"] == problem:
            return None
        entry = _entry(landed, sha256=None, status="failed", error=problem)
        _write_audit(home, landed, entry, pa.table({n: [] for n in AUDIT_REJECTED_SCHEMA.names}, schema=AUDIT_REJECTED_SCHEMA))
        return entry
    data = landed.path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if previous and previous["sha256"] == sha and previous["status"] == "loaded":
        return None
    result = ADAPTERS[landed.format].parse(data, landed.path.name, attribution)
    rows = _with_lake_columns(result.rows, landed.relative, key)
    rows, duplicates, conflicts = _drop_duplicates(home, rows, landed.file_id)
    stale = (previous or {}).get("event_dates") or []
    dates = _write_partitions(home, rows, landed.file_id, stale=stale)
    mark_pending(home, set(dates) | set(stale))
    entry = _entry(
        landed,
        sha256=sha,
        status="loaded",
        error=f"{result.rejected.num_rows} rows rejected" if result.rejected.num_rows else None,
        rows_read=result.rows_read,
        rows_loaded=rows.num_rows,
        rows_rejected=result.rejected.num_rows,
        rows_duplicate=duplicates,
        duplicate_conflicts=conflicts,
        event_dates=dates,
    )
    _write_audit(home, landed, entry, _rejected_for_audit(result.rejected, landed, key))
    return entry


def _file_problem(home: Home, landed: LandedFile) -> str | None:
    if landed.path.is_symlink():
        target = landed.path.resolve()
        if not target.is_relative_to(home.landing.resolve()):
            return "symlink points outside the landing folder; not followed"
        if not target.is_file():
            return "symlink does not point to a regular file"
    if landed.format not in ADAPTERS:
        return f"unknown gateway format '{landed.format}' (supported: {', '.join(sorted(ADAPTERS))})"
    suffixes = ADAPTERS[landed.format].suffixes
    if not landed.path.name.lower().endswith(suffixes):
        return f"unsupported file type for format '{landed.format}' (expected {', '.join(suffixes)})"
    return None


def _with_lake_columns(rows: pa.Table, relative: str, key: bytes) -> pa.Table:
    """Pseudonymize user ids and add source_file and event_date (the UTC date of occurred_at)."""
    rows = rows.set_column(rows.schema.get_field_index("user_id"), "user_id", pseudonymize(rows["user_id"], key))
    rows = rows.append_column("source_file", pa.array([relative] * rows.num_rows, pa.string()))
    event_date = pc.cast(rows["occurred_at"], pa.date32()) if rows.num_rows else pa.array([], pa.date32())
    return rows.append_column("event_date", event_date).cast(LAKE_SCHEMA)


def _drop_duplicates(home: Home, rows: pa.Table, file_id: str) -> tuple[pa.Table, int, int]:
    """Keep one row per (source, request_id) and drop requests already in the lake.

    Several records of one request whose usage only grows (cumulative streaming usage) count once,
    with the final usage. Records whose usage disagrees otherwise are a conflict: the first is kept.
    Returns (kept rows, rows dropped as duplicates, conflicting request ids).
    """
    if rows.num_rows == 0:
        return rows, 0, 0
    existing = [
        str(p)
        for d in pc.unique(rows["event_date"]).to_pylist()
        for p in (home.lake / REQUESTS_TABLE / f"event_date={d.isoformat()}").glob("*.parquet")
        if p.stem != file_id
    ]
    grows = " and ".join(f"{b} >= coalesce(lag({b}) over w, 0)" for b in (*TOKEN_BUCKETS, "web_search_requests"))
    with duckdb.connect() as con:
        con.register("incoming", rows)
        con.execute("create temp table repeated as select source, request_id from incoming group by all having count(*) > 1")
        conflicts = 0
        if con.execute("select count(*) from repeated").fetchall()[0][0]:
            con.execute(
                f"""
                create temp table chosen as
                with versions as (
                    select incoming.*, {grows} as grew,
                        row_number() over w as version, count(*) over (partition by source, request_id) as versions
                    from incoming semi join repeated using (source, request_id)
                    window w as (partition by source, request_id order by occurred_at, source_row)
                ),
                judged as (
                    select *, bool_and(grew) over (partition by source, request_id) as cumulative from versions
                )
                select * exclude (grew, version, versions, cumulative), not cumulative as conflict
                from judged
                where (cumulative and version = versions) or (not cumulative and version = 1)
                """
            )
            conflicts = con.execute("select count(*) from chosen where conflict").fetchall()[0][0]
            deduped = con.sql(
                "select * from incoming anti join repeated using (source, request_id) "
                "union all by name select * exclude (conflict) from chosen"
            ).to_arrow_table()
        else:
            deduped = rows
        if existing:
            con.register("deduped", deduped)
            kept = con.sql(
                "select * from deduped anti join (select source, request_id from read_parquet($files)) seen using (source, request_id)",
                params={"files": existing},
            ).to_arrow_table()
        else:
            kept = deduped
    kept = kept.sort_by("source_row").select(LAKE_SCHEMA.names).cast(LAKE_SCHEMA)
    return kept, rows.num_rows - kept.num_rows, conflicts


def _write_partitions(home: Home, rows: pa.Table, file_id: str, stale: list[dt.date]) -> list[dt.date]:
    """Write one Parquet file per event date; remove this file's Parquet from dates it no longer covers."""
    dates = sorted(pc.unique(rows["event_date"]).to_pylist()) if rows.num_rows else []
    table_dir = home.lake / REQUESTS_TABLE
    for day in dates:
        part = rows.filter(pc.equal(rows["event_date"], pa.scalar(day, pa.date32())))
        _atomic_parquet(part, table_dir / f"event_date={day.isoformat()}" / f"{file_id}.parquet")
    for day in set(stale) - set(dates):
        (table_dir / f"event_date={day.isoformat()}" / f"{file_id}.parquet").unlink(missing_ok=True)
    return dates


def _rejected_for_audit(rejected: pa.Table, landed: LandedFile, key: bytes) -> pa.Table:
    """Rejected rows with the file named and user ids pseudonymized, in the column and inside each record."""
    pseudo = pseudonymize(rejected["user_id"], key) if rejected.num_rows else pa.array([], pa.string())
    records = rejected["record"]
    if rejected.num_rows and pc.any(pc.is_valid(pseudo)).as_py():
        with duckdb.connect() as con:
            con.register("p", pa.table({"record": records, "pseudo": pseudo}))
            records = con.sql(
                "select case when record is null or pseudo is null then record "
                "else cast(json_merge_patch(record, json_object('user_id', pseudo)) as varchar) end as record from p"
            ).to_arrow_table()["record"]
    table = rejected.set_column(rejected.schema.get_field_index("record"), "record", records)
    table = table.set_column(table.schema.get_field_index("user_id"), "user_id", pseudo)
    n = table.num_rows
    table = table.add_column(0, "source_file", pa.array([landed.relative] * n, pa.string()))
    table = table.add_column(0, "file_id", pa.array([landed.file_id] * n, pa.string()))
    return table.cast(AUDIT_REJECTED_SCHEMA)


def _entry(landed: LandedFile, *, sha256: str | None, status: str, error: str | None, **counts) -> dict:
    return {
        "file_id": landed.file_id,
        "path": landed.relative,
        "sha256": sha256,
        "format": landed.format,
        "status": status,
        "error": error,
        "rows_read": counts.get("rows_read", 0),
        "rows_loaded": counts.get("rows_loaded", 0),
        "rows_rejected": counts.get("rows_rejected", 0),
        "rows_duplicate": counts.get("rows_duplicate", 0),
        "duplicate_conflicts": counts.get("duplicate_conflicts", 0),
        "event_dates": counts.get("event_dates", []),
        "ingested_at": dt.datetime.now(dt.timezone.utc),
    }


def _write_audit(home: Home, landed: LandedFile, entry: dict, rejected: pa.Table) -> None:
    """Rejected rows first, the manifest row last: a crash in between re-ingests the file next time."""
    _atomic_parquet(rejected, home.lake / REJECTED_DIR / f"{landed.file_id}.parquet")
    _atomic_parquet(pa.Table.from_pylist([entry], schema=MANIFEST_SCHEMA), home.lake / MANIFEST_DIR / f"{landed.file_id}.parquet")


def _atomic_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
