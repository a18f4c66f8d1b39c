"""The report's Chargeback section on a real pipeline run: every figure as marts.chargeback_statements has it, the
latest period per payer, earlier periods in a table, a closed month with what changed after the close, and the
statements that cannot be issued called out with their reason."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from html import unescape

import duckdb
import pytest
from helpers import envelope, land

from pipelines.finance.close import close_month
from pipelines.ingest.privacy import create_key
from pipelines.report import build_report
from pipelines.report.chargeback import money
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

BUILT = dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.timezone.utc)
HOSTILE = '<script>alert("cb")</script>&co'
# 1M input and 100k output tokens: $3.50 on gpt-4o (2.50 + 1.00), $0.21 on gpt-4o-mini (0.15 + 0.06), 1.1M tokens.
BIG = {"prompt_tokens": 1_000_000, "completion_tokens": 100_000}
CHARGEBACK = """\
payers:
  acme:
    match: {customer_id: acme}
    stripe_customer_id: cus_acme
    rule: cost_plus
    markup_pct: 50
    included: {amount: 5}
  globex-eu:
    match: {customer_id: globex}
    currency: EUR
    rule: per_mtok
    per_mtok: {default: 2}
  initech:
    match: {customer_id: initech}
    currency: CHF
    rule: cost_plus
    markup_pct: 10
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    """September: acme, 4 x $3.50, closed, then one more late request. October: acme 2 x $3.50 and one request to an
    unknown model (`unpriced: block` blocks its statement), globex in EUR (a feature named like markup) at 2 EUR per
    1M tokens, initech in CHF without a rate (blocked)."""
    home = Home.at(tmp_path_factory.mktemp("report_chargeback") / "home").ensure()
    create_key(home.secrets)
    (home.root / "chargeback.yaml").write_text(CHARGEBACK)
    (home.landing / "fx").mkdir(parents=True, exist_ok=True)
    (home.landing / "fx" / "rates.csv").write_text("date,currency,rate\n2026-09-01,EUR,0.9\n")
    lines = [envelope(f"sep{n}", "openai", "gpt-4o-2024-08-06", BIG, timestamp=f"2026-09-10T09:0{n}:00Z") for n in range(4)]
    lines += [envelope(f"oct{n}", "openai", "gpt-4o-2024-08-06", BIG, timestamp=f"2026-10-05T09:0{n}:00Z") for n in range(2)]
    lines.append(envelope("mystery", "openai", "gpt-9-preview", BIG, timestamp="2026-10-05T10:00:00Z"))
    lines += [envelope(f"eu{n}", "openai", "gpt-4o-mini-2024-07-18", BIG, customer_id="globex", feature=HOSTILE,
                       timestamp=f"2026-10-06T09:0{n}:00Z") for n in range(2)]
    lines.append(envelope("ch1", "openai", "gpt-4o-mini-2024-07-18", BIG, customer_id="initech", timestamp="2026-10-06T11:00:00Z"))
    land(home, "requests.jsonl", lines)
    run_pipeline(home, progress=lambda _: None)
    close_month(home, "2026-09")
    land(home, "late.jsonl", [envelope("late", "openai", "gpt-4o-2024-08-06", BIG, timestamp="2026-09-30T18:00:00Z")])
    run_pipeline(home, progress=lambda _: None)
    return home


def _statements(home: Home) -> dict[tuple[str, str], dict]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        cursor = con.execute("select * from marts.chargeback_statements")
        names = [column[0] for column in cursor.description]
        return {(row[1], row[2]): dict(zip(names, row)) for row in cursor.fetchall()}


def _section(page: str) -> str:
    return re.search(r'<section id="chargeback">(.*?)</section>', page, re.S).group(1)


