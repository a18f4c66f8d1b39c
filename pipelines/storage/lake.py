"""The lake's catalog: where landed files are found, where each lake table keeps its Parquet, and its audit.

- Landing: `discover_landed` lists the files under one landing folder (gateway logs, bills, outcomes, …) and
  `file_problem` says why one cannot be read (a symlink out of landing, an unknown format, a wrong suffix).
- Tables: gateway requests in `gateway_requests/event_date=YYYY-MM-DD/<file_id>.parquet`; every other source in
  `<table>/<file_id>.parquet`. One Parquet file per landed file (and event date), so a changed file replaces
  exactly what it wrote.
- Audit: every landed file has one manifest row (`_audit/ingested_files/<file_id>.parquet`) and its rejected rows
  (`_audit/rejected_rows/<file_id>.parquet`); rows_read = rows_loaded + rows_rejected + rows_duplicate + rows_skipped.
- Pending dates (`_audit/pending_dates.txt`): dates whose lake rows changed and that no run has materialized
  since. Ingestion marks them before it writes a file's manifest row; a run clears them once materialized.

Landing is a local folder, except gateway logs when $TOKENLEDGER_LANDING_URL names a bucket; the lake is
<home>/lake or the bucket prefix in $TOKENLEDGER_LAKE_URL (see `storage.store.Store`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from pipelines.storage.home import Home
from pipelines.storage.lock import ingestion_running, pending_lock
from pipelines.storage.schemas import CANONICAL_SCHEMA, REJECTED_SCHEMA
from pipelines.storage.store import Store

REQUESTS_TABLE = "gateway_requests"
MANIFEST_DIR = "_audit/ingested_files"
DAY_FOLDER = re.compile(r"event_date=(\d{4}-\d{2}-\d{2})")
REJECTED_DIR = "_audit/rejected_rows"
PENDING_FILE = "_audit/pending_dates.txt"
GATEWAY = "gateway"
"""The landing folder of gateway logs (the only one that may live in a bucket)."""

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
        ("rows_skipped", pa.int64()),
        ("skipped_reasons", pa.string()),
        ("event_dates", pa.list_(pa.date32())),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
    ]
)
AUDIT_REJECTED_SCHEMA = pa.schema([("file_id", pa.string()), ("source_file", pa.string()), *REJECTED_SCHEMA])


# -- landing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LandedFile:
    """A file found under landing/<folder>/ (on local disk, or in the landing bucket when `path` is None).

    `problem` is set when discovery already knows the file cannot be read: not a regular file, a name that
    is not UTF-8, a folder that cannot be listed.
    """

    path: Path | None
    relative: str
    format: str
    store: Store | None = None
    problem: str | None = None

    @property
    def file_id(self) -> str:
        return hashlib.sha256(self.relative.encode()).hexdigest()[:20]

    @property
    def name(self) -> str:
        return self.relative.rsplit("/", 1)[-1]

    def read_bytes(self) -> bytes:
        """The file's bytes; OSError when it cannot be read, or changed or vanished while it was read."""
        if self.path is None:
            return self.store.read_bytes(self.relative)
        before = self.path.stat()
        data = self.path.read_bytes()
        after = self.path.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
            raise OSError(f"the file changed while it was read ({before.st_size} bytes, then {after.st_size})")
        object.__setattr__(self, "_read_as", _signature(after))
        return data

    def check_unchanged(self) -> None:
        """ChangedWhileRead when the local file is no longer what `read_bytes` read (a reader that opens the path
        again, as DuckDB's whole-file read does, must call this after it)."""
        try:
            now = _signature(self.path.stat())
        except OSError:
            now = None
        if now != getattr(self, "_read_as", None):
            raise ChangedWhileRead("the file changed while it was read (replaced or rewritten after it was hashed)")


class ChangedWhileRead(OSError):
    """A landed file rewritten between the read that hashed it and a later read of its path: read it again next run."""


def _signature(status: os.stat_result) -> tuple[int, int, int]:
    return status.st_ino, status.st_size, status.st_mtime_ns


def landing_store(home: Home, folder: str) -> Store:
    """Where a landing folder lives: the gateway folder may be in a bucket; every other one is local."""
    return home.landing_store if folder == GATEWAY else Store.at(home.landing)


