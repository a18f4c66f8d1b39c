"""`tokenledger export focus` follows FOCUS 1.2's cost and unit-price rules on real Parquet and CSV files.

FOCUS 1.2 (FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec, tag v1.2, specification/columns/listunitprice.md,
contractedunitprice.md, pricingquantity.md, listcost.md, contractedcost.md): on a Usage row that is not a correction,
ListUnitPrice, ContractedUnitPrice and PricingQuantity MUST NOT be null, and ListUnitPrice x PricingQuantity MUST match
ListCost, ContractedUnitPrice x PricingQuantity MUST match ContractedCost. The export left the unit prices null on every
row (one row summed a model's input, output and cache tokens, which have no one unit price); it now writes one row per
meter, as the providers' own FOCUS rows do (tests/fixtures/formats/focus_1_2_bedrock_row.csv: SkuMeter "Cache Read
Input Tokens", PricingUnit Tokens, a per-token ListUnitPrice).
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
from helpers import envelope, land

from pipelines.cli.main import main
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home
from pipelines.storage.relations import sql_literal


def _quiet(_: str) -> None:
    pass


def _ledger(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_usage_row_has_unit_prices_whose_products_are_its_costs(home, tmp_path, capsys):
    (home.root / "price_overrides.yaml").write_text(
        """
overrides:
  - id: audio-deal
    provider: openai
    model: gpt-audio
    effective_from: 2026-01-01
    discount_pct: 33.333333333
    rates: {audio_input: 20.00}
"""
    )
    sonnet = {"input_tokens": 1_200, "output_tokens": 300, "cache_read_input_tokens": 8_000,
              "cache_creation_input_tokens": 2_000, "cache_creation": {"ephemeral_5m_input_tokens": 1_500, "ephemeral_1h_input_tokens": 500},
              "server_tool_use": {"web_search_requests": 3}}
    audio = {"prompt_tokens": 1_000, "completion_tokens": 700, "prompt_tokens_details": {"audio_tokens": 400},
             "completion_tokens_details": {"audio_tokens": 333}}
    land(home, "day.jsonl", [
        envelope("s1", "anthropic", "claude-sonnet-4-5-20250929", sonnet),
        envelope("s2", "anthropic", "claude-sonnet-4-5-20250929", {"input_tokens": 10, "output_tokens": 5}),
        envelope("a1", "openai", "gpt-audio", audio),
        envelope("a2", "openai", "gpt-audio", audio, feature="voice"),
        envelope("u1", "openai", "gpt-6-preview", {"prompt_tokens": 5, "completion_tokens": 1}),
    ])
    run_pipeline(home, progress=_quiet)
    ((ledger, ledger_list, priced),) = _ledger(home, "select sum(cost_usd), sum(list_cost_usd), count(*) filter (where is_priced) from core.request_costs")
    assert priced == 4
    for name in ("focus.parquet", "focus.csv"):
        out = tmp_path / name
        assert main(["export", "focus", "--home", str(home.root), "--out", str(out)]) == 0
        assert "1 requests without a price are left out" in capsys.readouterr().out
        reader = f"read_parquet({sql_literal(str(out))})" if name.endswith(".parquet") else f"read_csv({sql_literal(str(out))})"
        with duckdb.connect() as con:
            con.execute(f"create table focus as select * from {reader}")
            cast = {column: f"cast({column} as decimal(38, 15))" for column in
                    ("ListUnitPrice", "ContractedUnitPrice", "PricingQuantity", "ListCost", "ContractedCost", "EffectiveCost", "BilledCost")}
            broken = con.execute(
                f"select SkuPriceId, SkuMeter from focus where ChargeCategory <> 'Usage' or ChargeClass is not null "
                f"or ListUnitPrice is null or ContractedUnitPrice is null or PricingQuantity is null or PricingUnit is null "
                f"or SkuMeter is null or {cast['ListUnitPrice']} < 0 or {cast['ContractedUnitPrice']} < 0 "
                f"or {cast['ListUnitPrice']} * {cast['PricingQuantity']} <> {cast['ListCost']} "
                f"or {cast['ContractedUnitPrice']} * {cast['PricingQuantity']} <> {cast['ContractedCost']} "
                f"or {cast['BilledCost']} <> {cast['EffectiveCost']}"
            ).fetchall()
            assert broken == []
            totals = con.execute(
                f"select sum({cast['EffectiveCost']}), sum({cast['ListCost']}), sum(x_requests), sum(x_unpriced_requests) from focus"
            ).fetchall()[0]
            assert totals == (ledger, ledger_list, 4, 0)  # the unknown model has no price entry: no row
            meters = dict(con.execute(
                "select SkuMeter || ' ' || x_feature, [cast(PricingQuantity as decimal(38, 15)), cast(ListUnitPrice as decimal(38, 15)), "
                "cast(ContractedUnitPrice as decimal(38, 15))] from focus where SkuPriceId like 'anthropic/%' or x_feature = 'voice'"
            ).fetchall())
        # Sonnet 4.5 by hand, per token: input $3, cache read $0.30, 5m write $3.75, 1h write $6, output $15 per 1M,
        # web search $10 per 1,000; the two requests of one group add up
        assert meters["Input Tokens support_chat"] == [1_210, Decimal("0.000003"), Decimal("0.000003")]
        assert meters["Cache Read Input Tokens support_chat"] == [8_000, Decimal("0.0000003"), Decimal("0.0000003")]
        assert meters["Cache Write 5m Input Tokens support_chat"] == [1_500, Decimal("0.00000375"), Decimal("0.00000375")]
        assert meters["Cache Write 1h Input Tokens support_chat"] == [500, Decimal("0.000006"), Decimal("0.000006")]
        assert meters["Output Tokens support_chat"] == [305, Decimal("0.000015"), Decimal("0.000015")]
        assert meters["Web Searches support_chat"] == [3, Decimal("0.01"), Decimal("0.01")]
        # gpt-audio under the override: text in $2.50, out $10 less 33.333333333% (rates kept to 9 decimals per 1M, as
        # the ledger does), audio in at the negotiated $20, audio out $64 less the discount, to 15 decimals per token
        assert meters["Input Tokens voice"] == [600, Decimal("0.0000025"), Decimal("0.000001666666667")]
        assert meters["Output Tokens voice"] == [367, Decimal("0.00001"), Decimal("0.000006666666667")]
        assert meters["Audio Input Tokens voice"] == [400, Decimal("0.000032"), Decimal("0.00002")]
        assert meters["Audio Output Tokens voice"] == [333, Decimal("0.000064"), Decimal("0.000042666666667")]


def test_a_batch_request_under_negotiated_rates_is_contracted_at_its_own_list_rate(home, tmp_path):
    """Explicit override rates are the standard tier's negotiated price (README, "Negotiated prices"): a batch request
    keeps its list rate less discount_pct, in the ledger and in the export alike. The export applied the standard
    rates to every tier, so a batch row's ContractedUnitPrice ($2 / $10) was above its list price ($1.50 / $7.50) and
    its ContractedCost differed from its EffectiveCost."""
    (home.root / "price_overrides.yaml").write_text(
        """
