"""Chargeback: chargeback.yaml validation, each pricing rule, an allowance crossing mid-month, FX, minor units, payer
matching, unpriced requests, and a restatement after close producing a credit line, all hand-computed on real
pipeline runs (a real DuckDB warehouse built by the Dagster assets)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import duckdb
import pytest
from helpers import envelope, land

from pipelines.cli.main import main
from pipelines.finance.close import CloseError, close_month
from pipelines.ingest.privacy import create_key
from pipelines.insights.chargeback import ChargebackError, load_chargeback
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

# List prices (pricing/list/openai.yaml): gpt-4o-2024-08-06 $2.50 in / $10 out per 1M; gpt-4o-mini-2024-07-18 $0.15 / $0.60.
# 1,000 input + 100 output tokens: gpt-4o 0.0035 USD a request, gpt-4o-mini 0.00021 USD a request; 1,100 tokens each.
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}
GPT4O, MINI = "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"
DAYS = [dt.date(2026, 10, 20) + dt.timedelta(days=n) for n in range(4)]
CHARGEBACK = """\
period: month
payers:
  search-team:            # listed first: a globex request tagged team=search is the search team's
    match: {tags: {team: search}}
    rule: cost_plus
    markup_pct: 0
  acme:
    match: {customer_id: acme}
    rule: cost_plus
    markup_pct: 20
    included: {requests: 25}
  globex:
    match: {customer_id: globex}
    stripe_customer_id: cus_Globex01
    rule: per_mtok
    per_mtok: {small: 2, medium: 10}
    included: {tokens: 20000}
  initech:
    match: {customer_id: initech}
    rule: per_outcome
    per_outcome: 0.35
    outcome_type: ticket_resolved
  umbrella:
    match: {customer_id: umbrella}
    currency: EUR
    rule: cost_plus
    markup_pct: 10
  kaiju:
    match: {customer_id: kaiju}
    currency: JPY
    rule: cost_plus
    markup_pct: 0
  wayne:
    match: {customer_id: wayne}
    rule: cost_plus
    markup_pct: 0
    included: {amount: 0.02}
  hooli:
    match: {customer_id: hooli}
    rule: cost_plus
    markup_pct: 5
