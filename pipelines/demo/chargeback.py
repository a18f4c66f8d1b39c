"""The demo's chargeback: who pays for the demo's inference and at what price, and its latest statements as lines.

`write_demo_chargeback` writes `<home>/chargeback.yaml` (pipelines/insights/chargeback.py) from the demo's own
requests in the warehouse, after a first run. Payers, in the file's order (the first whose match holds wins):
- each enterprise customer on its own: cost plus 40%, with a monthly allowance of charge of about a fifth of its
  month's charge so far (so its statement shows the allowance used up and an overage) and a Stripe customer id; the
  last of them is billed in EUR, at the rates this module lands under landing/fx (the demo lands none of its own);
- the team segment as one payer, per 1M tokens by model tier, with an allowance of about half its month's tokens;
- the pro segment's support chat, per resolved ticket (outcomes from `demo.business`);
- the search platform team, internal, for the remaining search and summarize traffic at cost (cost plus 0%).
The free segment's other traffic is charged back to nobody. The demo sends some requests to models the price book
does not know (`catalog.UNKNOWN_MODELS`): `unpriced: separate` lists them on lines of their own, never charged, so
every statement can still be issued.

`demo_statements` gives the latest month's statements (marts.chargeback_statements) as printable lines.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from pipelines.insights.chargeback import CHARGEBACK_FILE
from pipelines.storage.database import bound, connect, sql_text, table_exists
from pipelines.storage.home import Home

ENTERPRISE_MARKUP_PCT = 40
ENTERPRISE_ALLOWANCE_SHARE = Decimal("0.2")
TEAM_ALLOWANCE_SHARE = Decimal("0.5")
"""An allowance is about this share of what its payer used in the month so far (charge, or tokens)."""
EUR_PER_USD = Decimal("0.9200")
"""The demo's EUR rate (units per 1 USD); each day moves it by a few basis points."""
TEAM_PER_MTOK = {"small": "0.50", "medium": "6.00", "premium": "30.00", "default": "8.00"}
"""The team plan's price per 1M tokens by model tier (USD); `default` prices unclassified models."""
SUPPORT_PER_TICKET = "0.40"
FX_FILE = "demo-eur.csv"

