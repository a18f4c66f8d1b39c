"""Bedrock's and Gemini's Flex and Priority service tiers (pricing/corrections.yaml `platform_tiers`,
pricing/list/aws_bedrock.yaml).

Sources: Bedrock sells on-demand requests in a Flex tier "for a pricing discount" and a Priority tier "for a price
premium over standard on-demand pricing" (docs.aws.amazon.com/bedrock/latest/userguide/service-tiers-inference.html,
launched 2025-11-18: aws.amazon.com/about-aws/whats-new/2025/11/amazon-bedrock-priority-flex-inference-service-tiers);
the per-model prices of aws.amazon.com/bedrock/pricing/, as LiteLLM 1.110.2's price file transcribes them
(`input_cost_per_token_flex`, `output_cost_per_token_priority`, ...), are 0.5 x and 1.75 x the Standard price for the
models listed. A Converse response says which tier served it: `serviceTier: {"type": "priority" | "default" | "flex" |
"reserved"}` (docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ServiceTier.html); the gateway writes its
`type` as the envelope's `service_tier` (docs/formats/envelope.md).

Gemini: the Flex API "offers a 50% cost reduction compared to standard rates"
(ai.google.dev/gemini-api/docs/flex-inference); Priority costs "75% to 100% more than standard"
(ai.google.dev/gemini-api/docs/optimization), 1.8 x for the models listed, as LiteLLM 1.110.2 prices them. Vertex AI
says which tier served a request in `usageMetadata.trafficType` (ON_DEMAND_FLEX, ON_DEMAND_PRIORITY); the Gemini API
in its `x-gemini-service-tier` response header. Requests are priced by hand through the shipped book and through the
pipeline.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import duckdb
import pytest
from helpers import FORMATS, envelope, land
from test_platform_tiers import bucket_prices, request_cost

from pipelines.pricing.book import load_price_book
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

AT = dt.datetime(2026, 11, 27, 10, tzinfo=dt.timezone.utc)
NOVA = {"inputTokens": 1200, "outputTokens": 350, "totalTokens": 9550, "cacheReadInputTokens": 8000}
"""A Nova Converse usage: 1,200 uncached input tokens, 8,000 cache reads, 350 output tokens (Nova bills no cache write)."""

FLEX = {  # imported entries given flex by the rule; the curated entries below are written out
    "amazon.nova-pro-v1:0", "amazon.nova-2-lite-v1:0", "google.gemma-3-4b-it", "mistral.devstral-2-123b",
    "mistral.magistral-small-2509", "mistral.ministral-3-3b-instruct", "mistral.ministral-3-14b-instruct",
    "mistral.mistral-large-3-675b-instruct", "mistral.voxtral-mini-3b-2507", "mistral.voxtral-small-24b-2507",
    "moonshotai.kimi-k3", "global.moonshotai.kimi-k3", "moonshotai.kimi-k3.1", "global.moonshotai.kimi-k3.1",
    "nvidia.nemotron-nano-3-30b:0", "nvidia.nemotron-super-3-120b:0", "openai.gpt-oss-20b-1:0", "openai.gpt-oss-120b-1:0",
    "qwen.qwen3-32b-v1:0", "zai.glm-5.3", "global.zai.glm-5.3",
}
PRIORITY = {
    "amazon.nova-pro-v1:0", "amazon.nova-premier-v1:0", "amazon.nova-2-lite-v1:0", "global.amazon.nova-2-lite-v1:0",
    "google.gemma-3-4b-it", "mistral.devstral-2-123b", "mistral.ministral-3-14b-instruct", "mistral.voxtral-mini-3b-2507",
    "moonshotai.kimi-k3", "global.moonshotai.kimi-k3", "moonshotai.kimi-k3.1", "global.moonshotai.kimi-k3.1",
    "nvidia.nemotron-super-3-120b:0", "openai.gpt-oss-20b-1:0", "openai.gpt-oss-120b-1:0", "qwen.qwen3-32b-v1:0",
    "qwen.qwen3-coder-30b-a3b-v1:0", "zai.glm-5.3", "global.zai.glm-5.3",
}
CURATED_FLEX = {"deepseek.v3.2", "moonshot.kimi-k2-thinking", "minimax.minimax-m2", "jp.amazon.nova-2-lite-v1:0",
                "eu.deepseek.v3.2", "eu.amazon.nova-pro-v1:0", "apac.amazon.nova-pro-v1:0"}
CURATED_PRIORITY = {"deepseek.v3.2", "jp.amazon.nova-2-lite-v1:0"}


@pytest.fixture(scope="module")
def book():
    return load_price_book()



def _priced(home, name: str, lines: list[str]) -> dict:
    """Land the lines, run the pipeline (nothing rejected) and read each request's (tier, price_id, cost, reason)."""
    land(home, name, lines)
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select reason from audit.rejected_rows").fetchall() == []
        return {r[0]: (r[1], r[2], r[3].normalize() if r[3] is not None else None, r[4]) for r in con.execute(
            "select request_id, service_tier, price_id, cost_usd, unpriced_reason from core.request_costs").fetchall()}

