"""Business marts through the real pipeline, every number computed by hand.

One small world, run once through Dagster: eleven requests on 2026-11-27 (OpenAI and self-hosted), outcomes,
revenue (one period spanning two months, one in EUR, one in GBP without a rate) and GPU records for five
clusters (one with capacity, one without, one idle day, one in EUR, one in GBP without a rate).

List prices used: gpt-4o-2024-08-06 $2.50 / $10 per 1M input / output; gpt-4o-mini-2024-07-18 $0.15 / $0.60.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import duckdb
import pytest
from helpers import envelope, land

from pipelines.ingest.privacy import create_key
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

NOV_27 = dt.date(2026, 11, 27)
NOV_26 = dt.date(2026, 11, 26)
ZERO = Decimal("0")


def _request(request_id, provider, model, usage, feature, user, segment, customer, conversation) -> str:
    return envelope(
        request_id, provider, model, usage, feature=feature, user_id=user, user_segment=segment,
        customer_id=customer, conversation_id=conversation,
    )


def _openai(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion}


def _tokens(inputs: int, outputs: int) -> dict:
    return {"input_tokens": inputs, "output_tokens": outputs}


REQUESTS = [
    # c1 + c2: one conversation (conv_a), one outcome. 1000 x 2.50 + 100 x 10 per 1M = 0.0035; 2000 / 200 = 0.007
    _request("c1", "openai", "gpt-4o-2024-08-06", _openai(1000, 100), "support_chat", "u1", "enterprise", "acme", "conv_a"),
    _request("c2", "openai", "gpt-4o-2024-08-06", _openai(2000, 200), "support_chat", "u2", "enterprise", "acme", "conv_a"),
    # c3: support_chat spend that led to no outcome (4000 x 2.50 per 1M = 0.01): still part of the unit cost.
    _request("c3", "openai", "gpt-4o-2024-08-06", _openai(4000, 0), "support_chat", "u3", "pro", "beta", "conv_b"),
    # c4: 10000 x 0.15 + 1000 x 0.60 per 1M = 0.0021; c5: a model without a price.
    _request("c4", "openai", "gpt-4o-mini-2024-07-18", _openai(10000, 1000), "code_assist", "u1", "enterprise", "acme", "conv_c"),
    _request("c5", "openai", "gpt-9-preview", _openai(500, 50), "code_assist", "u3", "pro", "beta", "conv_d"),
    # gpu-a (with capacity): 1.2M and 1.8M tokens served.
    _request("s1", "self_hosted:gpu-a", "llama-3.1-70b", _tokens(1_000_000, 200_000), "summarize", "u2", "enterprise", "acme", "conv_e"),
    _request("s2", "self_hosted:gpu-a", "llama-3.1-70b", _tokens(1_500_000, 300_000), "summarize", "u3", "pro", "beta", "conv_f"),
    # gpu-b (no capacity given): 1 and 2 tokens share the whole bill.
    _request("b1", "self_hosted:gpu-b", "llama-3.1-8b", _tokens(1, 0), "summarize", "u4", None, None, "conv_g"),
    _request("b2", "self_hosted:gpu-b", "llama-3.1-8b", _tokens(1, 1), "summarize", "u4", None, None, "conv_h"),
    # gpu-e has a GBP bill and no GBP rate; gpu-z has no GPU record at all.
    _request("e1", "self_hosted:gpu-e", "llama-3.1-8b", _tokens(5, 5), "summarize", "u4", None, None, "conv_i"),
    _request("z1", "self_hosted:gpu-z", "llama-3.1-8b", _tokens(10, 10), "summarize", "u4", None, None, "conv_j"),
]

OUTCOMES = [
    {"outcome_id": "o1", "timestamp": "2026-11-27T11:00:00Z", "outcome_type": "ticket_resolved", "feature": "support_chat",
     "conversation_id": "conv_a", "value_usd": "6.50"},
    {"outcome_id": "o2", "timestamp": "2026-11-27T11:05:00+01:00", "outcome_type": "suggestion_accepted", "feature": "code_assist",
     "request_id": "c4"},
    {"outcome_id": "o3", "timestamp": "2026-11-27T12:00:00Z", "outcome_type": "suggestion_accepted", "feature": "code_assist",
     "request_id": "req_not_in_the_logs"},
    {"outcome_id": "o4", "timestamp": "2026-11-26T09:00:00Z", "outcome_type": "ticket_resolved", "feature": "support_chat",
     "conversation_id": "conv_old"},
]

REVENUE_CSV = """customer_id,user_segment,period_start,period_end,amount,currency,plan
acme,enterprise,2026-10-15,2026-11-15,300.00,USD,enterprise
acme,enterprise,2026-11-15,2026-12-15,300.00,USD,enterprise
beta,pro,2026-11-01,2026-12-01,46.00,EUR,pro
gamma,team,2026-11-01,2026-12-01,100.00,GBP,team
"""

GPU_CSV = """cluster,date,gpu_type,gpu_count,hours,hourly_rate,currency,capacity_tokens_per_hour
gpu-a,2026-11-27,H100,3,23.5,2.47,USD,1000000
gpu-b,2026-11-27,A100,1,10,1.10,USD,
gpu-c,2026-11-26,A100,1,10,1.10,USD,
gpu-d,2026-11-27,L40S,1,10,2.30,EUR,
gpu-e,2026-11-27,A10,1,10,1.00,GBP,
"""

TIERS_YAML = """rules:
  - {match: "openai/gpt-4o-2024-08-06", tier: premium}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = Home.at(tmp_path_factory.mktemp("business") / "home").ensure()
    create_key(home.secrets)
    land(home, "day.jsonl", REQUESTS)
    for folder, name, text in (
        ("outcomes", "events.jsonl", "\n".join(json.dumps(o) for o in OUTCOMES) + "\n"),
        ("revenue", "subscriptions.csv", REVENUE_CSV),
        ("gpu", "capacity.csv", GPU_CSV),
        ("fx", "rates.csv", "date,currency,rate\n2026-10-01,EUR,0.92\n"),
    ):
        (home.landing / folder).mkdir(parents=True, exist_ok=True)
        (home.landing / folder / name).write_text(text)
    (home.root / "model_tiers.yaml").write_text(TIERS_YAML)
    summary = run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        yield summary, con


