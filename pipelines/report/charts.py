"""Charts as inline SVG, drawn in Python: no script, no library, nothing fetched.

Values arrive as numbers for geometry only (floats are fine for pixels); every label shown on a chart
is formatted by the caller from the exact Decimal. Each chart carries a <title> for screen readers and
a <title> per mark for hover values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)
WIDTH = 760
FONT = 12
CHAR = 6.2
"""Approximate width of one character at FONT px, for layout."""

Formatter = Callable[[float], str]


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (always including 0 when the range crosses it)."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _text(x: float, y: float, label: str, anchor: str = "start", size: int = FONT, css: str = "", weight: str = "") -> str:
    attrs = f' class="{css}"' if css else ""
    attrs += f' font-weight="{weight}"' if weight else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}"{attrs}>{escape(label)}</text>'


def _clip(label: str, width: float) -> str:
    limit = max(4, int(width / CHAR))
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _legend(names: Sequence[str], top: float, width: float = WIDTH, left: float = 10) -> tuple[list[str], float]:
    """Legend entries laid out in rows; returns the SVG parts and the height used."""
    parts, x, y = [], left, top
    for index, name in enumerate(names):
        entry = 18 + len(name) * CHAR + 16
        if x + entry > width and x > left:
            x, y = left, y + 18
        parts.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" rx="2" fill="{color(index)}"/>')
        parts.append(_text(x + 17, y, name, css="legend"))
        x += entry
    return parts, (y - top) + 22 if names else 0


def _svg(title: str, height: float, body: list[str], kind: str) -> str:
    return (
        f'<svg class="chart" data-chart="{kind}" role="img" viewBox="0 0 {WIDTH} {height:.0f}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    fmt: Formatter,
    *,
    markers: set[tuple[int, int]] | None = None,
    guides: Sequence[tuple[float, str]] = (),
    height: int = 300,
) -> str:
    """One line per series over shared x labels (dates); `markers` rings (series, x) points; `guides` are dashed y lines."""
    legend, legend_height = _legend([name for name, _ in series], top=16)
    values = [v for _, points in series for v in points if v is not None] + [g for g, _ in guides]
    low, high = min(values + [0.0]), max(values + [0.0])
    ticks = nice_ticks(low, high)
    low, high = ticks[0], ticks[-1]
    left, right, top, bottom = 70, 44, 12 + legend_height, 36
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    span = (high - low) or 1.0

    def sx(index: int) -> float:
        return left + (plot_w * index / (len(x_labels) - 1) if len(x_labels) > 1 else plot_w / 2)

    def sy(value: float) -> float:
        return top + plot_h - (value - low) / span * plot_h

    body = list(legend)
    for tick in ticks:
        y = sy(tick)
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        body.append(_text(left - 6, y + 4, fmt(tick), anchor="end", css="axis"))
    step = max(1, math.ceil(len(x_labels) / 10))
    for index, label in enumerate(x_labels):
        if index % step == 0 or index == len(x_labels) - 1:
            body.append(_text(sx(index), height - bottom + 18, label, anchor="middle", css="axis"))
    for value, label in guides:
        y = sy(value)
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" class="guide"/>')
        body.append(_text(WIDTH - right - 4, y - 4, label, anchor="end", css="axis"))
    for s_index, (name, points) in enumerate(series):
        coords = [(sx(i), sy(v), i, v) for i, v in enumerate(points) if v is not None]
        if len(coords) > 1:
            path = " ".join(f"{'M' if n == 0 else 'L'}{x:.1f},{y:.1f}" for n, (x, y, _, _) in enumerate(coords))
            body.append(f'<path d="{path}" fill="none" stroke="{color(s_index)}" stroke-width="2"/>')
        for x, y, i, v in coords:
            flagged = markers is not None and (s_index, i) in markers
            radius = 6 if flagged else 3
            ring = ' stroke="#111" stroke-width="2"' if flagged else ""
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{color(s_index)}"{ring}>'
                f"<title>{escape(name)} {escape(x_labels[i])}: {escape(fmt(v))}{' (flagged)' if flagged else ''}</title></circle>"
            )
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" class="axisline"/>')
    return _svg(title, height, body, "line")


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    fmt: Formatter,
    *,
    stacked: bool = False,
    value_labels: Sequence[Sequence[str]] | None = None,
) -> str:
    """Horizontal bars, one row per category: grouped by series, or stacked (then the total is labelled)."""
    show_legend = len(series) > 1
    legend, legend_height = _legend([name for name, _ in series], top=16) if show_legend else ([], 0)
    label_w = min(320, max(60, max((len(c) for c in categories), default=4) * CHAR * 1.1 + 10))
    bar_h = 16 if stacked or len(series) == 1 else 11
    row_h = bar_h + 10 if stacked or len(series) == 1 else bar_h * len(series) + 10
    left, right, top = label_w + 10, 96, 10 + legend_height
    height = top + row_h * len(categories) + 30
    plot_w = WIDTH - left - right
    totals = [sum(max(0.0, s[1][i]) for s in series) for i in range(len(categories))]
    values = totals if stacked else [v for _, points in series for v in points]
    low = min(values + [0.0])
    high = max(values + [0.0])
    ticks = nice_ticks(low, high, 4)
    low, high = ticks[0], ticks[-1]
    span = (high - low) or 1.0

    def sx(value: float) -> float:
        return left + (value - low) / span * plot_w

    body = list(legend)
    for tick in ticks:
        x = sx(tick)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - 24}" class="grid"/>')
        body.append(_text(x, height - 8, fmt(tick), anchor="middle", css="axis"))
    for c_index, category in enumerate(categories):
        y0 = top + c_index * row_h + 5
        body.append(_text(left - 8, y0 + (row_h - 10) / 2 + 4, _clip(category, label_w - 10), anchor="end", css="label"))
        offset = 0.0
        for s_index, (name, points) in enumerate(series):
            value = points[c_index]
            label = value_labels[s_index][c_index] if value_labels else fmt(value)
            if stacked:
                x1, x2 = sx(offset), sx(offset + max(0.0, value))
                offset += max(0.0, value)
                y = y0
            else:
                x1, x2 = sorted((sx(0.0), sx(value)))
                y = y0 + s_index * bar_h
            body.append(
                f'<rect x="{x1:.1f}" y="{y:.1f}" width="{max(x2 - x1, 0.5):.1f}" height="{bar_h - 1}" fill="{color(s_index)}">'
                f"<title>{escape(category)} — {escape(name)}: {escape(label)}</title></rect>"
            )
            if not stacked:
                body.append(_text(x2 + 4, y + bar_h - 3, label, css="value", size=11))
        if stacked:
            total = value_labels[-1][c_index] if value_labels and len(value_labels) > len(series) else fmt(totals[c_index])
            body.append(_text(sx(offset) + 4, y0 + bar_h - 3, total, css="value", size=11))
    zero = sx(0.0)
    body.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top - 4}" y2="{height - 24}" class="axisline"/>')
    return _svg(title, height, body, "stacked-bar" if stacked else "bar")


def interval_chart(
    title: str, categories: Sequence[str], points: Sequence[float | None], intervals: Sequence[tuple[float, float] | None],
    fmt: Formatter, labels: Sequence[str], *, reference: float = 1.0,
) -> str:
    """One row per category: a dot at its point, a whisker over its interval, and a vertical line at `reference`
    (no change). A row without a point is labelled only."""
    label_w = min(360, max(60, max((len(c) for c in categories), default=4) * CHAR + 10))
    left, right, top, row_h = label_w + 10, 150, 12, 24
    height = top + row_h * len(categories) + 30
    plot_w = WIDTH - left - right
    values = [reference] + [v for v in points if v is not None] + [v for pair in intervals if pair for v in pair]
    ticks = nice_ticks(min(values), max(values), 4)
    low, high = ticks[0], ticks[-1]
    span = (high - low) or 1.0

    def sx(value: float) -> float:
        return left + (value - low) / span * plot_w

    body = []
    for tick in ticks:
        x = sx(tick)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - 24}" class="grid"/>')
        body.append(_text(x, height - 8, fmt(tick), anchor="middle", css="axis"))
    for index, category in enumerate(categories):
        y = top + index * row_h + row_h / 2
        body.append(_text(left - 8, y + 4, _clip(category, label_w - 10), anchor="end", css="label"))
        if intervals[index] is not None:
            x1, x2 = sx(intervals[index][0]), sx(intervals[index][1])
            body.append(f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color(0)}" stroke-width="3" class="interval"/>')
        if points[index] is not None:
            x = sx(points[index])
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color(0)}" class="point"><title>{escape(category)}: '
                f"{escape(labels[index])}</title></circle>"
            )
        body.append(_text(WIDTH - right + 8, y + 4, labels[index], css="value", size=11))
    ref = sx(reference)
    body.append(f'<line x1="{ref:.1f}" x2="{ref:.1f}" y1="{top - 4}" y2="{height - 24}" class="axisline"/>')
    return _svg(title, height, body, "interval")


def scatter_chart(
    title: str, names: Sequence[str], xs: Sequence[float], ys: Sequence[float], x_fmt: Formatter, y_fmt: Formatter,
    labels: Sequence[str], marked: Sequence[bool], x_label: str, y_label: str,
) -> str:
    """One point per name at (x, y), each named beside it; a marked point is drawn larger with a ring."""
    left, right, top, bottom = 70, 20, 30, 46
    height = 314
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    x_ticks = nice_ticks(0.0, max(list(xs) + [1.0]), 5)
    y_ticks = nice_ticks(0.0, max(list(ys) + [1e-9]), 4)

    def sx(value: float) -> float:
        return left + (value - x_ticks[0]) / ((x_ticks[-1] - x_ticks[0]) or 1.0) * plot_w

    def sy(value: float) -> float:
        return top + plot_h - (value - y_ticks[0]) / ((y_ticks[-1] - y_ticks[0]) or 1.0) * plot_h

    body = []
    for tick in x_ticks:
        body.append(f'<line x1="{sx(tick):.1f}" x2="{sx(tick):.1f}" y1="{top}" y2="{top + plot_h}" class="grid"/>')
        body.append(_text(sx(tick), top + plot_h + 16, x_fmt(tick), anchor="middle", css="axis"))
    for tick in y_ticks:
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(tick):.1f}" y2="{sy(tick):.1f}" class="grid"/>')
        body.append(_text(left - 6, sy(tick) + 4, y_fmt(tick), anchor="end", css="axis"))
    body.append(_text(left + plot_w / 2, height - 6, x_label, anchor="middle", css="axis"))
    body.append(_text(10, 14, y_label, css="axis"))
    for index, name in enumerate(names):
        x, y = sx(xs[index]), sy(ys[index])
        ring = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="10" fill="none" stroke="{color(2)}" stroke-width="2" class="best"/>' if marked[index] else ""
        body.append(
            ring + f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color(index)}" class="point"><title>{escape(name)}: '
            f"{escape(labels[index])}</title></circle>"
        )
        body.append(_text(x + 8, y - 6, _clip(name + (" ★" if marked[index] else ""), max(WIDTH - x - 12, 40)), css="label", size=11))
    return _svg(title, height, body, "scatter")


def breakeven_chart(
    title: str,
    full_utilization_cost: float,
    apis: Sequence[tuple[str, float, float | None, str, str]],
    actual: tuple[float, float, str] | None,
    x_fmt: Formatter,
    y_fmt: Formatter,
    curve_name: str,
) -> str:
    """Self-hosted cost per token against utilization u in (0, 1]: the curve full_utilization_cost / u, one horizontal
    line per API model (name, its cost, the break-even utilization or None, the line's label, the break-even label),
    the break-even points ringed, and the actual utilization (u, cost, label) marked; a point above the plot is drawn
    on its top edge and said to be off the chart."""
    legend, legend_height = _legend([curve_name, *[name for name, *_ in apis]], top=16)
    left, right, top, bottom = 70, 20, 30 + legend_height, 46
    height = top + 250 + bottom
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    base = max([full_utilization_cost] + [cost for _, cost, *_ in apis] + [1e-9])
    ceiling = max(base * 1.6, min(actual[1], base * 4)) if actual else base * 1.6
    y_ticks = nice_ticks(0.0, ceiling, 5)
    y_top = y_ticks[-1]

    def sx(u: float) -> float:
        return left + min(max(u, 0.0), 1.0) * plot_w

    def sy(value: float) -> float:
        return top + plot_h - min(max(value, 0.0), y_top) / y_top * plot_h

    body = list(legend)
    for tick in y_ticks:
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(tick):.1f}" y2="{sy(tick):.1f}" class="grid"/>')
        body.append(_text(left - 6, sy(tick) + 4, y_fmt(tick), anchor="end", css="axis"))
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        body.append(f'<line x1="{sx(tick):.1f}" x2="{sx(tick):.1f}" y1="{top}" y2="{top + plot_h}" class="grid"/>')
        body.append(_text(sx(tick), top + plot_h + 16, x_fmt(tick), anchor="middle", css="axis"))
    body.append(_text(left + plot_w / 2, height - 8, "utilization of the cluster's capacity", anchor="middle", css="axis"))
    body.append(_text(10, top - 14, "cost per 1M tokens", css="axis"))
    if full_utilization_cost > 0:
        start = min(full_utilization_cost / y_top, 1.0)
        steps = 120
        us = [start * (1.0 / start) ** (i / steps) for i in range(steps + 1)]
        path = " ".join(f"{'M' if i == 0 else 'L'}{sx(u):.1f},{sy(full_utilization_cost / u):.1f}" for i, u in enumerate(us))
    else:
        path = f"M{sx(0.0):.1f},{sy(0.0):.1f} L{sx(1.0):.1f},{sy(0.0):.1f}"
    body.append(f'<path d="{path}" fill="none" stroke="{color(0)}" stroke-width="2.5" class="curve"><title>{escape(curve_name)}</title></path>')
    for index, (name, cost, breakeven, line_label, point_label) in enumerate(apis, start=1):
        y = sy(cost)
        body.append(
            f'<path d="M{left},{y:.1f} L{left + plot_w},{y:.1f}" stroke="{color(index)}" stroke-width="2" stroke-dasharray="6 3" '
            f'fill="none" class="api-line"><title>{escape(name)}: {escape(line_label)}</title></path>'
        )
        body.append(_text(left + plot_w - 4, y - 5, _clip(line_label, plot_w * 0.7), anchor="end", css="value", size=11))
        if breakeven is not None:
            x = sx(breakeven)
            body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y:.1f}" y2="{top + plot_h}" class="guide"/>')
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="#fff" stroke="{color(index)}" stroke-width="3" class="breakeven">'
                f"<title>{escape(name)}: {escape(point_label)}</title></circle>"
            )
            body.append(_text(x - 9, y + 16, point_label, anchor="end", css="label", size=11))  # left and below: the actual mark labels right and above
    if actual is not None:
        u, cost, label = actual
        x, y = sx(u), sy(cost)
        above = cost > y_top
        if above:
            label += " (above the chart)"
            body.append(f'<path d="M{x - 6:.1f},{y + 9:.1f} L{x:.1f},{y:.1f} L{x + 6:.1f},{y + 9:.1f} Z" fill="#111" class="actual">'
                        f"<title>{escape(label)}</title></path>")
        else:
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="#111" class="actual"><title>{escape(label)}</title></circle>')
        anchor = "start" if x < left + plot_w * 0.6 else "end"
        body.append(_text(x + (10 if anchor == "start" else -10), y + (22 if above else -10), label, anchor=anchor, css="label", size=11,
                          weight="600"))
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" class="axisline"/>')
    body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" class="axisline"/>')
    return _svg(title, height, body, "breakeven")
