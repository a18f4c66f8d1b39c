"""The one loop every landed source goes through: find its files, skip what is unchanged, load the rest.

A file is read once per content hash. A file whose content changed replaces the rows it loaded before (the
source's `load` writes its new Parquet and removes what the file no longer holds). A file that cannot be read
never stops the others: one with a lasting problem (a symlink out of landing, an unknown format or file type,
a FIFO, a name that is not UTF-8) gets a `failed` manifest row once, and again only when its problem changes;
one that fails while it is read (no permission, vanished, changed meanwhile) is `failed` and read again on the
next run. A file that is no longer in landing keeps its rows: landing is an inbox, the lake is the record
(`archived`); a source that re-delivers whole exports withdraws them instead (`removed`). Each source says how
to judge, load, forget and let go of one of its files; this module keeps the order, the counts and the progress
lines the same for all of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pipelines.storage.home import Home
from pipelines.storage.lake import (
    ChangedWhileRead,
    LandedFile,
    manifest_entry,
    mark_pending,
    read_manifest,
    remove_orphans,
    write_audit,
    write_manifest,
)
from pipelines.storage.lock import ingest_lock


@dataclass
class IngestReport:
    """What one ingestion pass of a source did."""

    source: str = ""
    ingested: list[dict] = field(default_factory=list)
    skipped: int = 0
    still_failed: int = 0
    """Files not read again since they are as they were when they could not be read (counted as not read, not unchanged)."""
    files: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    """Files no longer in landing whose rows stay: recorded, neither ingested nor counted in `rows`."""
    touched_dates: set[dt.date] = field(default_factory=set)

    @property
    def rows(self) -> dict[str, int]:
        keys = ("rows_read", "rows_loaded", "rows_rejected", "rows_duplicate", "rows_skipped")
        return {k: sum(entry.get(k) or 0 for entry in self.ingested) for k in keys}

    def add(self, entry: dict, previous: dict | None, relative: str) -> None:
        """Count one file's manifest row; its dates and the dates it held before are touched."""
        self.ingested.append(entry)
        self.files.append(relative)
        self.touched_dates |= set(entry["event_dates"] or []) | set((previous or {}).get("event_dates") or [])


GONE = ("archived", "removed")
"""Manifest statuses of files no longer in landing."""


@dataclass(frozen=True)
class LandedSource:
    """How one landed source judges, loads, forgets and lets go of a file.

    `problem(landed)` says why the file cannot be read (or None); `load(landed, data, sha256, previous)`
    writes its rows and audit and returns its manifest row; `forget(landed, previous)` removes the rows a
    file loaded before, when it can no longer be read; `gone(path, previous)` records a file no longer in
    landing (by default its rows stay: `archive`). `folder` is the landing folder the source's files are under;
    `table` the lake table its rows go to, whose files no manifest row accounts for are removed first (with the
    dates in their folder, or in column `dates`, marked pending).
    """

    name: str
    folder: str
    problem: Callable[[LandedFile], str | None]
    load: Callable[[LandedFile, bytes, str, dict | None], dict]
    forget: Callable[[LandedFile, dict | None], None] = lambda landed, previous: None
    gone: Callable[[Home, str, dict], dict] | None = None
    workers: int = 1
    table: str | None = None
    dates: str | None = None
    says_withdrawn: bool = False
    """Whether a re-read that loads fewer rows says so (`withdrawn`): the gateway's, whose rows are the file's own; a
    record source's `rows_loaded` leaves out rows another file holds, which stay."""


def ingest_landed(
    home: Home, source: LandedSource, landed: list[LandedFile], progress: Callable[[str], None] = lambda _: None
) -> IngestReport:
    """Ingest every new or changed file of `landed` for `source`; unchanged files are skipped. One ingestion of a
    source at a time, whichever process runs it (`storage.lock.ingest_lock`): a second waits for the first."""
    with ingest_lock(home, source.name, progress):
        return _ingest_all(home, source, landed, progress)


def _ingest_all(home: Home, source: LandedSource, landed: list[LandedFile], progress: Callable[[str], None]) -> IngestReport:
    manifest = read_manifest(home)
    if source.table is not None:
        orphans, dates = remove_orphans(home, source.table, manifest, source.dates)
        if orphans:
            mark_pending(home, dates)
            progress(f"warning: removed {len(orphans)} lake file(s) of {source.table} an interrupted ingestion left without their manifest row "
                     f"(e.g. {orphans[0]}); {len(dates)} date(s) to materialize again")
    report = IngestReport(source=source.name)
    pool = ThreadPoolExecutor(max_workers=max(1, source.workers), thread_name_prefix=f"ingest-{source.name}")
    try:
        entries = pool.map(lambda landed_file: _ingest_file(home, source, landed_file, manifest.get(landed_file.relative)), landed)
        for index, (landed_file, entry) in enumerate(zip(landed, entries), start=1):
            if entry is None:
                previous = manifest.get(landed_file.relative)
                if previous and previous["status"] == "failed":
                    report.still_failed += 1
                else:
                    report.skipped += 1
                continue
            report.add(entry, manifest.get(landed_file.relative), landed_file.relative)
            progress(
                f"[{index}/{len(landed)}] {landed_file.relative}: {entry['rows_loaded']} loaded, "
                f"{entry['rows_rejected']} rejected, {entry['rows_duplicate']} duplicate"
                + (f", {entry['rows_skipped']} skipped" if entry.get("rows_skipped") else "")
                + (f" ({entry['error']})" if entry["error"] and entry["status"] != "loaded" else "")  # loaded: "N rows rejected"
            )
            if source.says_withdrawn and (shrunk := withdrawn(entry, manifest.get(landed_file.relative))) is not None:
                progress(f"warning: {landed_file.relative} changed since its last read: {shrunk}")
    finally:
        pool.shutdown(cancel_futures=True)  # a file that failed stops the files not started; the started ones finish
    present = {landed_file.relative for landed_file in landed}
    for path, previous in manifest.items():
        if path.startswith(f"{source.folder}/") and path not in present and previous["status"] not in GONE:
            entry = (source.gone or archive)(home, path, previous)
            if entry["status"] == "archived":
                report.archived.append(path)
            else:
                report.add(entry, previous, path)
            progress(f"{path}: no longer in landing ({entry['error']})")
    return report


