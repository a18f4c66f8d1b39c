"""Small helpers for assets: the partition window as dates, and metadata tables."""

from __future__ import annotations

import datetime as dt

import dagster as dg


def window_dates(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    """[start, end) of the run's partition window, as UTC dates."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days)]


def markdown_table(header: list[str], rows: list[tuple]) -> str:
    """A small markdown table for materialization metadata."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)