def _rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_non_usd_amounts_without_a_rate_are_reported_not_treated_as_usd(world):
    summary, con = world
    assert summary.dates == [NOV_26, NOV_27]
    assert (
        "marts/self_hosted_costs gpu_cost_in_usd: 1 GPU record(s) without a USD rate in reference.fx_rates "
        "(e.g. gpu-e 2026-11-27 GBP); add rates under landing/fx"
    ) in summary.warnings
    assert (
        "core/revenue revenue_in_usd: 1 revenue record(s) without a USD rate in reference.fx_rates "
        "(e.g. gamma 2026-11-01 GBP); add rates under landing/fx"
    ) in summary.warnings
    assert _rows(con, "select customer_id, amount_usd, unconverted_reason from core.revenue where currency <> 'USD' order by 1") == [
        ("beta", Decimal("50.000000000000000"), None),  # 46.00 EUR / 0.92 EUR per USD
        ("gamma", None, "no_fx_rate:GBP"),
    ]


def test_self_hosted_requests_share_the_gpu_day_by_tokens(world):
    _, con = world
    rows = {r[0]: r[1:] for r in _rows(con, "select request_id, price_id, cost_usd, input_cost_usd, output_cost_usd, unpriced_reason from core.request_costs where provider like 'self_hosted:%'")}
    # gpu-a: bill 3 x 23.5 h x $2.47 = $174.135; capacity 3 x 23.5 x 1,000,000 = 70.5M tokens; 3M served:
    # allocated = 174.135 x 3 / 70.5 = $7.41, shared 1.2 : 1.8 -> 2.964 and 4.446; within s1, 1.0M input : 0.2M output.
    assert rows["s1"] == ("gpu:gpu-a:2026-11-27", Decimal("2.964"), Decimal("2.470"), Decimal("0.494"), None)
    assert rows["s2"] == ("gpu:gpu-a:2026-11-27", Decimal("4.446"), Decimal("3.705"), Decimal("0.741"), None)
    # gpu-b: no capacity, so the whole $11.00 goes to 3 tokens: round(11 x 1/3) and the rest, to 10^-15 USD.
    assert rows["b1"] == ("gpu:gpu-b:2026-11-27", Decimal("3.666666666666667"), Decimal("3.666666666666667"), ZERO, None)
    assert rows["b2"] == ("gpu:gpu-b:2026-11-27", Decimal("7.333333333333333"), Decimal("3.666666666666667"), Decimal("3.666666666666666"), None)
    assert rows["e1"] == (None, None, None, None, "no_price_at_time")
    assert rows["z1"] == (None, None, None, None, "no_price_at_time")