"""
RATES = "date,currency,rate\n2026-10-01,EUR,0.90\n2026-10-22,EUR,0.95\n2026-10-01,JPY,150\n"


def _quiet(_: str) -> None:
    return None


def _request(request_id: str, customer: str, model: str, day: dt.date, minute: int, **fields) -> str:
    return envelope(request_id, "openai", model, USAGE, timestamp=f"{day}T08:{minute // 60:02d}:{minute % 60:02d}Z", customer_id=customer, **fields)


def _requests() -> list[str]:
    lines = []
    for day in DAYS:
        lines += [_request(f"acme_{day}_{n}", "acme", GPT4O, day, n) for n in range(10)]
        lines += [_request(f"globex_mini_{day}_{n}", "globex", MINI, day, 10 + n, feature="search") for n in range(5)]
        lines += [_request(f"globex_4o_{day}_{n}", "globex", GPT4O, day, 20 + n, feature="search") for n in range(2)]
        lines += [_request(f"initech_{day}_{n}", "initech", MINI, day, 30 + n, feature="triage") for n in range(3)]
        lines += [_request(f"umbrella_{day}_{n}", "umbrella", GPT4O, day, 40 + n) for n in range(20)]
        lines.append(_request(f"kaiju_{day}", "kaiju", GPT4O, day, 70))
        lines += [_request(f"wayne_{day}_{n}", "wayne", GPT4O, day, 75 + n) for n in range(3)]
    lines.append(_request("tagged", "globex", MINI, DAYS[0], 80, feature="search", tags={"team": "search"}))
    lines.append(_request("nobody_1", "nobody", GPT4O, DAYS[0], 81))
    lines.append(_request("hooli_known", "hooli", GPT4O, DAYS[1], 82))
    lines.append(envelope("hooli_unknown", "openai", "gpt-9-preview", USAGE, timestamp=f"{DAYS[1]}T09:00:00Z", customer_id="hooli"))
    return lines


def _outcomes() -> str:
    """Four tickets resolved and one escalation, each naming an initech request of Oct 21."""
    events = [
        {"outcome_id": f"o{n}", "timestamp": "2026-10-21T12:00:00Z", "outcome_type": "ticket_resolved", "feature": "triage",
         "request_id": f"initech_2026-10-21_{n % 3}"}
        for n in range(4)
    ]
    events.append({"outcome_id": "o9", "timestamp": "2026-10-21T13:00:00Z", "outcome_type": "escalated", "feature": "triage",
                   "request_id": "initech_2026-10-21_0"})
    return "\n".join(json.dumps(event) for event in events) + "\n"


def _home(path, chargeback: str) -> Home:
    home = Home.at(path / "home").ensure()
    create_key(home.secrets)
    land(home, "october.jsonl", _requests())
    (home.landing / "outcomes").mkdir(parents=True, exist_ok=True)
    (home.landing / "outcomes" / "october.jsonl").write_text(_outcomes())
    (home.landing / "fx").mkdir(parents=True, exist_ok=True)
    (home.landing / "fx" / "rates.csv").write_text(RATES)
    (home.root / "chargeback.yaml").write_text(chargeback)
    return home


def _query(home: Home, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _statement(home: Home, payer: str) -> dict:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        cursor = con.execute("select * from marts.chargeback_statements where payer = ?", [payer])
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    home = _home(tmp_path_factory.mktemp("chargeback"), CHARGEBACK)
    summary = run_pipeline(home, progress=_quiet)
    assert any("CB-2026-10-hooli: unpriced requests" in warning for warning in summary.warnings), summary.warnings
    return home


def test_cost_plus_with_a_request_allowance_crossing_mid_month(home):
    # acme: 10 gpt-4o requests a day, 0.0035 each: cost 0.035 a day, charge before the allowance 0.035 x 1.2 = 0.042.
    # 25 requests included: Oct 20 and 21 wholly (10 + 10), Oct 22 half (5 of 10), Oct 23 none.
    # charge = 0.042 x 5/10 + 0.042 = 0.063 -> 0.06 USD; cost 0.14; margin 0.06 - 0.14 = -0.08.
    days = _query(home, "select event_date, included_units, gross_charge, charge from marts.chargeback_usage where payer = 'acme' order by 1")
    assert days == [
        (DAYS[0], Decimal(10), Decimal("0.042"), Decimal(0)),
        (DAYS[1], Decimal(10), Decimal("0.042"), Decimal(0)),
        (DAYS[2], Decimal(5), Decimal("0.042"), Decimal("0.021")),
        (DAYS[3], Decimal(0), Decimal("0.042"), Decimal("0.042")),
    ]
    statement = _statement(home, "acme")
    assert (statement["statement_id"], statement["period"], statement["status"], statement["currency"]) == ("CB-2026-10-acme", "2026-10", "draft", "USD")
    assert (statement["requests"], statement["cost"], statement["gross_charge"], statement["charge"], statement["margin"]) == (
        40, Decimal("0.14"), Decimal("0.168"), Decimal("0.06"), Decimal("-0.08"))
    assert (statement["allowance_unit"], statement["allowance"], statement["allowance_used"], statement["overage"]) == (
        "requests", Decimal(25), Decimal(25), Decimal(15))
    assert statement["blocked_reason"] is None


def test_per_mtok_by_tier_with_a_token_allowance_shared_pro_rata_on_the_crossing_day(home):
    # globex, search: 5 gpt-4o-mini (small, $2 per 1M) and 2 gpt-4o (medium, $10 per 1M) a day, 1,100 tokens each:
    # 5,500 x 2 / 1M = 0.011 and 2,200 x 10 / 1M = 0.022 a day; 7,700 tokens a day.
    # 20,000 tokens included: Oct 20 (7,700), Oct 21 (15,400), Oct 22 4,600 of 7,700, shared in row order with cumulative
    # rounding: gpt-4o round(4,600 x 2,200 / 7,700) = 1,314 tokens, mini the rest, 3,286. Each pays for its tokens left:
    # gpt-4o 0.022 x 886/2,200 = 0.00886, mini 0.011 x 2,214/5,500 = 0.004428.
    # Lines: gpt-4o 0.03086 -> 0.03 (running 0.03086); mini 0.015428 (running 0.046288 -> 0.05) -> 0.02.
    oct22 = _query(home, "select model, included_units, charge from marts.chargeback_usage where payer = 'globex' and event_date = ? order by 1", [DAYS[2]])
    assert oct22 == [(GPT4O, Decimal(1314), Decimal("0.00886")), (MINI, Decimal(3286), Decimal("0.004428"))]
    lines = _query(home, "select model, model_tier, requests, tokens, cost_usd, gross_charge, charge, rule from marts.chargeback_lines "
                         "where payer = 'globex' order by model")
    assert lines == [
        (GPT4O, "medium", 8, 8800, Decimal("0.028"), Decimal("0.088"), Decimal("0.03"), "per_mtok"),
        (MINI, "small", 20, 22000, Decimal("0.0042"), Decimal("0.044"), Decimal("0.02"), "per_mtok"),
    ]
    statement = _statement(home, "globex")
    assert (statement["charge"], statement["cost"], statement["margin"]) == (Decimal("0.05"), Decimal("0.0322"), Decimal("0.0178"))
    assert (statement["allowance_used"], statement["overage"]) == (Decimal(20000), Decimal(10800))


def test_per_outcome_counts_only_the_named_outcome_type_on_its_first_request(home):
    # initech: 4 ticket_resolved outcomes x 0.35 = 1.40 USD (the escalation is not charged); cost 12 x 0.00021 = 0.00252.
    statement = _statement(home, "initech")
    assert (statement["outcomes"], statement["charge"], statement["cost"], statement["margin"]) == (
        4, Decimal("1.40"), Decimal("0.00252"), Decimal("1.39748"))
    assert _query(home, "select event_date, outcomes, charge from marts.chargeback_usage where payer = 'initech' and outcomes > 0") == [
        (DAYS[1], 4, Decimal("1.40"))
    ]


def test_cost_in_the_payers_currency_at_each_days_rate(home):
    # umbrella: 20 gpt-4o requests a day = 0.07 USD. EUR 0.90 until Oct 21, 0.95 from Oct 22:
    # 0.063 + 0.063 + 0.0665 + 0.0665 = 0.259 EUR; charge x 1.10 = 0.2849 -> 0.28 EUR; margin 0.28 - 0.259 = 0.021.
    assert _query(home, "select event_date, usd_rate, cost from marts.chargeback_usage where payer = 'umbrella' order by 1") == [
        (DAYS[0], Decimal("0.9"), Decimal("0.063")),
        (DAYS[1], Decimal("0.9"), Decimal("0.063")),
        (DAYS[2], Decimal("0.95"), Decimal("0.0665")),
        (DAYS[3], Decimal("0.95"), Decimal("0.0665")),
    ]
    statement = _statement(home, "umbrella")
    assert (statement["currency"], statement["cost_usd"], statement["cost"], statement["gross_charge"], statement["charge"], statement["margin"]) == (
        "EUR", Decimal("0.28"), Decimal("0.259"), Decimal("0.2849"), Decimal("0.28"), Decimal("0.021"))


def test_a_currency_without_cents_is_charged_in_whole_units(home):
    # kaiju: one gpt-4o request a day at JPY 150: 0.525 JPY a day, 2.1 JPY -> 2 JPY (the yen has no minor unit).
    statement = _statement(home, "kaiju")
    assert (statement["currency"], statement["cost"], statement["charge"]) == ("JPY", Decimal("2.1"), Decimal(2))


def test_an_amount_allowance_is_charge_included(home):
    # wayne: 3 gpt-4o requests a day at cost (0.0105 a day); 0.02 of charge included: Oct 20 wholly, Oct 21 0.0095 of
    # 0.0105 (0.001 left to pay), Oct 22 and 23 in full: 0.001 + 0.0105 + 0.0105 = 0.022 -> 0.02; overage 0.042 - 0.02.
    assert _query(home, "select event_date, included_units, charge from marts.chargeback_usage where payer = 'wayne' order by 1") == [
        (DAYS[0], Decimal("0.0105"), Decimal(0)),
        (DAYS[1], Decimal("0.0095"), Decimal("0.001")),
        (DAYS[2], Decimal(0), Decimal("0.0105")),
        (DAYS[3], Decimal(0), Decimal("0.0105")),
    ]
    statement = _statement(home, "wayne")
    assert (statement["allowance_unit"], statement["allowance_used"], statement["overage"], statement["charge"]) == (
        "amount", Decimal("0.02"), Decimal("0.022"), Decimal("0.02"))


def test_the_first_matching_payer_wins_and_unmatched_requests_are_not_charged(home):
    assert _query(home, "select payer, requests from marts.chargeback_lines where model = ? and payer in ('search-team', 'globex') order by 1", [MINI]) == [
        ("globex", 20), ("search-team", 1)
    ]
    assert _query(home, "select count(*) from marts.chargeback_usage where payer = 'nobody'") == [(0,)]
    charged = _query(home, "select sum(requests) from marts.chargeback_lines")[0][0]
    assert charged == _query(home, "select count(*) from core.request_costs")[0][0] - 1  # all but nobody_1


def test_unpriced_requests_block_their_statement_by_default(home):
    # hooli: one gpt-4o request (0.0035 x 1.05 = 0.003675 -> 0.00) and one of a model the price book does not know.
    statement = _statement(home, "hooli")
    assert (statement["blocked_reason"], statement["requests"], statement["unpriced_requests"]) == ("unpriced requests", 1, 1)
    assert _query(home, "select line_type, requests, charge, problem from marts.chargeback_lines where payer = 'hooli' order by 1") == [
        ("unpriced", 1, None, "unpriced requests"), ("usage", 1, Decimal("0.00"), None)
    ]
    assert _query(home, "select statement_id from marts.chargeback_statements where blocked_reason is not null") == [("CB-2026-10-hooli",)]


def test_statement_lines_add_up_to_the_statement(home):
    broken = _query(
        home,
        "select s.statement_id, s.charge, sum(l.charge) from marts.chargeback_statements as s "
        "join marts.chargeback_lines as l on l.statement_id = s.statement_id and l.line_type = 'usage' "
        "group by all having s.charge <> sum(l.charge)",
    )
    assert broken == []
    allowances = _query(home, "select payer, allowance_unit, allowance, allowance_used, overage, units, gross_charge from marts.chargeback_statements "
                              "where allowance_unit is not null order by payer")
    assert [row[0] for row in allowances] == ["acme", "globex", "wayne"]
    for payer, unit, allowance, used, overage, units, gross in allowances:
        assert used <= allowance, payer
        if unit == "amount":
            assert used + overage == gross, payer
        else:
            assert used == int(used) and used + overage == units, payer


def test_unpriced_separate_lists_them_apart_and_a_close_then_a_discount_gives_a_credit_line(tmp_path):
    home = _home(tmp_path, CHARGEBACK)
    run_pipeline(home, progress=_quiet)
    with pytest.raises(CloseError, match=r"CB-2026-10-hooli: unpriced requests.*unpriced: separate"):
        close_month(home, "2026-10")
    assert _query(home, "select count(*) from finance.closed_periods") == [(0,)]  # nothing was closed

    (home.root / "chargeback.yaml").write_text("unpriced: separate\n" + CHARGEBACK)
    run_pipeline(home, progress=_quiet)
    hooli = _statement(home, "hooli")
    # hooli: the known request is charged (0.0035 x 1.05 = 0.003675 -> 0.00), the unknown one listed apart, never charged.
    assert (hooli["blocked_reason"], hooli["requests"], hooli["unpriced_requests"]) == (None, 1, 1)
    assert close_month(home, "2026-10") == {
        "month": "2026-10", "requests": 180, "cost_usd": _query(home, "select sum(cost_usd) from marts.daily_spend")[0][0], "finished": False
    }
    assert _statement(home, "acme")["status"] == "final"

    # After the close, a negotiated 50% discount on gpt-4o from Oct 1, re-priced: acme's month is worth
    # 0.063 / 2 = 0.0315 -> 0.03 now. The final statement keeps 0.06; a credit line of 0.03 - 0.06 = -0.03 says the rest.
    (home.root / "price_overrides.yaml").write_text(
        "overrides:\n  - {id: gpt4o-deal, provider: openai, model: gpt-4o-2024-08-06, effective_from: 2026-10-01, discount_pct: 50}\n"
    )
    # and a late request of a model the book does not know: listed apart, it changes usage, not the charge
    land(home, "late.jsonl", [envelope("acme_late", "openai", "gpt-9-preview", USAGE, timestamp="2026-10-23T18:00:00Z", customer_id="acme")])
    run_pipeline(home, start=DAYS[0], end=DAYS[-1], progress=_quiet)
    acme = _statement(home, "acme")
    assert (acme["status"], acme["charge"], acme["cost"], acme["adjustment_lines"], acme["adjustments"]) == (
        "final", Decimal("0.06"), Decimal("0.14"), 2, Decimal("-0.03"))
    changes = _query(home, "select statement_id, line_type, status, model, requests, cost, gross_charge, charge from marts.chargeback_lines "
                           "where payer = 'acme' and line_type <> 'usage' order by line_type")
    assert changes == [
        ("CB-2026-10-acme-ADJ", "adjustment", "draft", "gpt-9-preview", 1, None, None, None),  # unpriced: no cost, never $0
        ("CB-2026-10-acme-ADJ", "credit", "draft", GPT4O, 0, Decimal("-0.07"), Decimal("-0.084"), Decimal("-0.03")),
    ]
    assert _query(home, "select sum(charge) from finance.chargeback_usage where payer = 'acme'") == [(Decimal("0.063"),)]
    with pytest.raises(CloseError, match="was closed at"):
        close_month(home, "2026-10")


def test_close_prints_the_final_statements(tmp_path, capsys):
    home = _home(tmp_path, "unpriced: separate\n" + CHARGEBACK)
    run_pipeline(home, progress=_quiet)
    assert main(["close", "2026-10", "--home", str(home.root)]) == 0
    out = capsys.readouterr().out
    assert "chargeback statement CB-2026-10-acme is final: 0.06 USD" in out
    assert "chargeback statement CB-2026-10-umbrella is final: 0.28 EUR" in out
    assert "chargeback statement CB-2026-10-kaiju is final: 2 JPY" in out  # the yen has no minor unit: it printed 2.00
    assert "warning" not in out  # October 2026 has ended


def test_closing_a_month_that_has_not_ended_says_so(home, capsys):
    """A close of the running month froze it without a word; the requests of its remaining days then only appear as
    restatements and adjustment lines. The close still happens (finance may close early), with a warning."""
    now = dt.datetime.now(dt.timezone.utc)
    land(home, "today.jsonl", [envelope("r1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 100, "completion_tokens": 10},
                                        timestamp=now.strftime("%Y-%m-%dT%H:%M:%SZ"))])
    run_pipeline(home, progress=_quiet)
    assert main(["close", now.strftime("%Y-%m"), "--home", str(home.root)]) == 0
    ended_meanwhile = f"{dt.datetime.now(dt.timezone.utc):%Y-%m}" != f"{now:%Y-%m}"  # a run across a month's last midnight
    assert ended_meanwhile or f"warning: {now:%Y-%m} has not ended (UTC)" in capsys.readouterr().out


def test_each_splits_a_payer_into_a_statement_per_customer_with_its_own_allowance(tmp_path):
    # pros, split by customer: cost plus 10%, 3 requests included per customer. p1: 5 gpt-4o requests (0.0035 each)
    # = 0.01925 before the allowance, 2 of 5 left to pay: 0.0077 -> 0.01; p2: 2 requests, all included: 0.00.
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    day = DAYS[0]
    land(home, "pros.jsonl", [_request(f"p1_{n}", "p1", GPT4O, day, n, user_segment="pro") for n in range(5)]
         + [_request(f"p2_{n}", "p2", GPT4O, day, 10 + n, user_segment="pro") for n in range(2)])
    (home.root / "chargeback.yaml").write_text(
        "payers:\n  pros:\n    match: {user_segment: pro}\n    each: customer_id\n    stripe_customer_ids: {p1: cus_P1}\n"
        "    rule: cost_plus\n    markup_pct: 10\n    included: {requests: 3}\n"
    )
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select statement_id, payer, requests, allowance_used, gross_charge, charge from marts.chargeback_statements order by 1") == [
        ("CB-2026-10-pros:p1", "pros:p1", 5, Decimal(3), Decimal("0.01925"), Decimal("0.01")),
        ("CB-2026-10-pros:p2", "pros:p2", 2, Decimal(2), Decimal("0.0077"), Decimal("0.00")),
    ]
    assert load_chargeback(home.root).stripe_customers == {"pros": None, "pros:p1": "cus_P1"}

    # After the close, a customer the month had not seen: its lines are debits of CB-2026-10-pros:p3-ADJ, and its final
    # statement is empty with them as its adjustments (they were in marts.chargeback_lines only: in no statement, no
    # report, no export summary). 5 gpt-4o requests, 3 included: 2 x 0.0035 x 1.1 = 0.0077 -> 0.01.
    close_month(home, "2026-10")
    land(home, "late.jsonl", [_request(f"p3_{n}", "p3", GPT4O, day, 30 + n, user_segment="pro") for n in range(5)])
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select statement_id, line_type, charge from marts.chargeback_lines where payer = 'pros:p3'") == [
        ("CB-2026-10-pros:p3-ADJ", "debit", Decimal("0.01"))]
    assert _query(home, "select statement_id, status, requests, charge, adjustment_lines, adjustments from marts.chargeback_statements "
                        "order by 1") == [
        ("CB-2026-10-pros:p1", "final", 5, Decimal("0.01"), 0, Decimal(0)),
        ("CB-2026-10-pros:p2", "final", 2, Decimal("0.00"), 0, Decimal(0)),
        ("CB-2026-10-pros:p3", "final", 0, Decimal(0), 1, Decimal("0.01")),
    ]


def test_a_customer_named_none_is_not_the_requests_without_a_customer(tmp_path):
    """A payer split by customer named the requests without one '<payer>:(none)', and a customer literally named
    '(none)' got the same statement: it paid for the anonymous requests and shared its allowance with them."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    day = DAYS[0]
    land(home, "none.jsonl", [_request(f"named_{n}", "(none)", GPT4O, day, n, user_segment="pro") for n in range(3)]
         + [_request(f"anonymous_{n}", None, GPT4O, day, 10 + n, user_segment="pro") for n in range(2)]
         + [_request("slash", "\\(none)", GPT4O, day, 20, user_segment="pro")])
    (home.root / "chargeback.yaml").write_text(
        "payers:\n  pros:\n    match: {user_segment: pro}\n    each: customer_id\n    rule: cost_plus\n    markup_pct: 0\n"
        "    stripe_customer_ids: {'(none)': cus_NamedNone01}\n"
    )
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select payer, requests from marts.chargeback_statements order by 1") == [
        ("pros:(none)", 2), ("pros:\\(none)", 3), ("pros:\\\\(none)", 1)]
    # the Stripe customer of the customer named '(none)' is that customer's, not the anonymous requests'
    assert load_chargeback(home.root).stripe_customers == {"pros": None, "pros:\\(none)": "cus_NamedNone01"}


