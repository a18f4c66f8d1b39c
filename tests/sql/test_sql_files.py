"""One SQL file at a time, on a few hand-made rows registered as the tables it reads: seconds, no pipeline run.

Each test builds an in-memory DuckDB with the money macros (as every warehouse connection has them), creates
the tables a select reads from Arrow rows, runs the file from sql/ and checks hand-computed results.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from pipelines.storage.database import sql_text
from pipelines.storage.money import define_money_macros

MONEY = pa.decimal128(38, 15)
RATE = pa.decimal128(38, 9)
DAY = dt.date(2026, 11, 2)


@pytest.fixture
def con():
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        define_money_macros(con)
        for schema in ("reference", "staging", "core", "marts"):
            con.execute(f"create schema {schema}")
        yield con


def table(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict], schema: pa.Schema) -> None:
    con.register("_rows", pa.Table.from_pylist(rows, schema=schema))
    con.execute(f"create or replace table {name} as select * from _rows")
    con.unregister("_rows")


def run(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None) -> list[dict]:
    cursor = con.execute(sql_text(name), params or {})
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


REQUESTS = pa.schema(
    [("event_date", pa.date32()), ("feature", pa.string()), ("is_priced", pa.bool_()), ("price_id", pa.string()),
     ("override_id", pa.string()), ("cache_read_tokens", pa.int64()), ("cache_write_5m_tokens", pa.int64()),
     ("cache_write_1h_tokens", pa.int64()), ("cache_read_cost_usd", MONEY)]
)
PRICES = pa.schema(
    [("price_id", pa.string()), ("input_per_mtok", RATE), ("cache_read_per_mtok", RATE), ("cache_write_5m_per_mtok", RATE),
     ("cache_write_1h_per_mtok", RATE)]
)
OVERRIDES = pa.schema(
    [("override_id", pa.string()), ("discount_pct", RATE), ("input_per_mtok", RATE), ("cache_read_per_mtok", RATE),
     ("cache_write_5m_per_mtok", RATE), ("cache_write_1h_per_mtok", RATE)]
)


def test_cache_savings_against_the_uncached_price_of_the_same_entry(con):
    # Claude-like prices per 1M: input 3.00, cache read 0.30, 5-minute write 3.75, 1-hour write 6.00.
    table(con, "reference.prices", [{"price_id": "p", "input_per_mtok": Decimal("3"), "cache_read_per_mtok": Decimal("0.3"),
                                      "cache_write_5m_per_mtok": Decimal("3.75"), "cache_write_1h_per_mtok": Decimal("6")}], PRICES)
    # A 20% discount on every rate of the second request's account.
    table(con, "reference.price_overrides", [{"override_id": "o", "discount_pct": Decimal("20")}], OVERRIDES)
    table(con, "core.request_costs", [
        {"event_date": DAY, "feature": "chat", "is_priced": True, "price_id": "p", "override_id": None, "cache_read_tokens": 1_000_000,
         "cache_write_5m_tokens": 100_000, "cache_write_1h_tokens": 0, "cache_read_cost_usd": Decimal("0.3")},
        {"event_date": DAY, "feature": "chat", "is_priced": True, "price_id": "p", "override_id": "o", "cache_read_tokens": 500_000,
         "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 10_000, "cache_read_cost_usd": Decimal("0.12")},
        # No cache: not a row of the mart. Unpriced: never counted as a saving.
        {"event_date": DAY, "feature": "search", "is_priced": True, "price_id": "p", "override_id": None, "cache_read_tokens": 0,
         "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "cache_read_cost_usd": Decimal("0")},
        {"event_date": DAY, "feature": "chat", "is_priced": False, "price_id": None, "override_id": None, "cache_read_tokens": 9_000_000,
         "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "cache_read_cost_usd": None},
    ], REQUESTS)
    (row,) = run(con, "marts.cache_savings")
    # uncached: 1M x 3.00 + 0.5M x 2.40 = 4.20; saved: 1M x 2.70 + 0.5M x 2.16 = 3.78
    # write premium: 0.1M x (3.75 - 3.00) + 0.01M x (4.80 - 2.40) = 0.075 + 0.024 = 0.099
    assert (row["event_date"], row["feature"], row["cached_tokens"]) == (DAY, "chat", 1_500_000)
    assert row["cached_cost_usd"] == Decimal("0.42")
    assert row["uncached_cost_usd"] == Decimal("4.2")
    assert row["saved_usd"] == Decimal("3.78")
    assert row["write_premium_usd"] == Decimal("0.099")
    assert row["net_saved_usd"] == Decimal("3.681")


GPU = pa.schema(
    [("provider", pa.string()), ("event_date", pa.date32()), ("price_id", pa.string()), ("cost_usd", MONEY), ("capacity_tokens", pa.int64())]
)
STAGED = pa.schema(
    [("source", pa.string()), ("request_id", pa.string()), ("provider", pa.string()), ("event_date", pa.date32()),
     ("occurred_at", pa.timestamp("us", tz="UTC")), *[(f"{b}_tokens", pa.int64()) for b in (
         "input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "reasoning")],
     ("total_input_tokens", pa.int64()), ("total_output_tokens", pa.int64())]
)


def _staged(request_id: str, second: int, input_tokens: int, output_tokens: int) -> dict:
    return {"source": "envelope", "request_id": request_id, "provider": "self_hosted:gpu-a", "event_date": DAY,
            "occurred_at": dt.datetime(2026, 11, 2, 10, 0, second, tzinfo=dt.timezone.utc), "input_tokens": input_tokens,
            "cache_read_tokens": 0, "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "output_tokens": output_tokens,
            "reasoning_tokens": 0, "total_input_tokens": input_tokens, "total_output_tokens": output_tokens}


def test_gpu_allocation_shares_add_up_to_the_allocated_bill_exactly(con):
    # A 10 USD cluster-day with capacity for 300 tokens serves 3 x 100: allocated = 10 x 300/300 = 10, a third each;
    # a third of 10 does not end in 15 decimals, and the three shares still add up to 10 exactly.
    table(con, "reference.gpu_capacity", [{"provider": "self_hosted:gpu-a", "event_date": DAY, "price_id": "gpu:gpu-a:2026-11-02",
                                           "cost_usd": Decimal("10"), "capacity_tokens": 300}], GPU)
    table(con, "staging.stg_gateway_requests", [_staged("a", 1, 60, 40), _staged("b", 2, 100, 0), _staged("c", 3, 1, 99)], STAGED)
    con.execute(f"create temp macro gpu_allocation(window_start, window_end) as table {sql_text('core._gpu_allocation')}")
    rows = con.execute("select * from gpu_allocation($s, $e) order by request_id", {"s": DAY, "e": DAY + dt.timedelta(days=1)}).fetchall()
    shares = {row[1]: row[-1] for row in rows}
    assert shares == {"a": Decimal("3.333333333333333"), "b": Decimal("3.333333333333334"), "c": Decimal("3.333333333333333")}
    assert sum(shares.values()) == Decimal("10")
    # a's share splits 60:40 over input and output, the buckets adding up to the share.
    a = next(row for row in rows if row[1] == "a")  # source, request_id, event_date, gpu_price_id, input, ..., output
    assert (a[2], a[4], a[8]) == (DAY, Decimal("2.000000000000000"), Decimal("1.333333333333333"))


def test_effective_rate_prefers_the_negotiated_rate_then_the_discounted_list_rate(con):
    rate = lambda *args: con.execute("select effective_rate($o, $l, $m)", dict(zip("olm", args))).fetchone()[0]  # noqa: E731
    assert rate(Decimal("1.5"), Decimal("3"), Decimal("0.8")) == Decimal("1.5")
    assert rate(None, Decimal("3"), Decimal("0.8")) == Decimal("2.4")
    assert rate(None, Decimal("3"), None) == Decimal("3")
    assert rate(None, None, None) == Decimal("0")


SPEND = pa.schema([("event_date", pa.date32()), ("feature", pa.string()), ("requests", pa.int64()), ("cost_usd", MONEY),
                   ("unpriced_requests", pa.int64())])


def test_spend_by_feature_has_a_total_and_no_row_without_spend(con):
    table(con, "marts.daily_spend", [], SPEND)
    assert run(con, "queries/spend_by_feature") == []
    table(con, "marts.daily_spend", [
        {"event_date": DAY, "feature": "chat", "requests": 3, "cost_usd": Decimal("1"), "unpriced_requests": 0},
        {"event_date": DAY + dt.timedelta(days=1), "feature": "search", "requests": 2, "cost_usd": Decimal("2"), "unpriced_requests": 1},
    ], SPEND)
    rows = [(r["feature"], r["requests"], r["cost_usd"], r["cost_per_request_usd"], r["unpriced_requests"]) for r in run(con, "queries/spend_by_feature")]
    assert rows == [
        ("search", 2, Decimal("2"), Decimal("1"), 1),
        ("chat", 3, Decimal("1"), Decimal("0.333333333333333"), 0),
        (None, 5, Decimal("3"), Decimal("0.6"), 1),
    ]


def test_month_span_is_the_latest_month_or_the_one_asked_for(con):
    table(con, "marts.daily_spend", [
        {"event_date": dt.date(2026, 10, 20), "feature": "chat", "requests": 1, "cost_usd": Decimal("1"), "unpriced_requests": 0},
        {"event_date": dt.date(2026, 10, 23), "feature": "chat", "requests": 1, "cost_usd": Decimal("1"), "unpriced_requests": 0},
        {"event_date": dt.date(2026, 11, 2), "feature": "chat", "requests": 1, "cost_usd": Decimal("1"), "unpriced_requests": 0},
    ], SPEND)
    assert run(con, "queries/month_span", {"month": None}) == [{"month": "2026-11", "first_day": dt.date(2026, 11, 1), "last_day": dt.date(2026, 11, 2)}]
    # October's first data day is the 20th: the span starts there, not on the 1st; the data has moved on to November,
    # so October is over: its span runs to the 31st (days without spend spent nothing), not to its last spend on the 23rd
    assert run(con, "queries/month_span", {"month": "2026-10"}) == [{"month": "2026-10", "first_day": dt.date(2026, 10, 20), "last_day": dt.date(2026, 10, 31)}]
    assert run(con, "queries/month_span", {"month": "2026-09"}) == []


def test_tiered_models_takes_the_first_matching_rule_by_order_in_lower_case(con):
    from pipelines.pricing.tiers import RULES_SCHEMA, define_tiered_models

    compare = [{"provider": "openai", "model": "gpt-4o-mini-2024-07-18"}]
    rules = [  # registered out of order: rule_order decides, not the table's order
        {"rule_order": 3, "pattern": "*-mini*", "tier": "small", "rule_source": "shipped#3", "compare_with": []},
        {"rule_order": 1, "pattern": "self_hosted:gpu-a/*", "tier": "medium", "rule_source": "home#1", "compare_with": compare},
        {"rule_order": 2, "pattern": "*gpt-4o*", "tier": "medium", "rule_source": "shipped#2", "compare_with": []},
    ]
    con.register("tier_rules", pa.Table.from_pylist(rules, schema=RULES_SCHEMA))
    con.register("served", pa.table({"provider": ["openai", "openai", "self_hosted:gpu-a", "anthropic"],
                                     "model": ["GPT-4o-Mini", "o4-mini", "gpt-4o-mini", "claude-x"]}))
    define_tiered_models(con)
    assert con.execute("select * from tiered_models('served') order by provider, model").fetchall() == [
        ("anthropic", "claude-x", False, "unclassified", None, None, None),
        ("openai", "GPT-4o-Mini", True, "medium", 2, "shipped#2", []),  # the model name matches *gpt-4o* (2) and *-mini* (3)
        ("openai", "o4-mini", True, "small", 3, "shipped#3", []),
        ("self_hosted:gpu-a", "gpt-4o-mini", True, "medium", 1, "home#1", compare),  # "<provider>/<model>" matches rule 1
    ]


DAILY = pa.schema([("event_date", pa.date32()), ("provider", pa.string()), ("model", pa.string()), ("cost_usd", MONEY),
                   ("requests", pa.int64()), ("unpriced_requests", pa.int64())])
ALIASES = pa.schema([("provider", pa.string()), ("name", pa.string()), ("model", pa.string())])
LINES = pa.schema([("charge_date", pa.date32()), ("provider", pa.string()), ("reconcile_model", pa.string()),
                   ("charge_category", pa.string()), ("billed_cost_usd", MONEY), ("included_credits_usd", MONEY),
                   ("is_correction", pa.bool_()), ("fx_rate", RATE)])


def test_reconciliation_tolerance_is_exact_on_large_amounts(con):
    # A 0.7% tolerance on a $12,345.678901234567891 estimate is $86.419752308641975(237): a bill exactly that much over
    # is matched, one 10^-15 more is over-billed. A DOUBLE (pct / 100 x estimate) is off in the 15th decimal here.
    estimate = Decimal("12345.678901234567891")
    tolerance = Decimal("86.419752308641975")
    days = [DAY, DAY + dt.timedelta(days=1)]
    table(con, "reference.model_aliases", [], ALIASES)
    table(con, "marts.daily_spend", [
        {"event_date": day, "provider": "openai", "model": "gpt-4o", "cost_usd": estimate, "requests": 10, "unpriced_requests": 0}
        for day in days
    ], DAILY)
    table(con, "core.billing_line_items", [
        {"charge_date": day, "provider": "openai", "reconcile_model": "gpt-4o", "charge_category": "usage",
         "billed_cost_usd": estimate + tolerance + extra, "included_credits_usd": None, "is_correction": False, "fx_rate": Decimal(1)}
        for day, extra in zip(days, (Decimal(0), Decimal("1e-15")))
    ], LINES)
    rows = run(con, "marts.billing_reconciliation", {"tolerance_pct": Decimal("0.7"), "tolerance_usd": Decimal("0.01")})
    got = sorted((r["charge_date"], r["tolerance_usd"], r["variance_usd"], r["variance_pct"], r["status"]) for r in rows)
    assert got == [
        (days[0], tolerance, tolerance, Decimal("0.7000"), "matched"),
        (days[1], tolerance, tolerance + Decimal("1e-15"), Decimal("0.7000"), "over_billed"),
    ]


def test_an_estimate_of_only_unpriced_requests_is_unknown_never_zero(con):
    # README: an unknown model is never priced at $0. Day 1: a bill beside only unpriced requests has no priced
    # estimate to match (billed_only, variance unknown). Day 2: no bill (estimated_only, estimate unknown). Day 3: a
    # priced model beside them keeps its estimate.
    days = [DAY + dt.timedelta(days=n) for n in range(3)]
    table(con, "reference.model_aliases", [], ALIASES)
    table(con, "marts.daily_spend", [
        {"event_date": days[0], "provider": "openai", "model": "gpt-9", "cost_usd": None, "requests": 3, "unpriced_requests": 3},
        {"event_date": days[1], "provider": "openai", "model": "gpt-9", "cost_usd": None, "requests": 2, "unpriced_requests": 2},
        {"event_date": days[2], "provider": "openai", "model": "gpt-4o", "cost_usd": Decimal("1.5"), "requests": 1, "unpriced_requests": 0},
    ], DAILY)
    table(con, "core.billing_line_items", [
        {"charge_date": days[0], "provider": "openai", "reconcile_model": "gpt-9", "charge_category": "usage",
         "billed_cost_usd": Decimal("4.2"), "included_credits_usd": None, "is_correction": False, "fx_rate": Decimal(1)},
    ], LINES)
    rows = run(con, "marts.billing_reconciliation", {"tolerance_pct": Decimal("1"), "tolerance_usd": Decimal("0.01")})
    got = sorted((r["charge_date"], r["estimated_cost_usd"], r["billed_cost_usd"], r["variance_usd"], r["variance_pct"], r["status"],
                  r["unpriced_requests"]) for r in rows)
    assert got == [
        (days[0], None, Decimal("4.2"), None, None, "billed_only", 3),
        (days[1], None, Decimal(0), None, None, "estimated_only", 2),
        (days[2], Decimal("1.5"), Decimal(0), Decimal("-1.5"), Decimal("-100.0000"), "estimated_only", 0),
    ]
    # The report's per-status totals (sql/report/reconciliation.sql) keep the unknown apart: the estimated_only
    # status sums the estimate it has and counts the one it has not; its variance is unknown, not -1.5.
    con.register("_built", pa.Table.from_pylist(rows))
    con.execute("create table marts.billing_reconciliation as select * from _built")
    totals = run(con, "report/reconciliation", {"start": days[0], "end": days[2] + dt.timedelta(days=1)})
    assert [(r["status"], r["rows"], r["unknown_estimates"], r["estimated_cost_usd"], r["billed_cost_usd"], r["variance_usd"])
            for r in totals] == [
        ("billed_only", 1, 1, Decimal(0), Decimal("4.2"), None),
        ("estimated_only", 2, 1, Decimal("1.5"), Decimal(0), None),
    ]


COSTS = pa.schema([("event_date", pa.date32()), ("feature", pa.string()), ("provider", pa.string()), ("model", pa.string()),
                   ("user_segment", pa.string()), ("user_id", pa.string()), ("is_priced", pa.bool_()), ("cost_usd", MONEY),
                   ("total_input_tokens", pa.int64()), ("total_output_tokens", pa.int64())])
FULL_COST = pa.schema([("event_date", pa.date32()), ("feature", pa.string()), ("user_segment", pa.string()), ("total_usd", MONEY)])
ENERGY = pa.schema([("event_date", pa.date32()), ("feature", pa.string()), ("provider", pa.string()), ("model", pa.string()),
                    ("requests", pa.int64()), ("tokens", pa.int64()), ("kwh", pa.float64()), ("kg_co2e", pa.float64()),
                    ("basis", pa.string()), ("carbon_basis", pa.string())])


def test_unit_economics_leaves_idle_capacity_and_unallocated_overhead_out_of_every_segment(con):
    # A request without a segment is 'unattributed', the segment marts.full_cost gives its rows without requests
    # (docs/full-cost.md: their full cost "is not in the per-segment figures").
    table(con, "core.request_costs", [
        {"event_date": DAY, "feature": "chat", "provider": "openai", "model": "m", "user_segment": None, "user_id": "u1",
         "is_priced": True, "cost_usd": Decimal("0.15"), "total_input_tokens": 1_000_000, "total_output_tokens": 0},
        {"event_date": DAY, "feature": "chat", "provider": "openai", "model": "m", "user_segment": "pro", "user_id": "u2",
         "is_priced": True, "cost_usd": Decimal("1"), "total_input_tokens": 10, "total_output_tokens": 0},
    ], COSTS)
    table(con, "marts.full_cost", [
        {"event_date": DAY, "feature": "chat", "user_segment": "unattributed", "total_usd": Decimal("18.64")},
        {"event_date": DAY, "feature": "chat", "user_segment": "pro", "total_usd": Decimal("2")},
        {"event_date": DAY, "feature": "idle_capacity", "user_segment": "unattributed", "total_usd": Decimal("72")},
        {"event_date": DAY, "feature": "unallocated_overhead", "user_segment": "unattributed", "total_usd": Decimal("3046.84")},
    ], FULL_COST)
    table(con, "marts.energy_carbon", [], ENERGY)
    table(con, "marts.outcome_costs", [], pa.schema([("event_date", pa.date32()), ("user_segment", pa.string())]))
    rows = {r["user_segment"]: (r["cost_usd"], r["full_cost_usd"], r["full_cost_per_1k_requests_usd"]) for r in run(con, "marts.unit_economics")}
    assert rows == {
        "unattributed": (Decimal("0.15"), Decimal("18.64"), Decimal("18640")),
        "pro": (Decimal("1"), Decimal("2"), Decimal("2000")),
    }