def write_demo_chargeback(home: Home) -> Path:
    """Write <home>/chargeback.yaml for the demo's customers (an existing file is kept) and EUR rates for the demo's
    days under landing/fx; return the file's path."""
    path = home.root / CHARGEBACK_FILE
    days, usage = _demo_usage(home)
    if days:
        _write_eur_rates(home, *days)
    if path.exists():
        return path
    enterprise = [(customer, cost or Decimal(0)) for segment, customer, cost, _ in usage if segment == "enterprise"]
    team_tokens = sum((tokens for segment, _, _, tokens in usage if segment == "team"), 0)
    lines = [
        "# Who pays for the demo's inference (demo: allowances sized from the demo's own usage; docs/chargeback.md)",
        "# The demo calls some models the price book does not know: they are listed apart, never charged.",
        "unpriced: separate",
        "payers:",
    ]
    for number, (customer, cost) in enumerate(enterprise, start=1):
        euro = number == len(enterprise)
        charge = cost * (100 + ENTERPRISE_MARKUP_PCT) / 100 * (EUR_PER_USD if euro else 1)
        lines += [
            f"  enterprise-{customer}:",
            f"    match: {{customer_id: {customer}}}",
            *(["    currency: EUR"] if euro else []),
            f"    stripe_customer_id: cus_demo_{customer}",
            "    rule: cost_plus",
            f"    markup_pct: {ENTERPRISE_MARKUP_PCT}",
            f"    included: {{amount: {_about(charge * ENTERPRISE_ALLOWANCE_SHARE, Decimal('0.01'))}}}",
        ]
    lines += [
        "  team-plan:",
        "    match: {user_segment: team}",
        "    stripe_customer_id: cus_demo_team_plan",
        "    rule: per_mtok",
        f"    per_mtok: {{{', '.join(f'{tier}: {price}' for tier, price in TEAM_PER_MTOK.items())}}}",
        f"    included: {{tokens: {_about(Decimal(team_tokens) * TEAM_ALLOWANCE_SHARE, Decimal(1))}}}",
        "  pro-support:",
        "    match: {user_segment: pro, feature: support_chat}",
        "    stripe_customer_id: cus_demo_pro_support",
        "    rule: per_outcome",
        f"    per_outcome: {SUPPORT_PER_TICKET}",
        "    outcome_type: ticket_resolved",
        "  search-platform:",
        "    match: {feature: [search, summarize]}",
        "    stripe_customer_id: cus_demo_search_platform",  # cross-charged too: the README's Stripe export runs on a demo home
        "    rule: cost_plus",
        "    markup_pct: 0",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def demo_statements(home: Home) -> list[str]:
    """One line per chargeback statement of the latest month with statements: payer, status, charge, cost, margin,
    the allowance used and the overage, and why it cannot be issued if it cannot."""
    if not home.warehouse.is_file():
        return []
    with connect(home, read_only=True) as con:
        if not table_exists(con, "marts.chargeback_statements"):
            return []
        sql = sql_text("report/chargeback")
        cursor = con.execute(sql, bound(sql, {"start_month": "", "end_month": "9999-12"}))
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    return [_statement_line(row) for row in rows if row["is_latest"]]


def _statement_line(row: dict) -> str:
    def money(value: Decimal | None) -> str:
        if value is None:
            return "n/a"
        return f"{(Decimal(value).quantize(Decimal(1).scaleb(-row['currency_places'])) + 0):,} {row['currency']}"  # + 0: no -0.00

    def units(value: Decimal | None) -> str:
        if row["allowance_unit"] == "amount":
            return money(value)
        return "n/a" if value is None else f"{Decimal(value).quantize(Decimal(1)):,} {row['allowance_unit']}"

    line = (
        f"{row['payer']} {row['period']} ({row['status']}): charge {money(row['charge'])}, cost {money(row['cost'])}, "
        f"margin {money(row['margin'])}"
    )
    if row["allowance_unit"] is not None:
        line += f"; allowance {units(row['allowance'])}: {units(row['allowance_used'])} used, {units(row['overage'])} over"
    if row["unpriced_requests"]:
        line += f"; {_count(row['unpriced_requests'], 'unpriced request')} listed apart"
    if row["adjustment_lines"]:
        line += f"; after the close {money(row['adjustments'])} in {_count(row['adjustment_lines'], 'adjustment line')}"
    if row["blocked_reason"]:
        line += f"; cannot be issued: {row['blocked_reason']}"
    return line


def _count(number: int, thing: str) -> str:
    return f"{number:,} {thing}{'s' if number != 1 else ''}"


def _demo_usage(home: Home) -> tuple[tuple[dt.date, dt.date] | None, list[tuple]]:
    """The first and last day with requests, and the latest month's usage per enterprise and team customer."""
    if not home.warehouse.is_file():
        return None, []
    with connect(home, read_only=True) as con:
        if not table_exists(con, "core.request_costs"):
            return None, []
        first, last = con.execute("select min(event_date), max(event_date) from core.request_costs").fetchone()
        if first is None:
            return None, []
        usage = con.execute(
            "select user_segment, customer_id, sum(cost_usd), sum(total_input_tokens + total_output_tokens) "
            "from core.request_costs where event_date >= ? and user_segment in ('enterprise', 'team') "
            "and customer_id is not null group by all order by all",
            [last.replace(day=1)],
        ).fetchall()
    return (first, last), usage


def _write_eur_rates(home: Home, first: dt.date, last: dt.date) -> Path:
    """landing/fx/demo-eur.csv: a EUR rate (units per 1 USD) for every day from `first` to `last`."""
    folder = home.landing / "fx"
    folder.mkdir(parents=True, exist_ok=True)
    rows, day = ["date,currency,rate"], first
    while day <= last:
        rows.append(f"{day.isoformat()},EUR,{EUR_PER_USD + Decimal(day.toordinal() % 7 - 3) / 10_000}")
        day += dt.timedelta(days=1)
    path = folder / FX_FILE
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _about(value: Decimal, smallest: Decimal) -> str:
    """`value` to two significant digits and no finer than `smallest`, at least `smallest`, written out in full
    (an allowance that reads like one a person set)."""
    if value <= smallest:
        return f"{smallest:f}"
    exponent = max(value.adjusted() - 1, smallest.as_tuple().exponent)
    return f"{max(smallest, value.quantize(Decimal(1).scaleb(exponent))):f}"