def test_gpu_day_allocated_plus_idle_is_the_bill_to_the_cent(world):
    _, con = world
    rows = _rows(
        con,
        "select event_date, cluster, gpu_cost_usd, capacity_tokens, requests, unpriced_requests, tokens_served, utilization, "
        "allocated_cost_usd, idle_cost_usd, effective_cost_per_1m_tokens_usd, unconverted_reason from marts.self_hosted_costs order by 1, 2",
    )
    assert rows == [
        # An idle cluster-day: nothing served, the whole bill (1 x 10 h x $1.10) is idle.
        (NOV_26, "gpu-c", Decimal("11.00"), None, 0, 0, 0, None, ZERO, Decimal("11.00"), None, None),
        # 3M of 70.5M tokens: utilization 0.042553191; 7.41 allocated + 166.725 idle = 174.135; 174.135 / 3M tokens x 1M = 58.045.
        (NOV_27, "gpu-a", Decimal("174.135"), 70_500_000, 2, 0, 3_000_000, Decimal("0.042553191"), Decimal("7.41"), Decimal("166.725"),
         Decimal("58.045"), None),
        (NOV_27, "gpu-b", Decimal("11.00"), None, 2, 0, 3, None, Decimal("11.00"), ZERO, Decimal("3666666.666666666666667"), None),
        # 1 x 10 h x 2.30 EUR = 23.00 EUR at 0.92 EUR per USD = $25.00, nobody served.
        (NOV_27, "gpu-d", Decimal("25.00"), None, 0, 0, 0, None, ZERO, Decimal("25.00"), None, None),
        (NOV_27, "gpu-e", None, None, 1, 1, 10, None, ZERO, None, None, "no_fx_rate:GBP"),
        (NOV_27, "gpu-z", None, None, 1, 1, 20, None, ZERO, None, None, None),
    ]
    for _, cluster, bill, *_, allocated, idle, _, _ in rows:
        if bill is not None:
            assert (allocated + idle).quantize(Decimal("0.01")) == bill.quantize(Decimal("0.01")) and allocated + idle == bill, cluster


def test_daily_spend_shows_idle_capacity_in_its_own_rows(world):
    _, con = world
    assert _rows(
        con,
        "select event_date, provider, model, user_segment, requests, cost_usd from marts.daily_spend "
        "where feature = 'idle_capacity' order by 1, 2",
    ) == [
        (NOV_26, "self_hosted:gpu-c", "(idle)", "unattributed", 0, Decimal("11.00")),
        (NOV_27, "self_hosted:gpu-a", "(idle)", "unattributed", 0, Decimal("166.725")),
        (NOV_27, "self_hosted:gpu-d", "(idle)", "unattributed", 0, Decimal("25.00")),
    ]
    # Every dollar of the GPU bills with a USD amount is in daily_spend: 174.135 + 11 + 11 + 25 = 221.135.
    assert _rows(con, "select sum(cost_usd) from marts.daily_spend where provider like 'self_hosted:%'") == [(Decimal("221.135"),)]


