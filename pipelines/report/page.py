"""The spend report as one self-contained HTML page: inline CSS, inline SVG charts, one tiny inline script.

Every chart has its numbers in a table right behind it (a <details> toggle); sections whose table does
not exist yet say "no data yet" instead of disappearing. The sections themselves are in `report.sections`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import escape

from pipelines.report.blocks import count, pct, unit_usd, usd
from pipelines.report.data import ReportData
from pipelines.report.sections import SECTIONS

CSS = """
:root { --ink: #1d2330; --muted: #5b6474; --line: #d9dee7; --bg: #f6f7fa; --card: #fff; --accent: #4e79a7; \
--warn: #b45309; --bad: #b91c1c; --ok: #15803d; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; \
color: var(--ink); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 20px 32px 16px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: #cfd6e4; }
header p.restated { color: #fcd34d; }
nav { padding: 8px 32px; background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; white-space: nowrap; }
nav button { float: right; font: inherit; padding: 2px 10px; border: 1px solid var(--line); border-radius: 4px; \
background: #fff; cursor: pointer; }
main { padding: 16px 32px 40px; max-width: 1280px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 8px 0 16px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.kpi b { display: block; font-size: 20px; }
.kpi span { color: var(--muted); font-size: 12px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 0 0 16px; }
section h2 { margin: 0 0 6px; font-size: 18px; }
section h3 { margin: 14px 0 4px; font-size: 15px; }
.note { color: var(--muted); margin: 2px 0 8px; }
.empty { color: var(--warn); background: #fff7ed; border: 1px solid #fed7aa; border-radius: 6px; padding: 8px 12px; }
.error { color: var(--bad); background: #fef2f2; border: 1px solid #fecaca; border-radius: 6px; padding: 8px 12px; \
white-space: pre-wrap; }
.estimate { display: inline-block; background: #eef2ff; color: #3730a3; border-radius: 4px; padding: 0 6px; font-size: 12px; }
svg.chart { max-width: 900px; display: block; margin: 6px 0; }
svg.chart text { fill: var(--ink); font-family: inherit; }
svg.chart .axis, svg.chart .legend { fill: var(--muted); }
svg.chart .grid { stroke: #e8ebf1; }
svg.chart .guide { stroke: var(--bad); stroke-dasharray: 4 3; }
svg.chart .axisline { stroke: #9aa3b2; }
details { margin: 4px 0 8px; }
summary { cursor: pointer; color: var(--accent); }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f1f3f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.status-on_track, .status-matched { color: var(--ok); }
.status-projected_over, .status-under_billed, .status-estimated_only { color: var(--warn); font-weight: 600; }
.status-over_budget, .status-over_billed, .status-billed_only { color: var(--bad); font-weight: 600; }
.status-final { color: var(--ok); }
.status-draft { color: var(--muted); }
.status-blocked { color: var(--bad); font-weight: 600; }
h3 .status-final, h3 .status-draft, h3 .status-blocked { font-size: 12px; font-weight: 600; border: 1px solid currentColor; border-radius: 4px; \
padding: 0 6px; margin-left: 6px; }
.error ul { margin: 4px 0 0; padding-left: 20px; }
#chargeback details.data { overflow-x: auto; }
#chargeback td.num { white-space: nowrap; }
footer { color: var(--muted); padding: 0 32px 32px; }
"""

SCRIPT = """
document.getElementById('toggle-tables').addEventListener('click', function (event) {
  var all = document.querySelectorAll('details.data');
  var open = event.target.getAttribute('data-open') !== 'true';
  all.forEach(function (d) { d.open = open; });
  event.target.setAttribute('data-open', String(open));
  event.target.textContent = open ? 'Hide all tables' : 'Show all tables';
});
"""


def _kpis(data: ReportData) -> str:
    full_cost = None if data.full_cost.missing else sum((r["total_usd"] for r in data.full_cost.rows), Decimal(0))
    tiles = [
        (usd(data.cost_usd), "inference spend (API prices and whole GPU bills)"),
        (usd(full_cost), "full cost (overhead included)"),
        (count(data.requests), "requests"),
        (unit_usd(data.cost_per_request_usd), "cost per request"),
        (unit_usd(data.cost_per_1m_tokens_usd), "cost per 1M tokens"),
        (usd(data.net_saved_usd if not data.cache.missing else None), "net cache savings"),
        (pct(data.unpriced_pct, 2), "requests without a price"),
    ]
    kpis = "".join(f'<div class="kpi"><b>{escape(value)}</b><span>{escape(label)}</span></div>' for value, label in tiles)
    return f'<div class="kpis">{kpis}</div>'


def _section(anchor: str, title: str, note: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2><p class="note">{note}</p>{body}</section>'


def _closes(data: ReportData) -> str:
    """The header's word on closed months: which ones the page's current figures restate, and by how much."""
    if not data.closes:
        return ""
    restated = [row for row in data.closes
                if (row["closed_requests"], row["closed_cost_usd"]) != (row["current_requests"], row["current_cost_usd"])]
    if data.month and len(data.closes) == 1:
        row = data.closes[0]
        said = f"{row['month']} was closed on {row['closed_at']:%Y-%m-%d %H:%M} UTC with {usd(row['closed_cost_usd'])} over {count(row['closed_requests'])} requests"
    else:
        said = f"Closed months: {len(data.closes)} ({data.closes[0]['month']} to {data.closes[-1]['month']})"
    if not restated:
        text = f"{said}; unchanged since the close."
    else:
        changes = ", ".join(
            f"{row['month']}: {usd(row['closed_cost_usd'])} over {count(row['closed_requests'])} requests at the close, "
            f"{usd(row['current_cost_usd'])} over {count(row['current_requests'])} now"
            for row in restated
        )
        text = (f"{said}. The figures below are current and restate {changes} (re-prices, late or corrected usage: "
                "marts.restatements lists the changed rows, finance.daily_spend keeps what was closed).")
    return f'<p id="closes" class="{"restated" if restated else "closed"}">{escape(text)}</p>'


def render(data: ReportData) -> str:
    """The whole page as one HTML string."""
    built = data.built_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if data.has_data:
        days = (data.last_day - data.first_day).days + 1
        covers = f"Data: event dates {data.first_day} to {data.last_day} ({days} day{'s' if days != 1 else ''}"
        covers += f", month {data.month})" if data.month else ", everything in the warehouse)"
        covers += f" · {count(data.requests)} requests · {len(data.features)} features"
    elif data.month:  # the warehouse may well hold other months: running again only helps if this month's logs landed since
        covers = f"Data: no requests in {data.month} (run `tokenledger run` if its logs have landed since the last run)"
    else:
        covers = "Data: none yet — run `tokenledger run` to fill the warehouse"
    feature_list = ", ".join(data.features) if data.features else "none yet"
    nav = "".join(f'<a href="#{part.anchor}">{escape(part.nav)}</a>' for part in SECTIONS)
    body = "".join(_section(part.anchor, part.title, part.note, part.render(data)) for part in SECTIONS)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>tokenledger spend report{' — ' + escape(data.month) if data.month else ''}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>AI inference spend report</h1><p id=\"covers\">{escape(covers)}</p>"
        f"<p id=\"built\">Built {escape(built)} from the tokenledger warehouse · amounts in USD (chargeback: in each payer's currency)</p>"
        f"<p id=\"features\">Features: {escape(feature_list)}</p>{_closes(data)}</header>"
        f'<nav>{nav}<button id="toggle-tables" type="button" data-open="false">Show all tables</button></nav>'
        f"<main>{_kpis(data)}{body}</main>"
        "<footer>Money is computed in exact decimals and rounded only for display. "
        "Costs of requests without a price are left out, never counted as $0. Scenarios are estimates.</footer>"
        f"<script>{SCRIPT}</script></body></html>"
    )