def _table_rows(html: str, caption: str) -> list[list[str]]:
    body = re.search(rf"<summary>Table: {re.escape(caption)}</summary><table>.*?<tbody>(.*?)</tbody>", html, re.S).group(1)
    return [[unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in re.findall(r"<tr>(.*?)</tr>", body)]


def _shown(row: dict, column: str, places: int = 2) -> str:
    return money(row[column], row["currency"], places)


def _units(row: dict, column: str) -> str:
    if row["allowance_unit"] is None:
        return ""
    return _shown(row, column) if row["allowance_unit"] == "amount" else f"{Decimal(row[column]).quantize(Decimal(1)):,}"


def test_latest_period_shows_every_statement_as_the_mart_has_it(home):
    statements = _statements(home)
    section = _section(build_report(home, built_at=BUILT))
    assert "Statements of <b>2026-10</b> (the latest period with requests or a charge): 3 payers, 3 draft (the month is open); <b>2</b> cannot" in section
    rows = {row[0]: row[1:] for row in _table_rows(section, "chargeback statements of 2026-10")}
    assert set(rows) == {payer for payer, period in statements if period == "2026-10"} == {"acme", "globex-eu", "initech"}
    for payer, cells in rows.items():
        s = statements[(payer, "2026-10")]
        # status, requests, tokens, outcomes, cost, charge before allowance, allowance, used, overage, charge, margin,
        # adjustments after close, cannot be issued because
        assert cells == [
            s["status"], f"{s['requests']:,}", "n/a" if s["tokens"] is None else f"{s['tokens']:,}",
            "n/a" if s["outcomes"] is None else f"{s['outcomes']:,}", _shown(s, "cost"), _shown(s, "gross_charge"),
            _units(s, "allowance"), _units(s, "allowance_used"), _units(s, "overage"), _shown(s, "charge"), _shown(s, "margin"),
            "", s["blocked_reason"] or "",
        ], payer
    # by hand: acme 2 x $3.50 = $7.00, x 1.5 = $10.50, less the $5 allowance: $5.50, margin -$1.50, and the unknown
    # model blocks it; globex 2.2M tokens x 2 EUR = 4.40 EUR for 0.42 USD x 0.9 = 0.378 EUR; initech has no CHF rate.
    assert rows["acme"] == ["draft", "2", "2,200,000", "0", "7.00 USD", "10.50 USD", "5.00 USD", "5.00 USD", "5.50 USD",
                            "5.50 USD", "-1.50 USD", "", "unpriced requests"]
    assert rows["globex-eu"][4:] == ["0.38 EUR", "4.40 EUR", "", "", "", "4.40 EUR", "4.02 EUR", "", ""]
    assert rows["initech"][4:] == ["n/a", "n/a", "", "", "", "n/a", "n/a", "", "no_fx_rate:CHF"]


def test_each_payer_has_its_statement_and_blocked_ones_are_called_out(home):
    section = _section(build_report(home, built_at=BUILT))
    for payer in ("acme", "globex-eu", "initech"):
        assert f'<h3 class="feature">{payer} <span class="status-draft">draft</span>' in section, payer
    assert "<b>2</b> cannot be issued" in section
    callout = re.search(r'<div class="error blocked">(.*?)</div>', section, re.S).group(1)
    assert "2 statements cannot be issued" in callout
    assert "<li><b>CB-2026-10-acme</b> (acme): unpriced requests</li>" in callout
    assert "<li><b>CB-2026-10-initech</b> (initech): no_fx_rate:CHF</li>" in callout
    assert '<span class="status-blocked">cannot be issued</span>' in section
    # the EUR statement also shows its cost in USD; the acme allowance reads as written
    assert "cost 0.38 EUR ($0.42)" in section
    assert "Allowance 5.00 USD of charge a month: 5.00 USD used, 5.50 USD over it." in section
    assert "1 unpriced request listed apart, not charged." in section


def test_earlier_periods_and_what_changed_after_a_close(home):
    statements = _statements(home)
    september = statements[("acme", "2026-09")]
    assert september["status"] == "final" and september["adjustment_lines"] == 1
    section = _section(build_report(home, built_at=BUILT))
    (row,) = _table_rows(section, "earlier chargeback statements")
    # 4 x $3.50 x 1.5 = $21.00 less $5.00 = $16.00 for $14.00; the late request adds $3.50 x 1.5 = $5.25 after the close
    assert row == ["2026-09", "acme", "final", "16.00 USD", "14.00 USD", "2.00 USD", "+5.25 USD (1 line)", ""]
    assert row[3:6] == [_shown(september, "charge"), _shown(september, "cost"), _shown(september, "margin")]
    assert september["adjustments"] == Decimal("5.25")
    # the report of September alone shows it as the latest, final, with its close and its adjustment statement
    month = _section(build_report(home, "2026-09", built_at=BUILT))
    assert "Statements of <b>2026-09</b>: 1 payer, 1 final (closed); every one can be issued." in month
    closed = f"{september['closed_at']:%Y-%m-%d}"
    assert f"Final: the month was closed on {closed}; since then +5.25 USD (1 line) on statement CB-2026-09-acme-ADJ." in month
    assert "earlier chargeback statements" not in month


def test_hostile_names_are_escaped(home):
    page = build_report(home, built_at=BUILT)
    assert "<script>alert(" not in page
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.chargeback_lines where feature = ?", [HOSTILE]).fetchone()[0] == 1


def test_without_statements_the_section_says_how_to_get_them(home, tmp_path):
    # a month no request of which matches a payer
    assert "no request in it matches a payer of chargeback.yaml" in _section(build_report(home, "2025-01", built_at=BUILT))
    copy = Home.at(tmp_path / "copy")
    copy.root.mkdir()
    shutil.copyfile(home.warehouse, copy.warehouse)
    # no chargeback.yaml and no statements: how to get them
    with duckdb.connect(str(copy.warehouse)) as con:
        con.execute("delete from marts.chargeback_statements")
    section = _section(build_report(copy, built_at=BUILT))
    assert "no chargeback statements yet: add chargeback.yaml to the home folder" in section and "docs/chargeback.md" in section
    # an invalid file: its error, naming the payer and the field
    (copy.root / "chargeback.yaml").write_text("payers:\n  acme:\n    match: {customer_id: acme}\n    rule: at_cost\n")
    assert "chargeback.yaml: payers.acme.rule: expected one of cost_plus, per_mtok, per_outcome" in unescape(
        _section(build_report(copy, built_at=BUILT)))
    # the mart not built yet
    (copy.root / "chargeback.yaml").unlink()
    with duckdb.connect(str(copy.warehouse)) as con:
        con.execute("drop table marts.chargeback_statements")
    assert "no data yet: marts.chargeback_statements has not been built" in _section(build_report(copy, built_at=BUILT))