def test_a_nova_pro_request_costs_half_in_flex_and_seven_quarters_in_priority(book):
    """us.amazon.nova-pro-v1:0 (Standard $0.80 / $3.20, cache read $0.20; LiteLLM 1.110.2: Flex $0.40 / $1.60 / $0.10,
    Priority $1.40 / $5.60 / $0.35):
    Standard: 1,200 x 0.80 + 8,000 x 0.20 + 350 x 3.20 =   960 + 1,600 + 1,120 = 3,680 per 1M.
    Flex:     1,200 x 0.40 + 8,000 x 0.10 + 350 x 1.60 =   480 +   800 +   560 = 1,840 per 1M.
    Priority: 1,200 x 1.40 + 8,000 x 0.35 + 350 x 5.60 = 1,680 + 2,800 + 1,960 = 6,440 per 1M."""
    tokens = {"input": 1200, "cache_read": 8000, "output": 350}
    rows = {tier: book.lookup("aws_bedrock", "us.amazon.nova-pro-v1:0", AT, tier, 9200) for tier in ("standard", "flex", "priority")}
    assert {tier: request_cost(row, **tokens) for tier, row in rows.items()} == {
        "standard": Decimal("0.00368"), "flex": Decimal("0.00184"), "priority": Decimal("0.00644")}
    assert rows["flex"]["price_id"] == "aws_bedrock/amazon.nova-pro-v1:0@undated/flex"
    assert rows["priority"]["price_id"] == "aws_bedrock/amazon.nova-pro-v1:0@undated/priority"
    assert "flex: 0.5 x standard (https://aws.amazon.com/bedrock/pricing/)" in rows["flex"]["note"]
    assert "priority: 1.75 x standard (https://aws.amazon.com/bedrock/pricing/)" in rows["priority"]["note"]
    assert "service-tiers-inference.html" in rows["priority"]["note"] and "launched on 2025-11-18" in rows["priority"]["note"]


def test_nova_2_lite_priority_on_the_us_and_global_profiles(book):
    """Nova 2 Lite: the us. id costs $0.33 / $2.75 (cache read $0.0825), the global profile $0.30 / $2.50 ($0.075);
    Priority is 1.75 x each (LiteLLM 1.110.2: us. $0.5775 / $4.8125, global $0.525 / $4.375). 1,200 input, 8,000
    cache reads, 350 output:
    us.:     1,200 x 0.5775 + 8,000 x 0.144375 + 350 x 4.8125 = 693 + 1,155 + 1,684.375 = 3,532.375 per 1M.
    global.: 1,200 x 0.525  + 8,000 x 0.13125  + 350 x 4.375  = 630 + 1,050 + 1,531.25  = 3,211.25  per 1M.
    Flex exists on the us. id only ($0.165 / $1.375): 198 + 330 + 481.25 = 1,009.25 per 1M."""
    tokens = {"input": 1200, "cache_read": 8000, "output": 350}
    us = book.lookup("aws_bedrock", "us.amazon.nova-2-lite-v1:0", AT, "priority", 9200)
    everywhere = book.lookup("aws_bedrock", "global.amazon.nova-2-lite-v1:0", AT, "priority", 9200)
    assert (request_cost(us, **tokens), request_cost(everywhere, **tokens)) == (Decimal("0.003532375"), Decimal("0.00321125"))
    assert request_cost(book.lookup("aws_bedrock", "us.amazon.nova-2-lite-v1:0", AT, "flex", 9200), **tokens) == Decimal("0.00100925")
    assert book.lookup("aws_bedrock", "global.amazon.nova-2-lite-v1:0", AT, "flex") is None