def test_an_outcome_is_charged_once_when_its_request_id_is_a_request_of_two_sources(tmp_path):
    """A request is (source, request_id): the envelope's r2 and a LiteLLM row numbered r2 are two requests. The outcome
    naming r2 counts once, for its first request (the envelope's, at 10:00); it was charged once per source (2
    outcomes landed, 3 charged: $3.00, Stripe value "300")."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    day = DAYS[1]
    land(home, "support.jsonl", [_request(rid, "c1", MINI, day, minute, feature="support_chat") for rid, minute in (("r1", 0), ("r2", 600))])
    litellm = {"request_id": "r2", "call_type": "acompletion", "spend": 0.001, "total_tokens": 1100, "prompt_tokens": 1000,
               "completion_tokens": 100, "startTime": f"{day}T12:00:00.000Z", "endTime": f"{day}T12:00:01.000Z", "model": MINI,
               "custom_llm_provider": "openai", "metadata": {}, "request_tags": ["feature:support_chat"], "end_user": "c2", "status": "success"}
    (home.gateway_landing("litellm")).mkdir(parents=True, exist_ok=True)
    (home.gateway_landing("litellm") / "spendlogs.jsonl").write_text(json.dumps(litellm) + "\n")
    (home.landing / "outcomes").mkdir(parents=True, exist_ok=True)
    (home.landing / "outcomes" / "o.jsonl").write_text("".join(
        json.dumps({"outcome_id": oid, "timestamp": f"{day}T{hour}:00:00Z", "outcome_type": "ticket_resolved", "feature": "support_chat",
                    "request_id": rid}) + "\n" for oid, hour, rid in (("o1", "09", "r1"), ("o2", "13", "r2"))))
    (home.root / "chargeback.yaml").write_text("payers:\n  support:\n    match: {feature: support_chat}\n    rule: per_outcome\n    per_outcome: 1.00\n")
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select source, count(*) from core.request_costs where request_id = 'r2' group by 1 order by 1") == [
        ("envelope", 1), ("litellm", 1)]
    assert _query(home, "select outcome_id, linked_requests, first_request_id, first_request_source from marts.outcome_costs order by 1") == [
        ("o1", 1, "r1", "envelope"), ("o2", 2, "r2", "envelope")]
    statement = _statement(home, "support")
    assert (statement["outcomes"], statement["charge"]) == (2, Decimal("2.00"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("payers: [acme]\n", "chargeback.yaml: payers: expected a mapping of payer id"),
        ("payers:\n  acme: {match: {customer_id: acme}, rule: cost_plus}\n", "payers.acme: rule cost_plus needs markup_pct"),
        ("payers:\n  acme: {match: {customer_id: acme}, rule: flat}\n", "payers.acme.rule: expected one of cost_plus, per_mtok, per_outcome, got 'flat'"),
        ("payers:\n  acme: {match: {customer: acme}, rule: cost_plus, markup_pct: 5}\n", "payers.acme.match: unknown key 'customer'"),
        ("payers:\n  acme: {match: {}, rule: cost_plus, markup_pct: 5}\n", "payers.acme.match: expected a mapping with one or more of"),
        ("payers:\n  'a b': {match: {customer_id: x}, rule: cost_plus, markup_pct: 5}\n", "a payer id is 1-64 letters"),
        ("payers:\n  acme-adj: {match: {customer_id: x}, rule: cost_plus, markup_pct: 5}\n", "payers.acme-adj: a payer id may not end in -ADJ"),
        ("payers:\n  a: {match: {customer_id: x}, each: account, rule: cost_plus, markup_pct: 1}\n", "payers.a.each: expected one of customer_id, user_segment, feature"),
        ("payers:\n  a: {match: {customer_id: x}, each: customer_id, stripe_customer_id: cus_1, rule: cost_plus, markup_pct: 1}\n",
         "payers.a.stripe_customer_id: a payer split by `each` has a statement per customer_id: give stripe_customer_ids"),
        ("payers:\n  a: {match: {customer_id: x}, stripe_customer_ids: {x: cus_1}, rule: cost_plus, markup_pct: 1}\n",
         "payers.a.stripe_customer_ids: only a payer split by `each`"),
        ("payers:\n  acme: {match: {customer_id: x}, rule: cost_plus, markup_pct: '20%'}\n", "payers.acme.markup_pct: expected a percentage"),
        ("payers:\n  acme: {match: {customer_id: x}, rule: cost_plus, markup_pct: -101}\n", "payers.acme.markup_pct: expected a percentage"),
        ("payers:\n  acme: {match: {customer_id: x}, rule: per_mtok, per_mtok: {huge: 3}}\n", "payers.acme.per_mtok: unknown model tier 'huge'"),
        ("payers:\n  acme: {match: {customer_id: x}, rule: per_mtok, per_mtok: {small: .nan}}\n", "payers.acme.per_mtok.small: expected a price"),
        ("payers:\n  acme: {match: {customer_id: x}, rule: per_outcome, per_outcome: 1, included: {tokens: 1.5}}\n",
         "payers.acme.included: tokens: expected a whole number of tokens"),
        ("payers:\n  acme: {match: {customer_id: x}, rule: per_outcome, per_outcome: 1, included: {hours: 3}}\n",
         "payers.acme.included: unknown allowance 'hours'"),
        ("payers:\n  acme: {match: {customer_id: x}, currency: euro, rule: cost_plus, markup_pct: 1}\n", "payers.acme.currency: expected a three-letter"),
        ("payers:\n  acme: {match: {customer_id: x}, rule: cost_plus, markup_pct: 1, per_outcome: 2}\n", "payers.acme.per_outcome: belongs to rule per_outcome"),
        ("payers:\n  a: {match: {customer_id: x}, stripe_customer_id: cus_1, rule: cost_plus, markup_pct: 1}\n"
         "  b: {match: {customer_id: y}, stripe_customer_id: cus_1, rule: cost_plus, markup_pct: 1}\n", "stripe_customer_id 'cus_1' is given to more than one payer"),
        ("unpriced: ignore\npayers:\n  a: {match: {customer_id: x}, rule: cost_plus, markup_pct: 1}\n", "unpriced: expected block or separate, got 'ignore'"),
        ("period: week\npayers:\n  a: {match: {customer_id: x}, rule: cost_plus, markup_pct: 1}\n", "period: statements are per calendar month"),
        ("payers:\n  a: {match: {tags: {'team\"x': y}}, rule: cost_plus, markup_pct: 1}\n", "a tag name is 1-64 letters"),
    ],
)
def test_a_bad_chargeback_file_names_the_payer_and_the_field(tmp_path, text, message):
    (tmp_path / "chargeback.yaml").write_text(text)
    with pytest.raises(ChargebackError) as caught:
        load_chargeback(tmp_path)
    assert message in str(caught.value)


def test_a_bad_chargeback_file_stops_the_run_before_it_starts(tmp_path, capsys):
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    (home.root / "chargeback.yaml").write_text("payers:\n  acme: {match: {customer_id: acme}, rule: cost_plus}\n")
    assert main(["run", "--home", str(home.root)]) == 2
    assert "payers.acme: rule cost_plus needs markup_pct" in capsys.readouterr().err


def test_no_chargeback_file_means_no_statements(tmp_path):
    assert load_chargeback(tmp_path).payers.num_rows == 0


def test_a_closed_line_whose_requests_are_withdrawn_is_credited_in_full(tmp_path):
    """A corrected file withdraws every request of a closed statement's line: the line has no counterpart now, and its
    adjustment's charge was NULL (NOT (NULL AND TRUE) in SQL), so the payer was never credited."""
    home = _home(tmp_path, "unpriced: separate\n" + CHARGEBACK)
    run_pipeline(home, progress=_quiet)
    close_month(home, "2026-10")
    (stated,) = _query(home, "select charge from marts.chargeback_lines where payer = 'umbrella' and line_type = 'usage'")
    assert stated[0] > 0
    land(home, "october.jsonl", [line for line in _requests() if '"umbrella"' not in line])
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select statement_id, line_type, requests, charge from marts.chargeback_lines "
                        "where payer = 'umbrella' and status = 'draft'") == [("CB-2026-10-umbrella-ADJ", "credit", -80, -stated[0])]
    assert _statement(home, "umbrella")["adjustments"] == -stated[0]