def test_cost_per_outcome_divides_all_of_the_features_spend(world):
    _, con = world
    assert _rows(con, "select event_date, feature, outcome_type, outcomes, requests, unpriced_requests, cost_usd, cost_per_outcome_usd "
                "from marts.cost_per_outcome order by 1, 2, 3") == [
        # An outcome on a day the feature spent nothing.
        (NOV_26, "support_chat", "ticket_resolved", 1, 0, 0, ZERO, ZERO),
        # o2 (linked) and o3 (its request is not in the logs) against c4 (0.0021) and c5 (unpriced): 0.0021 / 2.
        (NOV_27, "code_assist", "suggestion_accepted", 2, 2, 1, Decimal("0.0021"), Decimal("0.00105")),
        # One outcome; all three support_chat requests count, c3 too: 0.0035 + 0.007 + 0.01 = 0.0205.
        (NOV_27, "support_chat", "ticket_resolved", 1, 3, 0, Decimal("0.0205"), Decimal("0.0205")),
    ]
    assert _rows(con, "select value_usd from marts.cost_per_outcome where feature = 'support_chat' order by event_date") == [
        (None,), (Decimal("6.50"),)
    ]


def test_outcome_direct_cost_covers_the_requests_behind_it(world):
    _, con = world
    assert _rows(
        con,
        "select outcome_id, event_date, linked_by, linked_requests, unpriced_linked_requests, linked_tokens, direct_cost_usd "
        "from marts.outcome_costs order by 1",
    ) == [
        # A conversation with two requests and one outcome: 0.0035 + 0.007.
        ("o1", NOV_27, "conversation_id", 2, 0, 3300, Decimal("0.0105")),
        # 11:05 at +01:00 is 10:05 UTC, still the 27th.
        ("o2", NOV_27, "request_id", 1, 0, 11000, Decimal("0.0021")),
        ("o3", NOV_27, "request_id", 0, 0, 0, None),
        ("o4", NOV_26, "conversation_id", 0, 0, 0, None),
    ]


def test_revenue_ratio_prorates_a_period_spanning_two_months(world):
    _, con = world
    rows = {
        (r[0], r[1]): r[2:]
        for r in _rows(
            con,
            "select month, customer_id, user_segment, plans, revenue_usd, cost_usd, requests, unpriced_requests, "
            "cost_to_revenue_ratio, gross_margin_usd, plan_price_usd, cost_share_of_plan_price, unconverted_revenue_records "
            "from marts.revenue_ratio",
        )
    }
    assert sorted(rows) == [
        ("2026-10", "acme"), ("2026-11", "acme"), ("2026-11", "beta"), ("2026-11", "gamma"), ("2026-11", "unattributed"), ("2026-12", "acme"),
    ]
    # 2026-10-15 .. 2026-11-15 (31 days) for $300: October 17 days = round(300 x 17 / 31) = 164.516129032258065,
    # November the rest, 135.483870967741935; 2026-11-15 .. 2026-12-15 (30 days): November 16 days = 160, December 140.
    assert rows[("2026-10", "acme")][2] == Decimal("164.516129032258065")
    assert rows[("2026-12", "acme")][2] == Decimal("140")
    # November: revenue 135.483870967741935 + 160; cost c1 + c2 + c4 + s1 = 0.0035 + 0.007 + 0.0021 + 2.964 = 2.9766.
    # Ratio 2.9766 / 295.483870967741935 = 0.010073646; share of the $300 plan 2.9766 / 300 = 0.009922.
    assert rows[("2026-11", "acme")] == (
        "enterprise", "enterprise", Decimal("295.483870967741935"), Decimal("2.9766"), 4, 0, Decimal("0.010073646"),
        Decimal("292.507270967741935"), Decimal("300"), Decimal("0.009922"), 0,
    )
    # beta: 46 EUR = $50; cost c3 + s2 = 0.01 + 4.446 (c5 has no price); ratio 4.456 / 50.
    assert rows[("2026-11", "beta")] == (
        "pro", "pro", Decimal("50"), Decimal("4.456"), 3, 1, Decimal("0.08912"), Decimal("45.544"), Decimal("50"), Decimal("0.08912"), 0,
    )
    # gamma's GBP record has no rate: its revenue is unknown, never taken as USD.
    assert rows[("2026-11", "gamma")] == ("team", "team", None, ZERO, 0, 0, None, None, None, None, 1)
    # Requests without a customer: cost without revenue (b1 + b2 = $11), no ratio.
    assert rows[("2026-11", "unattributed")] == ("unattributed", None, ZERO, Decimal("11"), 4, 2, None, Decimal("-11"), None, None, 0)