def test_the_curated_entries_carry_their_service_tiers_written_out(book):
    """Entries genai-prices lacks are curated, where the import's rule does not reach: DeepSeek-V3.2 Flex $0.31 / $0.925
    and Priority $1.085 / $3.2375 (Standard $0.62 / $1.85); Nova 2 Lite's jp. profile Flex $0.198 / $1.6555 and
    Priority $0.693 / $5.79425 (Standard $0.396 / $3.311). 1,000 input and 200 output tokens on DeepSeek-V3.2:
    Flex 310 + 185 = 495, Priority 1,085 + 647.5 = 1,732.5 per 1M."""
    tokens = {"input": 1000, "output": 200}
    deepseek = {tier: book.lookup("aws_bedrock", "us.deepseek.v3.2", AT, tier) for tier in ("flex", "priority")}
    assert (request_cost(deepseek["flex"], **tokens), request_cost(deepseek["priority"], **tokens)) == (Decimal("0.000495"), Decimal("0.0017325"))
    assert deepseek["priority"]["book_file"] == "aws_bedrock.yaml"
    jp = book.lookup("aws_bedrock", "jp.amazon.nova-2-lite-v1:0", AT, "priority")
    assert (jp["input_per_mtok"], jp["cache_read_per_mtok"], jp["output_per_mtok"]) == (Decimal("0.693"), Decimal("0.17325"), Decimal("5.79425"))


def test_exactly_the_listed_models_have_flex_and_priority_at_their_multiple_of_standard(book):
    rows = [r for r in book.prices.to_pylist() if r["provider"] == "aws_bedrock"]
    assert {r["model"] for r in rows if r["service_tier"] == "flex"} == FLEX | CURATED_FLEX
    assert {r["model"] for r in rows if r["service_tier"] == "priority"} == PRIORITY | CURATED_PRIORITY
    for tier, models, factor in (("flex", FLEX | CURATED_FLEX, Decimal("0.5")), ("priority", PRIORITY | CURATED_PRIORITY, Decimal("1.75"))):
        for model in models:
            standard = {(r["effective_from"], r["input_tokens_from"]): r for r in rows if r["model"] == model and r["service_tier"] == "standard"}
            scaled = {(r["effective_from"], r["input_tokens_from"]): r for r in rows if r["model"] == model and r["service_tier"] == tier}
            assert scaled.keys() == standard.keys(), (model, tier)
            for key, row in scaled.items():
                expected = {b: None if p is None else p * factor for b, p in bucket_prices(standard[key]).items()}
                assert bucket_prices(row) == expected, (model, tier)


@pytest.mark.parametrize(("name", "tier"), [
    ("us.amazon.nova-lite-v1:0", "flex"),  # not in AWS's table for the tiers
    ("us.amazon.nova-micro-v1:0", "priority"),
    ("us.anthropic.claude-sonnet-4-6-v1:0", "priority"),  # Claude is not sold in the tiers
    ("us.anthropic.claude-sonnet-4-6-v1:0", "flex"),
    ("amazon.nova-premier-v1:0", "flex"),  # LiteLLM 1.110.2 lists Priority only
    ("global.amazon.nova-2-lite-v1:0", "flex"),
    ("qwen.qwen3-coder-30b-a3b-v1:0", "flex"),
    ("moonshot.kimi-k2-thinking", "priority"),  # $4.38 for $2.50: not an exact 1.75 x
    ("minimax.minimax-m2", "priority"),  # $0.52 for $0.30
    ("google.gemma-3-12b-it", "flex"),  # $0.05 for $0.09
    ("mistral.ministral-3-3b-instruct", "priority"),  # 1.70 x
])
def test_a_model_bedrock_does_not_sell_at_the_rule_s_price_in_a_tier_has_no_price_there(book, name, tier):
    assert book.lookup("aws_bedrock", name, AT, "standard") is not None
    assert book.lookup("aws_bedrock", name, AT, tier) is None