def discover_landed(home: Home, folder: str, by_format: bool = True) -> Iterator[LandedFile]:
    """Every file under landing/<folder>/, sorted by path, hidden files and folders skipped, symlinks included (judged later).

    With `by_format`, the first folder below names the file's format (a file directly under landing/<folder>/
    has format '', which `file_problem` reports); otherwise every file's format is `folder`. Nothing is left out
    in silence: a FIFO, socket or device, a name that is not UTF-8, a folder that cannot be listed and a symlink to a
    folder (not followed) come back with their `problem` set.
    """

    def fmt(parts: tuple[str, ...] | list[str]) -> str:
        return (parts[0] if len(parts) >= 2 else "") if by_format else folder

    store = landing_store(home, folder)
    if not store.is_local:
        for relative in store.files(folder):
            parts = relative.split("/")[1:]
            if not any(part.startswith(".") for part in parts):
                yield LandedFile(path=None, relative=relative, format=fmt(parts), store=store)
        return
    landing = Path(store.root)
    root = landing / folder
    if not root.is_dir():
        return
    found: list[LandedFile] = []

    def unlisted(error: OSError) -> None:
        path = Path(error.filename)
        found.append(_landed(landing, root, path, fmt, f"the folder cannot be listed: {error.strerror}"))

    for directory, folders, names in os.walk(root, onerror=unlisted):
        folders[:] = [name for name in folders if not name.startswith(".")]  # rsync's .~tmp~ holds partial files
        for name in names:
            if not name.startswith("."):
                path = Path(directory) / name
                found.append(_landed(landing, root, path, fmt, _not_regular(path)))
        for name in folders:  # os.walk does not enter a symlinked folder: say so rather than skip its files unseen
            if not name.startswith(".") and (path := Path(directory) / name).is_symlink():
                found.append(_landed(landing, root, path, fmt, SYMLINKED_FOLDER))
    yield from sorted(found, key=lambda landed: landed.relative)


SYMLINKED_FOLDER = "a symlink to a folder, not followed: move or copy its files into landing"


def _landed(landing: Path, root: Path, path: Path, fmt, problem: str | None) -> LandedFile:
    """A local landed file; a name that is not UTF-8 is kept with its bytes escaped, and is a problem."""
    relative = path.relative_to(landing).as_posix()
    readable = relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if readable != relative:
        problem = problem or "the file name is not valid UTF-8 (rename the file)"
    return LandedFile(path=path, relative=readable, format=fmt(path.relative_to(root).parts), problem=problem)


def _not_regular(path: Path) -> str | None:
    """Why a path is not a file to read (a FIFO would block the run), or None for a file or a symlink."""
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        return f"the file cannot be read: {exc.strerror}"
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
        return None
    return "not a regular file (a FIFO, socket or device); not read"


def file_problem(home: Home, landed: LandedFile, suffixes: Mapping[str, tuple[str, ...]], where: str | None = None) -> str | None:
    """Why a landed file cannot be read, or None: a symlink leaving landing, an unknown format, a wrong file type.

    `suffixes` maps each format of the folder to the file endings it accepts; `where`, when given, names the
    folder's layout in the message (for example 'landing/billing/<format>/').
    """
    if landed.problem is not None:
        return landed.problem
    if landed.path is not None and landed.path.is_symlink():
        try:
            target = landed.path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "symlink does not point to a regular file"
        if not target.is_relative_to(home.landing.resolve()):
            return "symlink points outside the landing folder; not followed"
        if not target.is_file():
            return "symlink does not point to a regular file"
    folder = landed.relative.split("/", 1)[0]
    if landed.format not in suffixes:
        hint = f"files go under {where}; " if where else ""
        return f"unknown {folder} format '{landed.format}' ({hint}supported: {', '.join(sorted(suffixes))})"
    accepted = suffixes[landed.format]
    if not landed.name.lower().endswith(accepted):
        kind = f"{folder} format" if where else "format"
        return f"unsupported file type for {kind} '{landed.format}' (expected {', '.join(accepted)})"
    return None


# -- pending dates --------------------------------------------------------------------------------


def pending_dates(home: Home) -> set[dt.date]:
    """Dates whose lake rows changed and that no successful run has materialized since."""
    lake = home.lake_store
    if not lake.exists(PENDING_FILE):
        return set()
    return {dt.date.fromisoformat(line) for line in lake.read_bytes(PENDING_FILE).decode().split() if line}


def pending_version(home: Home) -> int:
    """When the pending dates were last marked (ns since the epoch); 0 when none ever were or the lake is remote."""
    path = home.lake / PENDING_FILE
    return path.stat().st_mtime_ns if home.lake_url is None and path.is_file() else 0