def test_revenue_ratio_rolls_up_by_segment(world):
    _, con = world
    assert _rows(con, "select * from marts.revenue_ratio_by_segment where month = '2026-11' order by user_segment") == [
        ("2026-11", "enterprise", 1, 1, Decimal("295.483870967741935"), Decimal("2.9766"), 4, 0, Decimal("0.010073646"),
         Decimal("292.507270967741935"), Decimal("300"), Decimal("0.009922")),
        ("2026-11", "pro", 1, 1, Decimal("50"), Decimal("4.456"), 3, 1, Decimal("0.08912"), Decimal("45.544"), Decimal("50"), Decimal("0.08912")),
        ("2026-11", "team", 1, 0, None, ZERO, 0, 0, None, None, None, None),
        ("2026-11", "unattributed", 1, 0, ZERO, Decimal("11"), 4, 2, None, Decimal("-11"), None, None),
    ]


def test_unit_economics_per_segment_and_feature(world):
    _, con = world
    assert _rows(con, "select columns(lambda c: not regexp_matches(c, '^full_cost|kwh|energy|co2e|carbon|wh_|outcome')) from marts.unit_economics order by user_segment") == [
        # u1, u2; c1 + c2 + c4 + s1 = 1100 + 2200 + 11000 + 1,200,000 tokens; $2.9766 / 2 users, / 4 x 1000, / 1,214,300 x 1M.
        ("2026-11", "enterprise", 2, 4, 4, 0, 1_214_300, 1_214_300, Decimal("2.9766"), Decimal("1.4883"), Decimal("744.15"),
         Decimal("2.451288808366960")),
        # u3; c3, c5 (unpriced), s2: unit costs over the 2 priced requests and their 1,804,000 tokens.
        ("2026-11", "pro", 1, 3, 2, 1, 1_804_550, 1_804_000, Decimal("4.456"), Decimal("4.456"), Decimal("2228"), Decimal("2.470066518847007")),
        ("2026-11", "unattributed", 1, 4, 2, 2, 33, 3, Decimal("11"), Decimal("11"), Decimal("5500"), Decimal("3666666.666666666666667")),
    ]
    assert _rows(
        con,
        "select user_segment, feature, active_users, requests, cost_usd, cost_per_active_user_usd, cost_per_1k_requests_usd "
        "from marts.unit_economics_by_feature where month = '2026-11' and user_segment = 'enterprise' order by feature",
    ) == [
        ("enterprise", "code_assist", 1, 1, Decimal("0.0021"), Decimal("0.0021"), Decimal("2.1")),
        ("enterprise", "summarize", 1, 1, Decimal("2.964"), Decimal("2.964"), Decimal("2964")),
        ("enterprise", "support_chat", 2, 2, Decimal("0.0105"), Decimal("0.00525"), Decimal("5.25")),
    ]


def test_model_tier_spend_uses_the_homes_rules_first(world):
    _, con = world
    assert _rows(
        con,
        "select feature, model_tier, requests, priced_requests, cost_usd, cost_per_request_usd, cost_per_1m_tokens_usd, "
        "share_of_feature_requests, share_of_feature_cost, models, tier_rules from marts.model_tier_spend order by 1, 2",
    ) == [
        ("code_assist", "small", 1, 1, Decimal("0.0021"), Decimal("0.0021"), Decimal("0.190909090909091"), Decimal("0.5"), Decimal("1"),
         "openai/gpt-4o-mini-2024-07-18", "pricing/model_tiers.yaml#8"),
        ("code_assist", "unclassified", 1, 0, ZERO, None, None, Decimal("0.5"), ZERO, "openai/gpt-9-preview", None),
        ("summarize", "medium", 2, 2, Decimal("7.41"), Decimal("3.705"), Decimal("2.47"), Decimal("0.333333333"), Decimal("0.402498642"),
         "self_hosted:gpu-a/llama-3.1-70b", "pricing/model_tiers.yaml#43"),
        ("summarize", "small", 4, 2, Decimal("11"), Decimal("5.5"), Decimal("3666666.666666666666667"), Decimal("0.666666667"),
         Decimal("0.597501358"), "self_hosted:gpu-b/llama-3.1-8b, self_hosted:gpu-e/llama-3.1-8b, self_hosted:gpu-z/llama-3.1-8b",
         "pricing/model_tiers.yaml#45"),
        # gpt-4o is medium in the shipped rules; the home's model_tiers.yaml makes it premium.
        ("support_chat", "premium", 3, 3, Decimal("0.0205"), Decimal("0.006833333333333"), Decimal("2.808219178082192"), Decimal("1"),
         Decimal("1"), "openai/gpt-4o-2024-08-06", "model_tiers.yaml#1"),
    ]