def withdrawn(entry: dict, previous: dict | None) -> str | None:
    """What a re-read of a changed file withdrew, when it loaded fewer rows than its last read (a file truncated
    or rewritten in place, as logrotate's copytruncate does, or landed again after it was archived): said, never
    silent; None otherwise. A `removed` file's rows were withdrawn already."""
    if entry["status"] != "loaded" or not previous or previous["status"] == "removed":
        return None
    before, now = previous.get("rows_loaded") or 0, entry.get("rows_loaded") or 0
    if now >= before:
        return None
    return (f"{before} rows loaded by its last read, {now} now: the records it no longer loads are withdrawn "
            f"(land the rotated or corrected copy to keep them)")


def archive(home: Home, path: str, previous: dict) -> dict:
    """Record a file no longer in landing whose rows stay in the lake: its counts and dates, status `archived`."""
    landed = LandedFile(path=None, relative=path, format=previous["format"])
    counts = {key: previous.get(key) for key in COUNTS}
    kept = (f"its {previous['rows_loaded']} rows stay" if previous.get("rows_loaded") or previous["status"] != "failed"
            else "it had no rows (its last read failed)")
    entry = manifest_entry(
        landed, sha256=previous["sha256"], status="archived", error=f"no longer in landing; {kept}",
        event_dates=previous["event_dates"] or [], **counts,
    )
    write_manifest(home, landed, entry)  # its rejected rows stay as they were
    return entry


def _ingest_file(home: Home, source: LandedSource, landed: LandedFile, previous: dict | None) -> dict | None:
    try:
        return _read_and_load(home, source, landed, previous)
    except MemoryError:  # a file held in memory while it is read (in its compressed form) that does not fit
        try:
            size = f"{landed.path.stat().st_size:,} bytes; " if landed.path is not None else ""
        except OSError:
            size = ""
        reason = f"not enough memory to read it ({size}a landed file is held in memory while it is read): gzip it or split it"
        if previous and previous["status"] not in GONE and previous.get("rows_loaded"):
            return _failed_keeping(home, landed, reason, previous)
        return failed(home, landed, reason)


def _read_and_load(home: Home, source: LandedSource, landed: LandedFile, previous: dict | None) -> dict | None:
    problem = source.problem(landed)
    if problem:
        if previous and previous["error"] == problem:
            return None
        source.forget(landed, previous)
        return failed(home, landed, problem)
    try:
        data = landed.read_bytes()
    except OSError as exc:  # no permission, vanished, changed while read: failed now, read again next run
        reason = f"the file cannot be read: {exc.strerror or exc}"
        if previous and previous["status"] not in GONE and previous.get("rows_loaded"):
            return _failed_keeping(home, landed, reason, previous)
        return failed(home, landed, reason)
    sha = hashlib.sha256(data).hexdigest()
    if previous and previous["sha256"] == sha and previous["status"] not in GONE:
        return None
    try:
        return source.load(landed, data, sha, previous)
    except ChangedWhileRead as exc:  # rewritten while its path was read again: nothing of it staged, read next run
        if previous and previous["status"] not in GONE and previous.get("rows_loaded"):
            return _failed_keeping(home, landed, str(exc), previous)
        return failed(home, landed, str(exc))


COUNTS = ("rows_read", "rows_loaded", "rows_rejected", "rows_duplicate", "duplicate_conflicts", "rows_skipped", "skipped_reasons")
"""A manifest row's counts: what a file's rows in the lake add up to."""


def _failed_keeping(home: Home, landed: LandedFile, problem: str, previous: dict) -> dict:
    """A file read before that cannot be read now (changed, then deleted or locked mid-run): `failed`, but its rows of
    the last read stay in the lake, so the row keeps their counts and dates (and its rejected rows stay): a later
    `archived` row says how many stay, and the audit still adds up to the money. No hash, so it is read again."""
    entry = manifest_entry(
        landed, sha256=None, status="failed", error=f"{problem}; the {previous['rows_loaded']} rows of its last read stay",
        event_dates=previous["event_dates"] or [], **{key: previous.get(key) for key in COUNTS},
    )
    write_manifest(home, landed, entry)
    return entry


def failed(home: Home, landed: LandedFile, problem: str, sha256: str | None = None) -> dict:
    """Record a file that could not be read: a `failed` manifest row with the reason, no rows."""
    entry = manifest_entry(landed, sha256=sha256, status="failed", error=problem)
    write_audit(home, landed, entry)
    return entry