def mark_pending(home: Home, dates: set[dt.date]) -> None:
    if dates:
        with pending_lock(home):
            _write_pending(home, pending_dates(home) | set(dates))


def clear_pending(home: Home, dates: set[dt.date]) -> None:
    with pending_lock(home):
        _write_pending(home, pending_dates(home) - set(dates))


def _write_pending(home: Home, dates: set[dt.date]) -> None:
    home.lake_store.write_bytes(PENDING_FILE, "".join(f"{d.isoformat()}\n" for d in sorted(dates)).encode())


def remove_scratch(home: Home) -> int:
    """Remove the scratch folders gateway ingestion left behind (`<home>/.tmp/ingest-*`), unless a gateway
    ingestion is running now (a scheduled run beside a CLI run): its scratch is in use. Returns how many there were."""
    if ingestion_running(home, GATEWAY):
        return 0
    folders = [path for path in home.scratch.glob("ingest-*") if path.is_dir()] if home.scratch.is_dir() else []
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders)


# -- manifest and audit ---------------------------------------------------------------------------


def read_manifest(home: Home) -> dict[str, dict]:
    """The latest manifest row per landed path."""
    lake = home.lake_store
    files = lake.files(MANIFEST_DIR, ".parquet")
    if not files:
        return {}
    if not lake.is_local:  # one object at a time is kinder to S3-compatible servers than a burst of ranged reads
        table = pa.concat_tables([pq.read_table(pa.BufferReader(lake.read_bytes(f)), schema=MANIFEST_SCHEMA) for f in files])
        return {row["path"]: row for row in table.to_pylist()}
    # A run reads the manifest once per source and check: read every small file in one multi-threaded pass,
    # and again only when a file was added, removed or rewritten since.
    paths = [lake.uri(f) for f in files]
    signature = tuple((path, (stat := os.stat(path)).st_mtime_ns, stat.st_size) for path in paths)
    cached = _MANIFEST_CACHE.get(lake.root)
    if cached is None or cached[0] != signature:
        table = pads.dataset(paths, schema=MANIFEST_SCHEMA, format="parquet").to_table()
        cached = _MANIFEST_CACHE[lake.root] = (signature, {row["path"]: row for row in table.to_pylist()})
    return {path: dict(row) for path, row in cached[1].items()}


_MANIFEST_CACHE: dict[str, tuple[tuple, dict[str, dict]]] = {}


def manifest_entry(landed: LandedFile, *, sha256: str | None, status: str, error: str | None, **counts) -> dict:
    """One manifest row: the file, its hash, loaded / failed / removed, and its row counts and event dates."""
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
        "rows_skipped": counts.get("rows_skipped") or 0,
        "skipped_reasons": counts.get("skipped_reasons"),
        "event_dates": counts.get("event_dates", []),
        "ingested_at": dt.datetime.now(dt.timezone.utc),
    }


def skipped_counts(skipped: tuple[tuple[str, int], ...]) -> dict:
    """A file's skipped records as manifest columns: rows_skipped and skipped_reasons (`{"reason": count}`, JSON)."""
    total = sum(count for _, count in skipped)
    return {"rows_skipped": total, "skipped_reasons": json.dumps(dict(skipped), sort_keys=True) if total else None}


def write_audit(home: Home, landed: LandedFile, entry: dict, rejected: pa.Table | Path | None = None) -> None:
    """Rejected rows first (a table, or a local Parquet file of AUDIT_REJECTED_SCHEMA moved into the lake), the manifest
    row last: a crash in between re-ingests the file next time."""
    relative = f"{REJECTED_DIR}/{landed.file_id}.parquet"
    if isinstance(rejected, Path):
        home.lake_store.put_file(rejected, relative)
    else:
        rejected = AUDIT_REJECTED_SCHEMA.empty_table() if rejected is None else rejected.cast(AUDIT_REJECTED_SCHEMA)
        home.lake_store.write_bytes(relative, parquet_bytes(rejected))
    write_manifest(home, landed, entry)


def write_manifest(home: Home, landed: LandedFile, entry: dict) -> None:
    """A landed file's manifest row, replacing the one it had."""
    home.lake_store.write_bytes(f"{MANIFEST_DIR}/{landed.file_id}.parquet", parquet_bytes(pa.Table.from_pylist([entry], schema=MANIFEST_SCHEMA)))


