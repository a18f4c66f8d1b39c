"""The report's chargeback part: per payer of chargeback.yaml, its statement of the latest period in the report
(marts.chargeback_statements), with the earlier periods in a table.

Money here is in each payer's currency, rounded for display to the currency's minor unit; a statement that cannot
be issued is called out with the reason the mart gives. Like every section it says how to get statements when there
are none, and escapes every text that comes from the data.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from pipelines.report.blocks import count, data_table, no_data, usd
from pipelines.report.data import ReportData

NO_FILE = (
    "no chargeback statements yet: add chargeback.yaml to the home folder (each payer, the requests it pays for and "
    "its rule: cost plus a markup, a price per 1M tokens by model tier, or a price per outcome; docs/chargeback.md) "
    "and run `tokenledger run`"
)
NO_MATCH = (
    "no chargeback statements for this period: no request in it matches a payer of chargeback.yaml "
    "(after changing the file, run `tokenledger run`)"
)
RULES = {"cost_plus": "cost plus", "per_mtok": "per 1M tokens", "per_outcome": "per outcome"}


def money(value: Decimal | None, currency: str, places: int) -> str:
    """An amount in `currency`, rounded to its minor unit for display: 1,234.56 EUR, 1,235 JPY."""
    if value is None:
        return "n/a"
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-places)) + 0:,} {currency}"  # + 0: a tiny negative shows 0.00, not -0.00


def _signed(value: Decimal | None, currency: str, places: int) -> str:
    if value is None:
        return "n/a"
    shown = money(value, currency, places)
    return shown if shown.startswith("-") else "+" + shown


def _units(value: Decimal | None, row: dict) -> str:
    """An allowance figure in its unit: money for an `amount` allowance, else a whole count."""
    if value is None:
        return "n/a"
    if row["allowance_unit"] == "amount":
        return money(value, row["currency"], row["currency_places"])
    return f"{Decimal(value).quantize(Decimal(1)):,}"


def _count(number: int, thing: str) -> str:
    return f"{count(number)} {thing}{'s' if number != 1 else ''}"


def _allowance(row: dict) -> str:
    """The allowance as it is written: 5,000,000 tokens, 250.00 EUR (of charge); blank without one."""
    if row["allowance_unit"] is None:
        return ""
    return _units(row["allowance"], row) + ("" if row["allowance_unit"] == "amount" else f" {row['allowance_unit']}")


def _adjustments(row: dict) -> str:
    """What changed after the close of a final statement (its credit and debit lines)."""
    if row["status"] != "final":
        return ""
    if not row["adjustment_lines"]:
        return "none"
    return f"{_signed(row['adjustments'], row['currency'], row['currency_places'])} ({_count(row['adjustment_lines'], 'line')})"


def chargeback(data: ReportData) -> str:
    if data.chargeback_error:
        return f'<p class="error">{escape(data.chargeback_error)}</p>'
    about = " (chargeback.yaml: who pays for which requests, and at what price)"
    if note := no_data(data.chargeback, NO_MATCH if data.chargeback_payers else NO_FILE, about):
        return note
    latest = [row for row in data.chargeback.rows if row["is_latest"]]
    earlier = [row for row in data.chargeback.rows if not row["is_latest"]]
    return _latest(data, latest) + _earlier(earlier)


def _latest(data: ReportData, rows: list[dict]) -> str:
    period = rows[0]["period"]
    final = sum(row["status"] == "final" for row in rows)
    blocked = [row for row in rows if row["blocked_reason"]]
    which = "" if data.month else " (the latest period with requests or a charge)"
    kinds = [f"{len(rows) - final:,} draft (the month is open)"] if final < len(rows) else []
    kinds += [f"{final:,} final (closed)"] if final else []
    text = (
        f"<p>Statements of <b>{escape(period)}</b>{which}: {_count(len(rows), 'payer')}, {' and '.join(kinds)}; "
        + (f"<b>{len(blocked):,}</b> cannot be issued.</p>" if blocked else "every one can be issued.</p>")
    )
    parts = [text]
    if blocked:
        items = "".join(
            f"<li><b>{escape(row['statement_id'])}</b> ({escape(row['payer'])}): {escape(row['blocked_reason'])}</li>" for row in blocked
        )
        them = "them" if len(blocked) != 1 else "it"
        parts.append(
            f'<div class="error blocked"><b>{_count(len(blocked), "statement")} cannot be issued</b> '
            f"(tokenledger close and tokenledger export usage refuse {them} until this is fixed):<ul>{items}</ul></div>"
        )
    parts += [_payer(row) for row in rows]
    headers = ["payer", "status", "requests", "tokens", "outcomes", "cost", "charge before allowance", "allowance",
               "allowance used", "overage", "charge", "margin", "adjustments after close", "cannot be issued because"]
    table_rows = [
        [row["payer"], row["status"], count(row["requests"]), count(row["tokens"]), count(row["outcomes"]), _money(row, "cost"),
         _money(row, "gross_charge"), _allowance(row),
         "" if row["allowance_unit"] is None else _units(row["allowance_used"], row),
         "" if row["allowance_unit"] is None else _units(row["overage"], row),
         _money(row, "charge"), _money(row, "margin"), _adjustments(row), row["blocked_reason"] or ""]
        for row in rows
    ]
    parts.append(data_table(f"chargeback statements of {period}", headers, table_rows, set(range(2, 13)), status_column=1, open_=True))
    return "".join(parts)


def _money(row: dict, column: str) -> str:
    return money(row[column], row["currency"], row["currency_places"])


def _payer(row: dict) -> str:
    """A payer's statement in two lines: charge, rule, cost, margin and volume; then allowance, close and problems."""
    badges = f'<span class="status-{escape(row["status"])}">{escape(row["status"])}</span>'
    if row["blocked_reason"]:
        badges += ' <span class="status-blocked">cannot be issued</span>'
    volume = [_count(row["requests"], "request")]
    if row["tokens"] is not None:
        volume.append(_count(row["tokens"], "token"))
    if row["outcomes"]:
        volume.append(_count(row["outcomes"], "outcome"))
    rule = RULES.get(row["rule"], row["rule"])
    if row["allowance_unit"] is not None:
        rule += f"; {_money(row, 'gross_charge')} before the allowance"
    cost = _money(row, "cost") + (f" ({usd(row['cost_usd'])})" if row["currency"] != "USD" else "")
    notes = []
    if row["allowance_unit"] is not None:
        of_charge = " of charge" if row["allowance_unit"] == "amount" else ""
        notes.append(f"Allowance {_allowance(row)}{of_charge} a month: {_units(row['allowance_used'], row)} used, "
                     f"{_units(row['overage'], row)} over it.")
    if row["status"] == "final":
        closed = f" on {row['closed_at']:%Y-%m-%d}" if row["closed_at"] is not None else ""
        after = _adjustments(row)
        notes.append(f"Final: the month was closed{closed}; since then "
                     + ("nothing changed." if after == "none" else f"{after} on statement {row['statement_id']}-ADJ."))
    if row["unpriced_requests"]:
        notes.append(f"{_count(row['unpriced_requests'], 'unpriced request')} listed apart, not charged.")
    if row["blocked_reason"]:
        notes.append(f"Cannot be issued: {row['blocked_reason']}.")
    second = f'<br><span class="note">{escape(" ".join(notes))}</span>' if notes else ""
    return (
        f'<h3 class="feature">{escape(row["payer"])} {badges}</h3>'
        f"<p>Charge <b>{escape(_money(row, 'charge'))}</b> ({escape(rule)}) · cost {escape(cost)} · "
        f"margin <b>{escape(_money(row, 'margin'))}</b> · {escape(', '.join(volume))}{second}</p>"
    )


def _earlier(rows: list[dict]) -> str:
    if not rows:
        return ""
    headers = ["period", "payer", "status", "charge", "cost", "margin", "adjustments after close", "cannot be issued because"]
    table_rows = [
        [row["period"], row["payer"], row["status"], _money(row, "charge"), _money(row, "cost"), _money(row, "margin"),
         _adjustments(row), row["blocked_reason"] or ""]
        for row in rows
    ]
    return "<h3>Earlier periods</h3>" + data_table("earlier chargeback statements", headers, table_rows, {3, 4, 5, 6},
                                                   status_column=2, open_=True)