def test_bedrock_service_tiers_are_priced_by_the_pipeline(home: Home):
    """The Converse response sample with `serviceTier: {"type": "priority"}` on Kimi K3 (us. id, Standard $3.30 / $16.50,
    cache read $0.33, cache write $4.125): 120 input, 8,000 cache reads, 2,000 cache writes, 350 output.
    Standard: 120 x 3.30 + 8,000 x 0.33 + 2,000 x 4.125 + 350 x 16.50 = 396 + 2,640 + 8,250 + 5,775 = 17,061 per 1M.
    Priority (1.75 x): 693 + 4,620 + 14,437.5 + 10,106.25 = 29,856.75 per 1M; Flex (0.5 x): 8,530.5 per 1M.
    Bedrock's `default` is the Standard tier; `reserved` (capacity billed per tokens-per-minute reserved, not per token)
    is read as `provisioned_throughput`, the canonical name of capacity-billed traffic, and stays unpriced, as does a
    model outside the tier: never $0."""
    response = json.loads((FORMATS / "bedrock_converse_priority_response.json").read_text())
    usage, served = response["usage"], response["serviceTier"]["type"]
    lines = [
        envelope("k3-priority", "aws_bedrock", "us.moonshotai.kimi-k3", usage, service_tier=served),
        envelope("k3-flex", "aws_bedrock", "us.moonshotai.kimi-k3", usage, service_tier="flex"),
        envelope("k3-default", "aws_bedrock", "us.moonshotai.kimi-k3", usage, service_tier="default"),
        envelope("k3-reserved", "aws_bedrock", "us.moonshotai.kimi-k3", usage, service_tier="reserved"),
        envelope("lite-flex", "aws_bedrock", "us.amazon.nova-lite-v1:0", NOVA, service_tier="flex"),
        envelope("pro-flex", "aws_bedrock", "us.amazon.nova-pro-v1:0", NOVA, service_tier="FLEX"),
    ]
    rows = _priced(home, "bedrock_service_tiers.jsonl", lines)
    assert rows == {
        "k3-priority": ("priority", "aws_bedrock/moonshotai.kimi-k3@undated/priority", Decimal("0.02985675"), None),
        "k3-flex": ("flex", "aws_bedrock/moonshotai.kimi-k3@undated/flex", Decimal("0.0085305"), None),
        "k3-default": ("standard", "aws_bedrock/moonshotai.kimi-k3@undated/standard", Decimal("0.017061"), None),
        "k3-reserved": ("provisioned_throughput", None, None, "unknown_tier"),
        "lite-flex": ("flex", None, None, "unknown_tier"),
        "pro-flex": ("flex", "aws_bedrock/amazon.nova-pro-v1:0@undated/flex", Decimal("0.00184"), None),
    }


# --------------------------------------------------------------------------- Gemini

GEMINI_FLEX = {"gemini-2.5-flash-image", "gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview", "gemini-3.1-flash-lite",
               "gemini-3.1-flash-lite-image", "gemini-3.6-flash", "gemini-3.7-flash", "gemini-3.8-flash", "gemini-3.8-flash-cyber"}
GEMINI_PRIORITY = {"gemini-2.5-flash", "gemini-2.5-flash-image", "gemini-2.5-flash-lite", "gemini-2.5-pro", "gemini-3-flash-preview",
                   "gemini-3.1-flash-image-preview", "gemini-3.1-flash-lite", "gemini-3.1-flash-lite-image", "gemini-3.1-pro-preview",
                   "gemini-3.6-flash", "gemini-3.7-flash", "gemini-3.8-flash", "gemini-3.8-flash-cyber", "gemini-nano-banana-2.1"}
GEMINI_TTS = {"gemini-3.8-flash-tts", "gemini-3.8-flash-lite-tts"}  # genai-prices 0.2.3's own flex and priority prices
# Flex at half of Standard but cached input, left unpriced (LiteLLM 1.110.2 keeps it at the Standard price)
GEMINI_FLEX_UNCACHED = {"gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro", "gemini-3-flash-preview", "gemini-3.1-pro-preview"}


def test_a_gemini_2_5_flash_priority_request_costs_1_8_times_standard(book):
    """The Gemini response sample (12,000 prompt tokens of which 8,000 cached, 400 candidates, 600 thoughts) on
    gemini-2.5-flash: 4,000 uncached input, 8,000 cache reads, 1,000 output tokens (thoughts are billed as output).
    Standard ($0.30 / $2.50, cached $0.03): 4,000 x 0.30 + 8,000 x 0.03  + 1,000 x 2.50 = 1,200 + 240 + 2,500 = 3,940 per 1M.
    Priority ($0.54 / $4.50, cached $0.054, LiteLLM 1.110.2):
                                          4,000 x 0.54 + 8,000 x 0.054 + 1,000 x 4.50 = 2,160 + 432 + 4,500 = 7,092 per 1M."""
    tokens = {"input": 4000, "cache_read": 8000, "output": 400, "reasoning": 600}
    standard, priority = (book.lookup("google", "gemini-2.5-flash", AT, tier, 12000) for tier in ("standard", "priority"))
    assert (request_cost(standard, **tokens), request_cost(priority, **tokens)) == (Decimal("0.00394"), Decimal("0.007092"))
    assert priority["price_id"] == "google/gemini-2.5-flash@2026-10-14/priority"
    assert "priority: 1.8 x standard (https://ai.google.dev/gemini-api/docs/pricing)" in priority["note"]
    # Flex without a cached-input price (Google's 50% or LiteLLM's Standard price): that request is unpriced there
    assert book.lookup("google", "gemini-2.5-flash", AT, "flex")["cache_read_per_mtok"] is None