overrides:
  - id: sonnet-neg
    provider: anthropic
    model: claude-sonnet-4-5-20250929
    effective_from: 2026-01-01
    rates: {input: 2.00, output: 10.00}
"""
    )
    usage = {"input_tokens": 1_000, "output_tokens": 1_000}
    land(home, "day.jsonl", [
        envelope("std", "anthropic", "claude-sonnet-4-5-20250929", usage),
        envelope("bat", "anthropic", "claude-sonnet-4-5-20250929", usage, service_tier="batch", feature="nightly"),
    ])
    run_pipeline(home, progress=_quiet)
    # by hand: standard at the negotiated $2 / $10 per 1M = 0.012; batch at Anthropic's batch list $1.50 / $7.50 = 0.009
    assert dict(_ledger(home, "select request_id, cost_usd from core.request_costs")) == {"std": Decimal("0.012"), "bat": Decimal("0.009")}
    out = tmp_path / "focus.parquet"
    assert main(["export", "focus", "--home", str(home.root), "--out", str(out)]) == 0
    with duckdb.connect() as con:
        rows = con.execute(
            f"select x_service_tier, SkuMeter, cast(ListUnitPrice as decimal(38, 15)), cast(ContractedUnitPrice as decimal(38, 15)), "
            f"cast(ContractedCost as decimal(38, 15)), cast(EffectiveCost as decimal(38, 15)) from read_parquet({sql_literal(str(out))}) "
            "where SkuMeter in ('Input Tokens', 'Output Tokens') order by 1, 2"
        ).fetchall()
    assert rows == [
        ("batch", "Input Tokens", Decimal("0.0000015"), Decimal("0.0000015"), Decimal("0.0015"), Decimal("0.0015")),
        ("batch", "Output Tokens", Decimal("0.0000075"), Decimal("0.0000075"), Decimal("0.0075"), Decimal("0.0075")),
        ("standard", "Input Tokens", Decimal("0.000003"), Decimal("0.000002"), Decimal("0.002"), Decimal("0.002")),
        ("standard", "Output Tokens", Decimal("0.000015"), Decimal("0.00001"), Decimal("0.01"), Decimal("0.01")),
    ]
