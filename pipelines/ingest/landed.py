"""The one loop every landed source goes through: find its files, skip what is unchanged, load the rest.

A file is read once per content hash. A file that cannot be read (a symlink out of landing, an unknown
format or file type) gets a `failed` manifest row once, and again only when its problem changes. A file whose
content changed replaces the rows it loaded before (the source's `load` writes its new Parquet and removes what
the file no longer holds). Each source says how to judge, load and forget one of its files; this module keeps
the order, the counts and the progress lines the same for all of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pipelines.storage.home import Home
from pipelines.storage.lake import LandedFile, manifest_entry, read_manifest, write_audit


@dataclass
class IngestReport:
    """What one ingestion pass of a source did."""

    source: str = ""
    ingested: list[dict] = field(default_factory=list)
    skipped: int = 0
    files: list[str] = field(default_factory=list)
    touched_dates: set[dt.date] = field(default_factory=set)

    @property
    def rows(self) -> dict[str, int]:
        keys = ("rows_read", "rows_loaded", "rows_rejected", "rows_duplicate")
        return {k: sum(entry[k] for entry in self.ingested) for k in keys}

    def add(self, entry: dict, previous: dict | None, relative: str) -> None:
        """Count one file's manifest row; its dates and the dates it held before are touched."""
        self.ingested.append(entry)
        self.files.append(relative)
        self.touched_dates |= set(entry["event_dates"] or []) | set((previous or {}).get("event_dates") or [])


@dataclass(frozen=True)
class LandedSource:
    """How one landed source judges, loads and forgets a file.

    `problem(landed)` says why the file cannot be read (or None); `load(landed, data, sha256, previous)`
    writes its rows and audit and returns its manifest row; `forget(landed, previous)` removes the rows a
    file loaded before, when it can no longer be read.
    """

    name: str
    problem: Callable[[LandedFile], str | None]
    load: Callable[[LandedFile, bytes, str, dict | None], dict]
    forget: Callable[[LandedFile, dict | None], None] = lambda landed, previous: None


def ingest_landed(
    home: Home, source: LandedSource, landed: list[LandedFile], progress: Callable[[str], None] = lambda _: None
) -> IngestReport:
    """Ingest every new or changed file of `landed` for `source`; unchanged files are skipped."""
    manifest = read_manifest(home)
    report = IngestReport(source=source.name)
    for index, landed_file in enumerate(landed, start=1):
        previous = manifest.get(landed_file.relative)
        entry = _ingest_file(home, source, landed_file, previous)
        if entry is None:
            report.skipped += 1
            continue
        report.add(entry, previous, landed_file.relative)
        progress(
            f"[{index}/{len(landed)}] {landed_file.relative}: {entry['rows_loaded']} loaded, "
            f"{entry['rows_rejected']} rejected, {entry['rows_duplicate']} duplicate"
            + (f" ({entry['error']})" if entry["error"] else "")
        )
    return report


def _ingest_file(home: Home, source: LandedSource, landed: LandedFile, previous: dict | None) -> dict | None:
    problem = source.problem(landed)
    if problem:
        if previous and previous["error"] == problem:
            return None
        source.forget(landed, previous)
        return failed(home, landed, problem)
    data = landed.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if previous and previous["sha256"] == sha:
        return None
    return source.load(landed, data, sha, previous)


def failed(home: Home, landed: LandedFile, problem: str, sha256: str | None = None) -> dict:
    """Record a file that could not be read: a `failed` manifest row with the reason, no rows."""
    entry = manifest_entry(landed, sha256=sha256, status="failed", error=problem)
    write_audit(home, landed, entry)
    return entry