def conservation_violations(home: Home, folder: str) -> tuple[int, list[str]]:
    """(files checked, one line per landed file under landing/<folder>/ where rows_read is not
    rows_loaded + rows_rejected + rows_duplicate + rows_skipped)."""
    manifest = [row for path, row in read_manifest(home).items() if path.startswith(f"{folder}/")]
    broken = [
        f"{row['path']}: read {row['rows_read']} != loaded {row['rows_loaded']} + rejected {row['rows_rejected']}"
        f" + duplicate {row['rows_duplicate']} + skipped {row['rows_skipped'] or 0}"
        for row in manifest
        if row["rows_read"] != row["rows_loaded"] + row["rows_rejected"] + row["rows_duplicate"] + (row["rows_skipped"] or 0)
    ]
    return len(manifest), broken


def failed_files(home: Home, folder: str) -> list[dict]:
    """The manifest rows of files under landing/<folder>/ that could not be read when last tried."""
    return sorted((row for path, row in read_manifest(home).items() if path.startswith(f"{folder}/") and row["status"] == "failed"),
                  key=lambda row: row["path"])


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


# -- lake tables ----------------------------------------------------------------------------------


def request_files(home: Home, dates: list[dt.date]) -> list[str]:
    """The Parquet files of gateway requests for these event dates, as paths or s3:// URLs."""
    lake = home.lake_store
    return [lake.uri(relative) for day in dates for relative in lake.files(f"{REQUESTS_TABLE}/event_date={day.isoformat()}", ".parquet")]


def request_dates(home: Home) -> set[dt.date]:
    """The event dates that hold gateway requests in the lake (its event_date=YYYY-MM-DD folders with a file)."""
    prefix = f"{REQUESTS_TABLE}/event_date="
    return {dt.date.fromisoformat(f[len(prefix):len(prefix) + 10]) for f in home.lake_store.files(REQUESTS_TABLE, ".parquet")
            if f.startswith(prefix)}


def request_file(day: dt.date, file_id: str) -> str:
    """Where one landed file's requests of one event date are kept, relative to the lake."""
    return f"{REQUESTS_TABLE}/event_date={day.isoformat()}/{file_id}.parquet"


def table_file(table: str, file_id: str) -> str:
    """Where one landed file's rows of a record table (bills, outcomes, …) are kept, relative to the lake."""
    return f"{table}/{file_id}.parquet"


def table_files(home: Home, table: str, exclude: str | None = None) -> list[str]:
    """The Parquet files of a record table, as paths or s3:// URLs (`exclude`: a file_id)."""
    lake = home.lake_store
    return [lake.uri(f) for f in lake.files(table, ".parquet") if exclude is None or f != table_file(table, exclude)]


def remove_orphans(home: Home, table: str, manifest: Mapping[str, dict], dates_column: str | None = None) -> tuple[list[str], set[dt.date]]:
    """Remove the lake files of `table` that no manifest row accounts for: what an ingestion stopped between writing a
    landed file's rows and its manifest row left behind (removed from landing or changed since, they were billed).
    A gateway day file is accounted for by its file's loaded or archived row listing that date; a record file by any
    row of its file (failed and removed rows keep what they kept). Returns (the files removed, the dates they held:
    the day folders', or `dates_column`'s values)."""
    lake = home.lake_store
    owned: dict[str, dict] = {row["file_id"]: row for row in manifest.values()}
    removed, dates = [], set()
    for relative in lake.files(table, ".parquet"):
        *folders, name = relative.split("/")
        row = owned.get(name.removesuffix(".parquet"))
        if name.startswith("."):  # a write in progress (storage.store)
            continue
        if table == REQUESTS_TABLE:
            match = DAY_FOLDER.fullmatch(folders[-1])
            if match is None:
                continue
            day = dt.date.fromisoformat(match[1])
            if row is not None and (row["status"] not in ("loaded", "archived") or day in (row["event_dates"] or [])):
                continue
            dates.add(day)
        elif row is not None:
            continue
        elif dates_column is not None:
            try:
                values = pq.read_table(pa.BufferReader(lake.read_bytes(relative)), columns=[dates_column]).column(0).to_pylist()
            except (OSError, pa.ArrowException):  # torn by the stop: it held no row anyone read
                values = []
            dates |= {value.date() if isinstance(value, dt.datetime) else value for value in values if value is not None}
        lake.delete(relative)
        removed.append(relative)
    return removed, dates


def audit_files(home: Home, folder: str) -> list[str]:
    """The Parquet files of a lake _audit folder (MANIFEST_DIR, REJECTED_DIR), as paths or s3:// URLs."""
    lake = home.lake_store
    return [lake.uri(relative) for relative in lake.files(folder, ".parquet")]
