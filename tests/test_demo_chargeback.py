"""The demo's chargeback.yaml: it loads, every payer gets a statement that can be issued, and each statement's charge
is the sum of its usage lines; `demo_statements` prints them."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import duckdb
import pytest

from pipelines.demo import demo_statements, generate_demo, write_demo_chargeback
from pipelines.demo.chargeback import _about
from pipelines.insights.chargeback import load_chargeback
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    """Four days of the demo's data (the browser test's size), run, the demo's chargeback.yaml, run again."""
    home = Home.at(tmp_path_factory.mktemp("demo_chargeback") / "home").ensure()
    generate_demo(home, end=dt.date(2026, 10, 23), days=4, requests_per_day=120, seed=11, progress=lambda _: None)
    run_pipeline(home, progress=lambda _: None)
    write_demo_chargeback(home)
    run_pipeline(home, progress=lambda _: None)
    return home


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_file_loads_with_a_payer_per_enterprise_customer_and_one_in_eur(home):
    chargeback = load_chargeback(home.root)
    payers = chargeback.payers.to_pylist()
    enterprise = {customer for (customer,) in _query(
        home, "select distinct customer_id from core.request_costs where user_segment = 'enterprise'")}
    assert {p["payer"] for p in payers} == {f"enterprise-{c}" for c in enterprise} | {"team-plan", "pro-support", "search-platform"}
    assert chargeback.unpriced == "separate"
    rules = {p["payer"]: p for p in payers}
    assert {rules[f"enterprise-{c}"]["allowance_unit"] for c in enterprise} == {"amount"}
    assert all(rules[f"enterprise-{c}"]["stripe_customer_id"] for c in enterprise)
    assert [p["currency"] for p in payers].count("EUR") == 1
    assert (rules["team-plan"]["rule"], rules["team-plan"]["allowance_unit"]) == ("per_mtok", "tokens")
    assert (rules["pro-support"]["rule"], rules["pro-support"]["outcome_type"]) == ("per_outcome", "ticket_resolved")
    assert (rules["search-platform"]["rule"], rules["search-platform"]["markup_pct"]) == ("cost_plus", Decimal(0))
    # the EUR payer's costs convert at the rates the demo lands for each of its days
    rates = _query(home, "select rate_date, usd_rate from reference.fx_rates where currency = 'EUR' order by 1")
    assert [day for day, _ in rates] == [dt.date(2026, 10, 20) + dt.timedelta(days=n) for n in range(4)]


def test_every_payer_has_a_statement_that_can_be_issued(home):
    payers = set(load_chargeback(home.root).payers["payer"].to_pylist())
    statements = _query(home, "select payer, period, status, charge, blocked_reason, unpriced_requests from marts.chargeback_statements")
    assert {payer for payer, *_ in statements} == payers and {period for _, period, *_ in statements} == {"2026-10"}
    assert [(payer, blocked) for payer, _, _, _, blocked, _ in statements if blocked is not None] == []
    assert all(charge is not None and charge > 0 for _, _, _, charge, _, _ in statements)
    # the demo's requests to unknown models are listed apart, not charged and not blocking
    assert sum(unpriced for *_, unpriced in statements) > 0
    # an allowance used up on each enterprise statement, and some overage
    allowances = _query(home, "select payer, allowance, allowance_used, overage from marts.chargeback_statements "
                              "where allowance_unit is not null")
    assert allowances and all(used > 0 and overage > 0 for _, _, used, overage in allowances)


def test_each_statement_charges_the_sum_of_its_usage_lines(home):
    mismatched = _query(home, """
        select statements.statement_id, statements.charge, lines.charge
        from marts.chargeback_statements as statements
        left join (
            select statement_id, sum(charge) as charge
            from marts.chargeback_lines
            where line_type = 'usage'
            group by statement_id
        ) as lines
            on lines.statement_id = statements.statement_id
        where lines.charge is distinct from statements.charge
    """)
    assert mismatched == []


def test_demo_statements_prints_one_line_per_statement(home):
    lines = demo_statements(home)
    statements = _query(home, "select payer, currency, charge from marts.chargeback_statements order by payer")
    assert len(lines) == len(statements)
    for line, (payer, currency, charge) in zip(lines, statements, strict=True):
        assert line.startswith(f"{payer} 2026-10 (draft): charge {charge.quantize(Decimal('0.01')):,} {currency}, cost "), line
        assert "cannot be issued" not in line
    assert any("; allowance " in line and " used, " in line and " over" in line for line in lines)


def test_an_existing_chargeback_yaml_is_kept(home, tmp_path):
    path = home.root / "chargeback.yaml"
    before = path.read_text()
    assert write_demo_chargeback(home) == path and path.read_text() == before
    # and without a warehouse there are no statements to print
    assert demo_statements(Home.at(tmp_path / "empty")) == []


def test_allowances_read_like_ones_a_person_set():
    assert _about(Decimal("0.2016"), Decimal("0.01")) == "0.20"
    assert _about(Decimal("1.4312"), Decimal("0.01")) == "1.4"
    assert _about(Decimal("0.001"), Decimal("0.01")) == "0.01"
    assert _about(Decimal("817021"), Decimal(1)) == "820000"
    assert _about(Decimal("7.5"), Decimal(1)) == "8"


def test_a_demo_ending_on_a_months_last_day_prints_that_months_statements(tmp_path):
    """Outcomes follow their requests by up to a day: a demo ending 2026-11-30 lands outcomes of 2026-12-01, whose
    empty December statements (no requests) were printed as 'the month's' instead of November's."""
    home = Home.at(tmp_path / "home").ensure()
    generate_demo(home, end=dt.date(2026, 11, 30), days=2, requests_per_day=120, seed=11, progress=lambda _: None)
    # as a bigger demo does: an outcome a minute past midnight of a request of the 30th
    linked = next(json.loads(line) for line in (home.landing / "outcomes" / "2026-11-30.jsonl").read_text().splitlines()
                  if json.loads(line)["request_id"])
    late = {**linked, "outcome_id": "out_after_midnight", "timestamp": "2026-12-01T00:00:45Z"}
    (home.landing / "outcomes" / "2026-12-01.jsonl").write_text(json.dumps(late) + "\n")
    write_demo_chargeback(home)
    run_pipeline(home, progress=lambda _: None)
    periods = dict(_query(home, "select period, sum(requests) from marts.chargeback_statements group by period"))
    assert periods["2026-11"] > 0 and periods["2026-12"] == 0
    lines = demo_statements(home)
    assert lines and all(" 2026-11 (draft): " in line for line in lines), lines