def test_a_corrected_or_missing_rate_after_the_close_is_an_adjustment_and_a_missing_one_blocks_the_export(tmp_path):
    """umbrella (EUR, cost plus 10%) with 100 EUR of charge included pays nothing: its charge stays 0 whatever the rate.
    Its month cost 0.063 + 0.063 + 0.0665 + 0.0665 = 0.259 EUR at the close (0.07 USD a day; 0.90, then 0.95 from
    Oct 22). A corrected rate of 0.50 from Oct 22 makes it 0.063 + 0.063 + 0.035 + 0.035 = 0.196 EUR: an `adjustment`
    line of -0.063 EUR, gross charge -0.0693 (docs/chargeback.md: a change of cost that leaves the charge as it was).
    It had none: the lines were compared on USD cost and charge alone. With no EUR rate at all, the month's cost in EUR
    is unknown: the line's amounts are null, not a reversal of the whole 0.259 EUR, and the final statement cannot be
    issued (its adjustments are unknown), so the export refuses it; before, -0.259 EUR and an export that went through."""
    from pipelines.finance.usage_export import UsageExportError, export_usage

    allowance = CHARGEBACK.replace("    currency: EUR\n    rule: cost_plus\n    markup_pct: 10\n",
                                   "    currency: EUR\n    rule: cost_plus\n    markup_pct: 10\n    included: {amount: 100}\n")
    assert allowance != CHARGEBACK
    home = _home(tmp_path, "unpriced: separate\n" + allowance)
    run_pipeline(home, progress=_quiet)
    close_month(home, "2026-10")
    assert (_statement(home, "umbrella")["cost"], _statement(home, "umbrella")["charge"]) == (Decimal("0.259"), Decimal(0))

    (home.landing / "fx" / "rates.csv").write_text(RATES.replace("2026-10-22,EUR,0.95", "2026-10-22,EUR,0.50"))
    run_pipeline(home, progress=_quiet)
    adjusted = "select line_type, requests, cost_usd, cost, gross_charge, charge, problem from marts.chargeback_lines " \
               "where payer = 'umbrella' and status = 'draft'"
    assert _query(home, adjusted) == [("adjustment", 0, Decimal(0), Decimal("-0.063"), Decimal("-0.0693"), Decimal(0), None)]
    umbrella = _statement(home, "umbrella")
    assert (umbrella["adjustment_lines"], umbrella["adjustments"], umbrella["blocked_reason"]) == (1, Decimal(0), None)
    # a late request of a model the book does not know: an adjustment line with no charge, and nothing to block
    land(home, "late.jsonl", [envelope("acme_late", "openai", "gpt-9-preview", USAGE, timestamp="2026-10-23T18:00:00Z", customer_id="acme")])
    run_pipeline(home, progress=_quiet)
    acme = _statement(home, "acme")
    assert (acme["adjustment_lines"], acme["adjustments"], acme["blocked_reason"]) == (1, Decimal(0), None)
    assert [total.adjustments for total in export_usage(home, "2026-10", "csv", tmp_path / "usage.csv").totals] == [0, 0, 0]

    (home.landing / "fx" / "rates.csv").write_text("date,currency,rate\n2026-10-01,JPY,150\n")
    run_pipeline(home, progress=_quiet)
    assert _query(home, adjusted) == [("adjustment", 0, Decimal(0), None, None, None, "no_fx_rate:EUR")]
    umbrella = _statement(home, "umbrella")
    assert (umbrella["status"], umbrella["cost"], umbrella["adjustment_lines"], umbrella["adjustments"], umbrella["blocked_reason"]) == (
        "final", Decimal("0.259"), 1, None, "adjustments since the close: no_fx_rate:EUR")
    with pytest.raises(UsageExportError, match=r"CB-2026-10-umbrella: adjustments since the close: no_fx_rate:EUR"):
        export_usage(home, "2026-10", "csv", tmp_path / "usage.csv")


