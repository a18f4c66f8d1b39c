"""The spend report: one self-contained HTML file (inline CSS and SVG, works offline) under <home>/reports/."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from pipelines.report.data import ReportData, load_report_data
from pipelines.report.page import render
from pipelines.storage.home import Home
from pipelines.storage.relations import printable

__all__ = ["ReportData", "build_report", "default_report_path", "write_report"]


def default_report_path(home: Home, month: str | None = None) -> Path:
    return home.reports / (f"spend-report-{month}.html" if month else "spend-report.html")


def build_report(home: Home, month: str | None = None, built_at: dt.datetime | None = None) -> str:
    """The report page for the home's warehouse (read-only), for one month or for all the data. Control characters
    and the marks that reorder text, which a feature or model name can carry from a log, are written as their escapes
    (\\x1b, \\u202e), as on the terminal: a page cannot be made to show what it does not say."""
    return printable(render(load_report_data(home, month, built_at)))


def write_report(home: Home, out: Path | None = None, month: str | None = None) -> Path:
    """Render the report and write it atomically to `out` (default <home>/reports/spend-report[-YYYY-MM].html)."""
    path = Path(out) if out is not None else default_report_path(home, month)
    page = build_report(home, month)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a failed write leaves nothing beside the target
    return path