def test_money_columns_are_decimal(world):
    _, con = world
    types = dict(
        _rows(
            con,
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name in ('cost_per_outcome', 'outcome_costs', 'revenue_ratio', "
            "'revenue_ratio_by_segment', 'unit_economics', 'unit_economics_by_feature', 'self_hosted_costs', 'model_tier_spend') "
            "and (column_name like '%_usd' or column_name like '%ratio' or column_name like '%share%' or column_name = 'utilization')",
        )
    )
    assert types and all(t.startswith("DECIMAL(38,") for t in types.values()), types
    assert types["cost_per_outcome.cost_per_outcome_usd"] == "DECIMAL(38,15)"
    assert types["revenue_ratio.cost_to_revenue_ratio"] == "DECIMAL(38,9)"


# -- the pieces the marts share ---------------------------------------------------------------------


def test_money_macros_divide_exactly_and_give_null_on_zero():
    from pipelines.storage.money import define_money_macros

    with duckdb.connect() as con:
        define_money_macros(con)
        assert con.execute(
            "select money_muldiv(cast(100 as decimal(38, 15)), 17, 31), money_muldiv(cast(-100 as decimal(38, 15)), 17, 31), "
            "money_muldiv(cast(1 as decimal(38, 15)), 1, 0), money_divide(cast(46 as decimal(38, 9)), cast(0.92 as decimal(38, 12))), "
            "exact_ratio(cast(1 as decimal(38, 15)), cast(3 as decimal(38, 15))), exact_ratio(2, 3), exact_ratio(1, 0), "
            "money_muldiv(cast(0.000000000000001 as decimal(38, 15)), 1, 2)"
        ).fetchall() == [(
            # 1700 / 31 = 54.838709677419354838..., rounded half away from zero at 10^-15, either sign.
            Decimal("54.838709677419355"), Decimal("-54.838709677419355"), None, Decimal("50"),
            Decimal("0.333333333"), Decimal("0.666666667"), None, Decimal("0.000000000000001"),
        )]


def test_shipped_tiers_classify_the_common_models(tmp_path):
    from pipelines.pricing.tiers import define_tiered_models, load_tier_rules
    from pipelines.storage.database import sql_text

    models = {
        "openai/gpt-4o-mini-2024-07-18": "small", "openai/gpt-4.1-nano-2025-04-14": "small", "openai/gpt-5-mini-2025-08-07": "small",
        "anthropic/claude-haiku-4-5-20251001": "small", "google/gemini-2.5-flash": "small", "openai/gpt-4o-2024-08-06": "medium",
        "openai/gpt-4.1-2025-04-14": "medium", "openai/o4-mini-2025-04-16": "medium", "anthropic/claude-sonnet-4-5-20250929": "medium",
        "aws_bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0": "medium", "self_hosted:gpu-a/llama-3.1-70b": "medium",
        "openai/o3-2025-04-16": "premium", "openai/gpt-5-2025-08-07": "premium", "anthropic/claude-opus-4-1-20250805": "premium",
        "google/gemini-2.5-pro": "premium", "openai/gpt-6-preview": "unclassified",
    }
    with duckdb.connect() as con:
        from pipelines.storage.money import define_money_macros

        define_money_macros(con)
        con.execute("create schema core")
        con.execute(
            "create table core.request_costs as select date '2026-11-27' as event_date, 'f' as feature, split_part(m, '/', 1) as provider, "
            "substr(m, length(split_part(m, '/', 1)) + 2) as model, true as is_priced, 1::bigint as total_input_tokens, "
            "1::bigint as total_output_tokens, cast(1 as decimal(38, 15)) as cost_usd from unnest($models) as t(m)",
            {"models": list(models)},
        )
        con.register("tier_rules", load_tier_rules(tmp_path))
        define_tiered_models(con)
        found = {
            model: tier
            for tier, listed in con.execute(f"select model_tier, models from ({sql_text('marts.model_tier_spend')})").fetchall()
            for model in listed.split(", ")
        }
    assert found == models


def test_a_bad_tiers_file_names_the_file_and_the_rule(tmp_path):
    from pipelines.pricing.tiers import ModelTiersError, load_tier_rules

    (tmp_path / "model_tiers.yaml").write_text("rules:\n  - {match: 'gpt-4o*', tier: medium}\n  - {match: '*opus*', tier: huge}\n  - {tier: small}\n")
    with pytest.raises(ModelTiersError) as caught:
        load_tier_rules(tmp_path)
    assert str(caught.value) == (
        "model_tiers.yaml: rule 2 (*opus*): tier must be one of small, medium, premium, got 'huge'\n"
        "model_tiers.yaml: rule 3: expected exactly the keys match and tier, got {'tier': 'small'}"
    )


def test_latency_cost_never_shows_a_model_without_a_price_at_zero(home):
    """marts.latency_cost summed cost with coalesce(..., 0): a model the book lacks showed cost_usd 0, cost per request 0
    and cost per outcome 0, and a group with some unpriced requests divided its cost by all of them. Now: null cost and
    ratios for an unpriced model; per-request figures over the priced requests; no cost per outcome for a group that
    has unpriced requests. gpt-4o-2024-08-06 at $2.50 / $10: 1,000 x 2.50 + 100 x 10 = 3,500 per 1M a request; the
    audio request has no audio price (unpriced, `no_price_for_bucket:audio_input`)."""
    audio = {"prompt_tokens": 50, "completion_tokens": 1, "prompt_tokens_details": {"audio_tokens": 40}}
    land(home, "requests.jsonl", [
        envelope("p1", "openai", "gpt-4o-2024-08-06", _openai(1000, 100), latency_ms=100),
        envelope("p2", "openai", "gpt-4o-2024-08-06", _openai(1000, 100), latency_ms=200, status="error"),
        envelope("p3", "openai", "gpt-4o-2024-08-06", audio, latency_ms=300),
        envelope("u1", "openai", "gpt-6-preview", _openai(1000, 100), latency_ms=400),
    ])
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = con.execute(
            "select model, requests, unpriced_requests, cost_usd, cost_per_request, cost_per_successful_request, cost_per_outcome "
            "from marts.latency_cost order by model").fetchall()
    assert rows == [
        ("gpt-4o-2024-08-06", 3, 1, Decimal("0.007"), Decimal("0.0035"), Decimal("0.0035"), None),
        ("gpt-6-preview", 1, 1, None, None, None, None),
    ]


def test_energy_per_outcome_is_null_not_zero_when_no_requests_energy_is_known(world):
    """docs/full-cost.md: unknown energy is null, never zero. marts.cost_per_outcome showed wh_per_outcome 0.0 for
    outcomes whose requests have no energy estimate, and marts.unit_economics g_co2e_per_outcome 0 for a segment whose
    requests have no carbon figure."""
    _, con = world
    per_feature = _rows(con, "select feature, energy_basis, kwh_measured, kwh_estimated, wh_per_outcome from marts.cost_per_outcome "
                             "where energy_basis = 'unknown' order by all")
    assert per_feature and all(row[2:] == (None, None, None) for row in per_feature), per_feature
    # enterprise: two outcomes, gpt-4o's energy estimated, no carbon intensity for any of its requests
    per_segment = _rows(con, "select user_segment, outcomes, carbon_basis, g_co2e_per_outcome from marts.unit_economics "
                             "where carbon_basis = 'unknown' and outcomes > 0 order by all")
    assert per_segment == [("enterprise", 2, "unknown", None)]