def test_gemini_priority_scales_the_long_context_band_and_flex_follows_a_price_change(book):
    """gemini-2.5-pro above 200K input tokens costs $2.50 / $15.00 in Standard, so $4.50 / $27.00 in Priority: 250,000
    input and 1,000 output tokens cost 250,000 x 4.50 + 1,000 x 27 = 1,125,000 + 27,000 = 1,152,000 per 1M ($1.152).
    gemini-3.8-flash Standard doubles on 2027-01-01 ($0.75 / $3.75 -> $1.50 / $7.50); Flex is half of each."""
    long = book.lookup("google", "gemini-2.5-pro", AT, "priority", 250000)
    assert long["price_id"] == "google/gemini-2.5-pro@2026-10-14/priority/input>200000"
    assert request_cost(long, input=250000, output=1000) == Decimal("1.152")
    now, later = AT, dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc)
    assert [(r["price_id"], r["input_per_mtok"], r["output_per_mtok"]) for r in (book.lookup("google", "gemini-3.8-flash", t, "flex") for t in (now, later))] == [
        ("google/gemini-3.8-flash@2026-10-14/flex", Decimal("0.375"), Decimal("1.875")),
        ("google/gemini-3.8-flash@2027-01-01/flex", Decimal("0.75"), Decimal("3.75"))]


def test_exactly_the_listed_gemini_models_have_flex_and_priority_at_their_multiple_of_standard(book):
    rows = [r for r in book.prices.to_pylist() if r["provider"] == "google"]
    assert {r["model"] for r in rows if r["service_tier"] == "flex"} == GEMINI_FLEX | GEMINI_TTS | GEMINI_FLEX_UNCACHED
    assert {r["model"] for r in rows if r["service_tier"] == "priority"} == GEMINI_PRIORITY | GEMINI_TTS
    for tier, models, factor in (("flex", GEMINI_FLEX | GEMINI_FLEX_UNCACHED, Decimal("0.5")), ("priority", GEMINI_PRIORITY, Decimal("1.8"))):
        for model in models:
            standard = {(r["effective_from"], r["input_tokens_from"]): r for r in rows if r["model"] == model and r["service_tier"] == "standard"}
            scaled = {(r["effective_from"], r["input_tokens_from"]): r for r in rows if r["model"] == model and r["service_tier"] == tier}
            assert scaled.keys() == standard.keys(), (model, tier)
            for key, row in scaled.items():
                expected = {b: None if p is None else p * factor for b, p in bucket_prices(standard[key]).items()}
                if tier == "flex" and model in GEMINI_FLEX_UNCACHED:
                    expected["cache_read"] = None
                assert bucket_prices(row) == expected, (model, tier)


def test_a_gemini_2_5_pro_flex_request_costs_half_and_one_with_cached_input_stays_unpriced(book):
    """Gemini 2.5 Pro in Flex (LiteLLM 1.110.2: $0.625 / $5, above 200K $1.25 / $7.50, half of Standard): 4,000 input and
    1,000 output tokens: 4,000 x 0.625 + 1,000 x 5 = 2,500 + 5,000 = 7,500 per 1M; 250,000 input above the band:
    250,000 x 1.25 + 1,000 x 7.50 = 312,500 + 7,500 per 1M. Cached input has no Flex price (LiteLLM keeps the Standard
    one, Google says 50% off): a request with cached tokens is unpriced, never priced at a guess."""
    flex = book.lookup("google", "gemini-2.5-pro", AT, "flex", 4000)
    assert request_cost(flex, input=4000, output=1000) == Decimal("0.0075")
    above = book.lookup("google", "gemini-2.5-pro", AT, "flex", 250000)
    assert above["price_id"] == "google/gemini-2.5-pro@2026-10-14/flex/input>200000"
    assert request_cost(above, input=250000, output=1000) == Decimal("0.32")
    assert flex["cache_read_per_mtok"] is None and above["cache_read_per_mtok"] is None


GEMINI_BATCH_RULE = {"gemini-2.5-flash-image", "gemini-3.5-flash", "gemini-3.7-flash", "gemini-embedding-001", "gemini-robotics-er-2-preview"}