def test_a_change_after_the_close_charges_the_lines_that_changed_only(tmp_path):
    """A statement's charges are rounded cumulatively in line order, so the month recomputed after a late request
    rounds the later lines' cents differently: taking each line's rounded charge now minus at the close put +0.01 and
    -0.01 on lines whose usage did not change. The -ADJ lines now round their own running total from the closed
    statement's: only changed lines, adding up to the recomputed statement's rounded charge minus the closed one's.
    gpt-4o input is $2.50 per 1M: 1,600 tokens $0.004, 800 $0.002, 3,200 $0.008."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    day = dt.date(2026, 10, 20)
    ask = lambda rid, feature, tokens, minute: envelope(  # noqa: E731
        rid, "openai", GPT4O, {"prompt_tokens": tokens, "completion_tokens": 0}, timestamp=f"{day}T08:{minute:02d}:00Z",
        customer_id="p", feature=feature)
    land(home, "october.jsonl", [ask(f"r{n}", feature, 1600, n) for n, feature in enumerate("abcd")])
    (home.root / "chargeback.yaml").write_text("payers:\n  p:\n    match: {customer_id: p}\n    rule: cost_plus\n    markup_pct: 0\n")
    run_pipeline(home, progress=_quiet)
    lines = "select feature, line_type, cost_usd, charge from marts.chargeback_lines where statement_id = ? order by feature"
    # running totals 0.004, 0.008, 0.012, 0.016 round to 0.00, 0.01, 0.01, 0.02
    assert _query(home, lines, ["CB-2026-10-p"]) == [
        ("a", "usage", Decimal("0.004"), Decimal("0")), ("b", "usage", Decimal("0.004"), Decimal("0.01")),
        ("c", "usage", Decimal("0.004"), Decimal("0")), ("d", "usage", Decimal("0.004"), Decimal("0.01"))]
    close_month(home, "2026-10")
    land(home, "late.jsonl", [ask("late_a", "a", 800, 10), ask("late_c", "c", 3200, 11)])
    run_pipeline(home, progress=_quiet)
    # from the closed 0.016: + 0.002 = 0.018 rounds to 0.02 as 0.016 did (a: no charge); + 0.008 = 0.026 rounds to 0.03 (c: 0.01)
    assert _query(home, lines, ["CB-2026-10-p-ADJ"]) == [
        ("a", "adjustment", Decimal("0.002"), Decimal("0")), ("c", "debit", Decimal("0.008"), Decimal("0.01"))]
    assert _statement(home, "p")["adjustments"] == Decimal("0.01")  # 0.03 recomputed - 0.02 closed
