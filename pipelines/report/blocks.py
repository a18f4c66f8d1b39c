"""The report page's building blocks: number formats, tables, bar charts with labels, "no data yet" notes.

Money is shown from the exact Decimal, rounded only here, for display; floats are made only for chart geometry.
Every text that comes from the data is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from html import escape

from pipelines.report.charts import Formatter, bar_chart
from pipelines.report.data import Section

MAX_BARS = 12


# -- formatting -----------------------------------------------------------------------------------

def usd(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "n/a"
    quantized = Decimal(value).quantize(Decimal(1).scaleb(-places))
    return f"-${-quantized:,}" if quantized < 0 else f"${quantized:,}"


def unit_usd(value: Decimal | None) -> str:
    """A small unit cost with enough places to be readable: $0.002916, $0.0537, $12.34."""
    if value is None:
        return "n/a"
    size = abs(Decimal(value))
    return usd(value, 6 if size < Decimal("0.01") else 4 if size < 1 else 2)


def quantity(value: Decimal | None, unit: str) -> str:
    """A physical quantity with enough places to be readable: 0.003740 kWh, 0.2788 kg, 2.79 kWh."""
    if value is None:
        return "n/a"
    size = abs(Decimal(value))
    places = 6 if size < Decimal("0.01") else 4 if size < 1 else 2
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-places)):,} {unit}"


def pct(value: Decimal | None, places: int = 1) -> str:
    return "n/a" if value is None else f"{Decimal(value).quantize(Decimal(1).scaleb(-places)):,}%"


def count(value) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def axis_usd(value: float) -> str:
    size = abs(value)
    if size == 0:
        return "$0"
    if size >= 1000:
        return f"${value:,.0f}"
    if size >= 1:
        return f"${value:,.2f}".rstrip("0").rstrip(".")
    places = max(4, 1 - math.floor(math.log10(size)))  # two significant digits below $0.0001, never a bare "$0."
    return f"${value:.{places}f}".rstrip("0").rstrip(".")


def axis_pct(value: float) -> str:
    return f"{value:.0f}%"


def axis_plain(value: float) -> str:
    return f"{value:g}"


def as_float(value) -> float:
    """Decimal to float, for chart geometry only."""
    return float(value or 0)


# -- building blocks ------------------------------------------------------------------------------

def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: set[int] | None = None, status_column: int | None = None
) -> str:
    numeric = numeric or set()
    head = "".join(
        f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            css = "num" if i in numeric else f"status-{value}" if i == status_column else ""
            cells.append(f'<td class="{css}">{escape(str(value))}</td>' if css else f"<td>{escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def data_table(caption: str, headers, rows, numeric=None, status_column=None, open_: bool = False) -> str:
    return (
        f'<details class="data"{" open" if open_ else ""}><summary>Table: {escape(caption)}</summary>'
        + table(headers, rows, numeric, status_column)
        + "</details>"
    )


def bars(
    title: str, categories: Sequence[str], rows: Sequence[dict], series: Sequence[tuple[str, str]], axis: Formatter,
    label: Callable[[Decimal | None], str] = usd,
) -> str:
    """A bar chart of `rows`, one series per (name, column), each bar labelled with `label` of its exact value."""
    return bar_chart(
        title, categories, [(name, [as_float(row[column]) for row in rows]) for name, column in series], axis,
        value_labels=[[label(row[column]) for row in rows] for _, column in series],
    )


def empty(message: str) -> str:
    return f'<p class="empty">{escape(message)}</p>'


def no_data(part: Section, no_rows: str, about: str = "") -> str | None:
    """The note shown instead of a part whose table is missing (`about` says what it would give) or has no rows;
    None when it has rows."""
    if part.missing:
        return empty(part.missing + about)
    if not part.rows:
        return empty(no_rows)
    return None


def top(rows: list[dict], key: str, limit: int = MAX_BARS) -> list[dict]:
    return sorted(rows, key=lambda row: row[key] or 0, reverse=True)[:limit]