def test_the_gemini_models_genai_prices_gives_no_batch_price_get_half_of_standard(book):
    """Gemini Batch Mode is priced at 50% of the standard rate (developers.googleblog.com, 2025-07-07); LiteLLM 1.110.2
    gives these models exactly that. The Gemini response sample on gemini-3.5-flash in batch (4,000 uncached input,
    8,000 cache reads, 1,000 output tokens; Standard $1.50 / cached $0.15 / $9.00): 4,000 x 0.75 + 8,000 x 0.075 +
    1,000 x 4.50 = 3,000 + 600 + 4,500 = 8,100 per 1M. Before the rule such a request was unpriced (unknown_tier)."""
    batch = book.lookup("google", "gemini-3.5-flash", AT, "batch", 12000)
    assert request_cost(batch, input=4000, cache_read=8000, output=400, reasoning=600) == Decimal("0.0081")
    assert batch["price_id"] == "google/gemini-3.5-flash@undated/batch"
    assert "batch: 0.5 x standard (https://developers.googleblog.com/en/scale-your-ai-workloads-batch-mode-gemini-api/)" in batch["note"]
    rows = [r for r in book.prices.to_pylist() if r["provider"] == "google" and r["model"] in GEMINI_BATCH_RULE]
    for model in GEMINI_BATCH_RULE:
        standard = {(r["effective_from"], r["input_tokens_from"]): r for r in rows if r["model"] == model and r["service_tier"] == "standard"}
        scaled = {(r["effective_from"], r["input_tokens_from"]): r for r in rows if r["model"] == model and r["service_tier"] == "batch"}
        assert scaled.keys() == standard.keys(), model
        for key, row in scaled.items():
            assert bucket_prices(row) == {b: None if p is None else p * Decimal("0.5") for b, p in bucket_prices(standard[key]).items()}, model


def test_gemini_service_tiers_are_priced_by_the_pipeline(home: Home):
    """Vertex AI's trafficType and the Gemini API's tier (written from its x-gemini-service-tier header) on the Gemini
    response sample: priority on gemini-2.5-flash costs 7,092 per 1M as above; ON_DEMAND_FLEX on gemini-2.5-flash with
    its 8,000 cached tokens has no price (Flex cached input is unpriced there: never $0, never a guess); flex on
    gemini-3.1-flash-lite ($0.125 / $0.75, cached $0.0125):
    4,000 x 0.125 + 8,000 x 0.0125 + 1,000 x 0.75 = 500 + 100 + 750 = 1,350 per 1M."""
    usage = json.loads((FORMATS / "gemini_generate_content_usage_metadata.json").read_text())["usageMetadata"]
    lines = [
        envelope("vx-priority", "google", "gemini-2.5-flash", dict(usage, trafficType="ON_DEMAND_PRIORITY"), service_tier=None),
        envelope("vx-flex", "google", "gemini-2.5-flash", dict(usage, trafficType="ON_DEMAND_FLEX"), service_tier=None),
        envelope("api-flex", "google", "gemini-3.1-flash-lite", usage, service_tier="flex"),
    ]
    rows = _priced(home, "gemini_service_tiers.jsonl", lines)
    assert rows == {
        "vx-priority": ("priority", "google/gemini-2.5-flash@2026-10-14/priority", Decimal("0.007092"), None),
        "vx-flex": ("flex", "google/gemini-2.5-flash@2026-10-14/flex", None, "no_price_for_bucket:cache_read"),
        "api-flex": ("flex", "google/gemini-3.1-flash-lite@2026-10-14/flex", Decimal("0.00135"), None),
    }


def test_o4_mini_flex_cached_input_is_the_published_rate(book):
    """OpenAI's pricing page lists o4-mini Flex at $0.55 input, $0.138 cached input, $2.20 output (not half of the
    $0.275 Standard cached rate, $0.1375; genai-prices 0.2.5: "Flex cached input uses the published $0.138/MTok
    rate"). 40,000 input, 60,000 cached, 10,000 output:
    40,000 x 0.55 + 60,000 x 0.138 + 10,000 x 2.20 = 22,000 + 8,280 + 22,000 = 52,280 per 1M."""
    row = book.lookup("openai", "o4-mini", AT, "flex", 100_000)
    assert request_cost(row, input=40_000, cache_read=60_000, output=10_000) == Decimal("0.05228")
    assert row["price_id"] == "openai/o4-mini-2025-04-16@2026-10-12/flex"
