"""Issue #17, "Missing": cached-input prices, long-context bands and audio buckets genai-prices leaves out, added
by corrections in pricing/corrections.yaml. Each test prices a real-shaped request by hand through the shipped
book (the same lookup core.request_costs uses) and, at the end, through the pipeline.

Sources (each correction cites its own, with checked: 2026-12-05):
- Mistral: "Cached prompt tokens are billed at 10% of the standard input token price"
  (docs.mistral.ai/studio-api/conversations/advanced/prompt-caching); LiteLLM 1.110.2 agrees where its input price
  is the book's.
- Gemini image models: Vertex AI's implicit caching is "a 90% discount on cached tokens compared to standard input
  tokens" (cloud.google.com/vertex-ai/generative-ai/docs/context-cache/context-cache-overview); LiteLLM 1.110.2's
  Vertex entries price cached input at 10% of input.
- Bedrock Claude Sonnet 4 / 4.5 above 200K input tokens: 2x input and cache prices, 1.5x output
  (aws.amazon.com/bedrock/pricing, as LiteLLM 1.110.2 has it for every profile; Anthropic's own rule).
- OpenAI above 272K input tokens: 2x input, 1.5x output (developers.openai.com/api/docs/pricing; LiteLLM 1.110.2).
- Bedrock GPT-5.4 / GPT-5.5 above 272K input tokens: 2x input and cached input, 1.5x output (the model cards
  docs.aws.amazon.com/bedrock/latest/userguide/model-card-openai-gpt-54.html and ...-gpt-55.html; LiteLLM 1.110.2 has
  the same bands for the us. and global. ids); the global. profiles at the in-Region price / 1.10, band included.
- Gemini TTS: the output price is the audio output price (ai.google.dev/gemini-api/docs/pricing).
- Bedrock batch inference: "50% of on-demand" for the models that support it (aws.amazon.com/bedrock/pricing; the
  models: docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html); LiteLLM 1.110.2's
  `input_cost_per_token_batches` / `output_cost_per_token_batches` are exactly half of on-demand for Claude Sonnet 4.5
  (us./eu./jp./au.: $1.65 / $8.25) and the open-weight models added with it (Llama 4 Maverick: $0.12 / $0.485).
- OpenAI audio: gpt-4o-mini-audio-preview $10 / $20 audio (openai.com/index/o1-and-new-tools-for-developers/),
  gpt-4o-mini-tts $12 audio output (developers.openai.com/api/docs/pricing); LiteLLM 1.110.2 agrees.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest
from helpers import envelope, land
from test_platform_tiers import AT, request_cost

from pipelines.pricing.book import load_price_book
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

SOURCE_MISTRAL = "https://docs.mistral.ai/studio-api/conversations/advanced/prompt-caching"
SOURCE_VERTEX_CACHE = "https://cloud.google.com/vertex-ai/generative-ai/docs/context-cache/context-cache-overview"


@pytest.fixture(scope="module")
def book():
    return load_price_book()


# --------------------------------------------------------------------------- cached input


@pytest.mark.parametrize(("name", "cache_read", "usd"), [
    # 2,000 prompt tokens of which 1,500 cached (Mistral's usage is OpenAI's: prompt_tokens includes them), 300 out:
    # 500 x input + 1,500 x input / 10 + 300 x output
    ("codestral-latest", "0.03", "0.000465"),        # 500 x 0.30 + 1,500 x 0.03 + 300 x 0.90 = 150 + 45 + 270 = 465
    ("devstral-small-latest", "0.01", "0.000155"),   # 500 x 0.10 + 1,500 x 0.01 + 300 x 0.30 = 50 + 15 + 90 = 155
    ("mistral-tiny", "0.025", "0.0002375"),          # 500 x 0.25 + 1,500 x 0.025 + 300 x 0.25 = 125 + 37.5 + 75 = 237.5
    ("pixtral-large-latest", "0.2", "0.0031"),       # 500 x 2 + 1,500 x 0.20 + 300 x 6 = 1,000 + 300 + 1,800 = 3,100
    ("open-mistral-nemo", "0.015", "0.0001425"),     # 500 x 0.15 + 1,500 x 0.015 + 300 x 0.15 = 75 + 22.5 + 45 = 142.5
    ("magistral-medium-2509", "0.2", "0.0028"),      # 500 x 2 + 1,500 x 0.20 + 300 x 5 = 1,000 + 300 + 1,500 = 2,800
    ("magistral-small-2509", "0.05", "0.000775"),    # 500 x 0.50 + 1,500 x 0.05 + 300 x 1.50 = 250 + 75 + 450 = 775
])
def test_mistral_cached_prompt_tokens_cost_a_tenth_of_input(book, name, cache_read, usd):
    """Source: docs.mistral.ai/studio-api/conversations/advanced/prompt-caching ("10% of the standard input token
    price")."""
    row = book.lookup("mistral", name, AT, "standard", 2000)
    assert row["cache_read_per_mtok"] == Decimal(cache_read) == row["input_per_mtok"] / 10
    assert request_cost(row, input=500, cache_read=1500, output=300) == Decimal(usd)
    assert row["source"] == SOURCE_MISTRAL and row["checked"] == dt.date(2026, 12, 5)
    batch = book.lookup("mistral", name, AT, "batch")
    assert batch is None or batch["cache_read_per_mtok"] is None  # batch keeps no cached price


@pytest.mark.parametrize(("name", "usd"), [
    # 10,000 prompt tokens of which 8,000 cached (Gemini's promptTokenCount includes cachedContentTokenCount), 1,000
    # text output: 2,000 x input + 8,000 x input / 10 + 1,000 x output
    ("gemini-3-pro-image-preview", "0.0176"),      # 2,000 x 2 + 8,000 x 0.20 + 1,000 x 12 = 4,000 + 1,600 + 12,000
    ("gemini-3.1-flash-image-preview", "0.0044"),  # 2,000 x 0.50 + 8,000 x 0.05 + 1,000 x 3 = 1,000 + 400 + 3,000
    ("gemini-3.1-flash-lite-image", "0.0022"),     # 2,000 x 0.25 + 8,000 x 0.025 + 1,000 x 1.50 = 500 + 200 + 1,500
    ("gemini-nano-banana-2.1", "0.0117"),          # 2,000 x 1.50 + 8,000 x 0.15 + 1,000 x 7.50 = 3,000 + 1,200 + 7,500
    ("gemini-2.5-flash-image", "0.00334"),         # 2,000 x 0.30 + 8,000 x 0.03 + 1,000 x 2.50 = 600 + 240 + 2,500
])
def test_gemini_image_models_price_cached_input_at_a_tenth(book, name, usd):
    """Source: cloud.google.com/vertex-ai/generative-ai/docs/context-cache/context-cache-overview ("a 90% discount on
    cached tokens compared to standard input tokens"); LiteLLM 1.110.2's Vertex entries."""
    row = book.lookup("google", name, AT, "standard", 10000)
    assert row["cache_read_per_mtok"] == row["input_per_mtok"] / 10
    assert request_cost(row, input=2000, cache_read=8000, output=1000) == Decimal(usd)
    assert row["source"] == SOURCE_VERTEX_CACHE


# --------------------------------------------------------------------------- long-context bands


@pytest.mark.parametrize(("name", "usd"), [
    # A Converse request: 20,000 input, 220,000 cache reads, 5,000 cache writes, 1,000 output = 245,000 input > 200K,
    # so every token pays the long-context rate.
    # Sonnet 4 (in-Region = global price): 20,000 x 6 + 220,000 x 0.60 + 5,000 x 7.50 + 1,000 x 22.50
    #                                      = 120,000 + 132,000 + 37,500 + 22,500 = 312,000 per 1M
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "0.312"),
    ("global.anthropic.claude-sonnet-4-20250514-v1:0", "0.312"),
    # Sonnet 4.5 in-Region (1.1 x global): 20,000 x 6.60 + 220,000 x 0.66 + 5,000 x 8.25 + 1,000 x 24.75
    #                                      = 132,000 + 145,200 + 41,250 + 24,750 = 343,200 per 1M
    ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "0.3432"),
    # Sonnet 4.5 global: the same as Sonnet 4 = 312,000 per 1M
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "0.312"),
])
def test_bedrock_sonnet_4_and_4_5_prompts_above_200k_pay_the_long_context_rates(book, name, usd):
    """Source: aws.amazon.com/bedrock/pricing (Sonnet 4 / 4.5 "long context" rows; LiteLLM 1.110.2 has the same bands
    for the in-Region, us./eu./apac./jp./au. and global. ids)."""
    tokens = {"input": 20000, "cache_read": 220000, "cache_write_5m": 5000, "output": 1000}
    row = book.lookup("aws_bedrock", name, AT, "standard", 245000)
    assert row["price_id"].endswith("/standard/input>200000")
    assert request_cost(row, **tokens) == Decimal(usd)


def test_bedrock_sonnet_4_5_one_hour_writes_and_the_threshold(book):
    """Sonnet 4.5 on the us. profile, 200,000 input tokens exactly: still the base rates (the band starts above).
    120,000 x 3.30 + 70,000 x 0.33 + 10,000 x 6.60 (1-hour writes) + 2,000 x 16.50
      = 396,000 + 23,100 + 66,000 + 33,000 = 518,100 per 1M.
    One token more of input: 120,001 x 6.60 + 70,000 x 0.66 + 10,000 x 13.20 + 2,000 x 24.75
      = 792,006.6 + 46,200 + 132,000 + 49,500 = 1,019,706.6 per 1M."""
    name = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    at_threshold = book.lookup("aws_bedrock", name, AT, "standard", 200000)
    above = book.lookup("aws_bedrock", name, AT, "standard", 200001)
    assert request_cost(at_threshold, input=120000, cache_read=70000, cache_write_1h=10000, output=2000) == Decimal("0.5181")
    assert request_cost(above, input=120001, cache_read=70000, cache_write_1h=10000, output=2000) == Decimal("1.0197066")
    assert above["source"] == "https://aws.amazon.com/bedrock/pricing/" and above["checked"] == dt.date(2026, 12, 5)


def test_gpt_5_6_cyber_above_272k(book):
    """Source: developers.openai.com/api/docs/pricing (2x input, cached input and cache writes, 1.5x output above 272K;
    LiteLLM 1.110.2). 300,000 prompt tokens of which 100,000 cached, 2,000 output:
    200,000 x 25 + 100,000 x 2.50 + 2,000 x 112.50 = 5,000,000 + 250,000 + 225,000 = 5,475,000 per 1M.
    At 100,000 prompt tokens: 100,000 x 12.50 + 2,000 x 75 = 1,250,000 + 150,000 = 1,400,000 per 1M."""
    long = book.lookup("openai", "gpt-5.6-cyber", AT, "standard", 300000)
    short = book.lookup("openai", "gpt-5.6-cyber", AT, "standard", 100000)
    assert request_cost(long, input=200000, cache_read=100000, output=2000) == Decimal("5.475")
    assert request_cost(short, input=100000, output=2000) == Decimal("1.4")
    assert long["cache_write_5m_per_mtok"] == Decimal("31.25")


@pytest.mark.parametrize(("name", "entry", "usd"), [
    # A Converse request: 200,000 input, 100,000 cache reads, 2,000 output = 300,000 input > 272K, so every token pays
    # the long-context rate.
    # gpt-5.4 in-Region (1.1 x global): 200,000 x 5.50 + 100,000 x 0.55 + 2,000 x 24.75
    #                                   = 1,100,000 + 55,000 + 49,500 = 1,204,500 per 1M
    ("openai.gpt-5.4", "openai.gpt-5.4", "1.2045"),
    ("us.openai.gpt-5.4", "openai.gpt-5.4", "1.2045"),
    # gpt-5.4 global: 200,000 x 5 + 100,000 x 0.50 + 2,000 x 22.50 = 1,000,000 + 50,000 + 45,000 = 1,095,000 per 1M
    ("global.openai.gpt-5.4", "global.openai.gpt-5.4", "1.095"),
    # gpt-5.5 in-Region: 200,000 x 11 + 100,000 x 1.10 + 2,000 x 49.50 = 2,200,000 + 110,000 + 99,000 = 2,409,000 per 1M
    ("eu.openai.gpt-5.5", "openai.gpt-5.5", "2.409"),
    # gpt-5.5 global: 200,000 x 10 + 100,000 x 1 + 2,000 x 45 = 2,000,000 + 100,000 + 90,000 = 2,190,000 per 1M
    ("global.openai.gpt-5.5", "global.openai.gpt-5.5", "2.19"),
])
def test_bedrock_gpt_5_4_and_5_5_prompts_above_272k_pay_the_long_context_rates(book, name, entry, usd):
    """Source: docs.aws.amazon.com/bedrock/latest/userguide/model-card-openai-gpt-54.html and ...-gpt-55.html (2x input
    and cached input, 1.5x output above 272K; LiteLLM 1.110.2 has these bands for the us. and global. ids: gpt-5.4
    $5.50 / $0.55 / $24.75 and $5 / $0.50 / $22.50)."""
    tokens = {"input": 200000, "cache_read": 100000, "output": 2000}
    row = book.lookup("aws_bedrock", name, AT, "standard", 300000)
    assert row["price_id"] == f"aws_bedrock/{entry}@undated/standard/input>272000"
    assert request_cost(row, **tokens) == Decimal(usd)


def test_bedrock_gpt_5_4_at_the_272k_threshold(book):
    """272,000 input tokens exactly still pay the base rates (the band starts above): on openai.gpt-5.4
    172,000 x 2.75 + 100,000 x 0.275 + 2,000 x 16.50 = 473,000 + 27,500 + 33,000 = 533,500 per 1M; on the global
    profile 172,000 x 2.50 + 100,000 x 0.25 + 2,000 x 15 = 430,000 + 25,000 + 30,000 = 485,000 per 1M.
    One input token more: 172,001 x 5.50 + 100,000 x 0.55 + 2,000 x 24.75 = 946,005.5 + 55,000 + 49,500 = 1,050,505.5;
    global 172,001 x 5 + 100,000 x 0.50 + 2,000 x 22.50 = 860,005 + 50,000 + 45,000 = 955,005 per 1M."""
    tokens = {"input": 172000, "cache_read": 100000, "output": 2000}
    more = {**tokens, "input": 172001}
    regional = (book.lookup("aws_bedrock", "openai.gpt-5.4", AT, "standard", n) for n in (272000, 272001))
    everywhere = (book.lookup("aws_bedrock", "global.openai.gpt-5.4", AT, "standard", n) for n in (272000, 272001))
    assert [request_cost(r, **t) for r, t in zip(regional, (tokens, more))] == [Decimal("0.5335"), Decimal("1.0505055")]
    assert [request_cost(r, **t) for r, t in zip(everywhere, (tokens, more))] == [Decimal("0.485"), Decimal("0.955005")]
    row = book.lookup("aws_bedrock", "openai.gpt-5.4", AT, "standard", 272001)
    assert row["source"] == "https://docs.aws.amazon.com/bedrock/latest/userguide/model-card-openai-gpt-54.html"
    assert row["checked"] == dt.date(2026, 12, 5)


@pytest.mark.parametrize("tier", ["batch", "flex"])
def test_gpt_5_5_pro_batch_and_flex_above_272k(book, tier):
    """Source: developers.openai.com/api/docs/pricing (LiteLLM 1.110.2: batch $30 / $135 above 272K, half the standard
    band). 300,000 input and 5,000 output tokens: 300,000 x 30 + 5,000 x 135 = 9,000,000 + 675,000 = 9,675,000 per 1M
    (it was 300,000 x 15 + 5,000 x 90 = 4,950,000 without the band)."""
    row = book.lookup("openai", "gpt-5.5-pro-2026-04-23", AT, tier, 300000)
    assert request_cost(row, input=300000, output=5000) == Decimal("9.675")
    assert request_cost(book.lookup("openai", "gpt-5.5-pro", AT, tier, 1000), input=1000, output=100) == Decimal("0.024")  # 15,000 + 9,000


# --------------------------------------------------------------------------- Bedrock batch


@pytest.mark.parametrize("name", ["au.anthropic.claude-sonnet-4-5-20250929-v1:0", "jp.anthropic.claude-sonnet-4-5-20250929-v1:0"])
def test_a_bedrock_claude_sonnet_4_5_batch_request_costs_half_the_on_demand_rates(book, name):
    """Source: aws.amazon.com/bedrock/pricing (batch at 50% of on-demand); LiteLLM 1.110.2 prices the au. and jp. ids
    at $1.65 / $8.25 in batch against $3.30 / $16.50 on demand. A Converse batch record: 120 input, 8,000 cache reads,
    2,000 cache writes, 350 output tokens.
    Batch:     120 x 1.65 + 8,000 x 0.165 + 2,000 x 2.0625 + 350 x 8.25 = 198 + 1,320 + 4,125 + 2,887.5 = 8,530.5 per 1M.
    On demand: 120 x 3.30 + 8,000 x 0.33 + 2,000 x 4.125 + 350 x 16.50 = 396 + 2,640 + 8,250 + 5,775 = 17,061 per 1M.
    Above 200K input the rule halves the long-context rates too (Anthropic: long-context prices stack with the batch
    discount): 230,000 input, 20,000 cache reads, 1,000 output = 230,000 x 3.30 + 20,000 x 0.33 + 1,000 x 12.375
    = 759,000 + 6,600 + 12,375 = 777,975 per 1M."""
    tokens = {"input": 120, "cache_read": 8000, "cache_write_5m": 2000, "output": 350}
    batch = book.lookup("aws_bedrock", name, AT, "batch", 10120)
    assert request_cost(batch, **tokens) == Decimal("0.0085305")
    assert request_cost(book.lookup("aws_bedrock", name, AT, "standard", 10120), **tokens) == Decimal("0.017061")
    assert batch["price_id"] == "aws_bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0@undated/batch/input<=200000"
    assert "LiteLLM 1.110.2 is exactly half their on-demand price" in batch["note"]
    long = book.lookup("aws_bedrock", name, AT, "batch", 250000)
    assert request_cost(long, input=230000, cache_read=20000, output=1000) == Decimal("0.777975")


@pytest.mark.parametrize(("name", "usd"), [
    # 12,000 input and 1,500 output tokens in a batch job: 12,000 x batch input + 1,500 x batch output
    ("us.meta.llama4-maverick-17b-instruct-v1:0", "0.0021675"),  # 12,000 x 0.12 + 1,500 x 0.485 = 1,440 + 727.5
    ("qwen.qwen3-32b-v1:0", "0.00135"),                          # 12,000 x 0.075 + 1,500 x 0.30 = 900 + 450
    ("mistral.mistral-large-3-675b-instruct", "0.004125"),       # 12,000 x 0.25 + 1,500 x 0.75 = 3,000 + 1,125
])
def test_open_weight_models_on_bedrock_batch_cost_half_of_on_demand(book, name, usd):
    """Source: aws.amazon.com/bedrock/pricing (batch at 50% of on-demand); LiteLLM 1.110.2's batch prices for these
    ids: Llama 4 Maverick $0.12 / $0.485 (on demand $0.24 / $0.97), Qwen3 32B $0.075 / $0.30 ($0.15 / $0.60), Mistral
    Large 3 $0.25 / $0.75 ($0.50 / $1.50)."""
    batch = book.lookup("aws_bedrock", name, AT, "batch", 12000)
    on_demand = book.lookup("aws_bedrock", name, AT, "standard", 12000)
    assert request_cost(batch, input=12000, output=1500) == Decimal(usd)
    assert request_cost(on_demand, input=12000, output=1500) == 2 * Decimal(usd)


def test_bedrock_mantles_unversioned_gpt_oss_120b_is_the_converse_model(book):
    """Bedrock Mantle returns `openai.gpt-oss-120b` (pydantic/pydantic-ai 4fda389, tests/models/cassettes/
    test_bedrock_mantle/test_gpt_oss_responses.yaml): unknown_model before. LiteLLM's Bedrock Mantle table prices it at
    the Converse id's $0.15 / $0.60; openai.gpt-oss-20b stays unknown there ($0.075 against the book's $0.07)."""
    assert book.resolve("aws_bedrock", "openai.gpt-oss-120b") == "openai.gpt-oss-120b-1:0"
    assert request_cost(book.lookup("aws_bedrock", "openai.gpt-oss-120b", AT, "standard", 72), input=72, output=45) == Decimal("0.0000378")
    assert book.resolve("aws_bedrock", "openai.gpt-oss-20b") is None


# --------------------------------------------------------------------------- audio buckets


@pytest.mark.parametrize(("name", "at", "tier", "usd"), [
    # 100 text tokens in, 5,000 audio tokens out: 100 x input + 5,000 x audio output (= the output price)
    ("gemini-2.5-flash-tts", AT, "standard", "0.05005"),          # 100 x 0.50 + 5,000 x 10 = 50 + 50,000
    ("gemini-2.5-pro-preview-tts", AT, "standard", "0.1001"),     # 100 x 1 + 5,000 x 20 = 100 + 100,000
    ("gemini-3.1-flash-tts-preview", AT, "batch", "0.05005"),     # 100 x 0.50 + 5,000 x 10
    ("gemini-3.8-flash-tts", AT, "standard", "0.04505"),          # 100 x 0.50 + 5,000 x 9 = 50 + 45,000
    ("gemini-3.8-flash-tts", dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc), "standard", "0.0901"),  # 100 x 1 + 5,000 x 18
    ("gemini-3.8-flash-lite-tts", dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc), "batch", "0.03005"),  # 100 x 0.50 + 5,000 x 6
    ("gemini-3.8-flash-lite-tts", AT, "priority", "0.05409"),     # 100 x 0.90 + 5,000 x 10.80 = 90 + 54,000
])
def test_gemini_tts_audio_output_costs_the_output_price(book, name, at, tier, usd):
    """Source: ai.google.dev/gemini-api/docs/pricing (TTS output price "(audio)"; LiteLLM 1.110.2 agrees)."""
    row = book.lookup("google", name, at, tier, 100)
    assert row["audio_output_per_mtok"] == row["output_per_mtok"]
    assert request_cost(row, input=100, audio_output=5000) == Decimal(usd)


def test_openai_audio_preview_and_tts_audio_buckets(book):
    """gpt-4o-mini-audio-preview-2024-12-17: 1,000 prompt tokens of which 800 audio, 500 completion tokens of which
    400 audio: 200 x 0.15 + 800 x 10 + 100 x 0.60 + 400 x 20 = 30 + 8,000 + 60 + 8,000 = 16,090 per 1M
    (source: openai.com/index/o1-and-new-tools-for-developers/, $10 / $20 audio; LiteLLM 1.110.2).
    gpt-4o-mini-tts: 50 text tokens in, 2,000 audio tokens out: 50 x 0.60 + 2,000 x 12 = 30 + 24,000 = 24,030 per 1M
    (source: developers.openai.com/api/docs/pricing)."""
    audio = book.lookup("openai", "gpt-4o-mini-audio-preview-2024-12-17", AT, "standard", 1000)
    tts = book.lookup("openai", "gpt-4o-mini-tts", AT, "standard", 50)
    assert request_cost(audio, input=200, audio_input=800, output=100, audio_output=400) == Decimal("0.01609")
    assert request_cost(tts, input=50, audio_output=2000) == Decimal("0.02403")
    # the undated gpt-4o-audio-preview keeps no audio price (it named the 2024-10-01 snapshot first, priced higher);
    # each dated snapshot has its own: $40 / $80 from 2024-12-17 on, $100 / $200 on 2024-10-01
    assert book.lookup("openai", "gpt-4o-audio-preview", AT)["audio_input_per_mtok"] is None
    assert [(book.lookup("openai", f"gpt-4o-audio-preview-{snapshot}", AT)["audio_input_per_mtok"],
             book.lookup("openai", f"gpt-4o-audio-preview-{snapshot}", AT)["audio_output_per_mtok"])
            for snapshot in ("2024-10-01", "2024-12-17", "2025-06-03")] == [(100, 200), (40, 80), (40, 80)]


def test_the_first_realtime_snapshot_pays_the_launch_audio_price(book):
    """gpt-4o-realtime-preview-2024-10-01 (openai.com/index/introducing-the-realtime-api/: text $5 / $20, audio $100 /
    $200 per 1M): 500 text and 1,000 audio tokens in, 200 text and 400 audio tokens out:
    500 x 5 + 1,000 x 100 + 200 x 20 + 400 x 200 = 2,500 + 100,000 + 4,000 + 80,000 = 186,500 per 1M. It was priced
    by the gpt-4o-realtime rule at the later snapshots' $40 / $80 (openai.com/index/o1-and-new-tools-for-developers/):
    78,500 per 1M, 2.4x under."""
    first = book.lookup("openai", "gpt-4o-realtime-preview-2024-10-01", dt.datetime(2024, 11, 1, tzinfo=dt.timezone.utc), "standard", 1500)
    later = book.lookup("openai", "gpt-4o-realtime-preview-2024-12-17", AT, "standard", 1500)
    tokens = {"input": 500, "audio_input": 1000, "output": 200, "audio_output": 400}
    assert first["price_id"] == "openai/gpt-4o-realtime-preview-2024-10-01@2024-10-01/standard"
    assert later["price_id"] == "openai/gpt-4o-realtime-preview-2024-12-17@2024-12-17/standard"
    assert (request_cost(first, **tokens), request_cost(later, **tokens)) == (Decimal("0.1865"), Decimal("0.0785"))


@pytest.mark.parametrize(("name", "input_tokens", "entry", "usd"), [
    # 150,000 prompt tokens of which 4,000 cached, 3,000 out (reasoning included):
    # above 128K: 146,000 x 6 + 4,000 x 1.50 + 3,000 x 30 = 876,000 + 6,000 + 90,000 = 972,000 per 1M
    ("grok-4", 150000, "xai/grok-4-0709@undated/standard/input>128000", "0.972"),
    # exactly 128,000 stays below: 124,000 x 3 + 4,000 x 0.75 + 3,000 x 15 = 372,000 + 3,000 + 45,000 = 420,000 per 1M
    ("grok-4-0709", 128000, "xai/grok-4-0709@undated/standard/input<=128000", "0.42"),
    # Grok 4 Fast above 128K: 146,000 x 0.40 + 4,000 x 0.10 + 3,000 x 1.00 = 58,400 + 400 + 3,000 = 61,800 per 1M
    ("grok-4-fast", 150000, "xai/grok-4-fast-reasoning@undated/standard/input>128000", "0.0618"),
    ("grok-4-fast-non-reasoning", 150000, "xai/grok-4-fast-non-reasoning@undated/standard/input>128000", "0.0618"),
    ("grok-4-1-fast-reasoning", 150000, "xai/grok-4-1-fast-reasoning@undated/standard/input>128000", "0.0618"),
    ("grok-4-1-fast-non-reasoning", 150000, "xai/grok-4-1-fast-non-reasoning@undated/standard/input>128000", "0.0618"),
])
def test_grok_4_and_grok_4_fast_requests_above_128k_pay_twice_every_rate(book, name, input_tokens, entry, usd):
    """Sources: openrouter.ai/x-ai/grok-4 ("Pricing increases once the total tokens in a given request is greater than
    128k tokens"; wavespeed.ai: > 128K $6 / $30), Grok 4 Fast's launch price ($0.40 / $1.00 above 128K; marked
    "tiered-cost" by vercel.com/ai-gateway), xAI's rule of doubling every rate, cached input included
    (docs.x.ai/developers/models/grok-4.20-0309). genai-prices 0.2.3 had them flat: 2x under."""
    row = book.lookup("xai", name, AT, "standard", input_tokens)
    assert row["price_id"] == entry
    assert request_cost(row, input=input_tokens - 4000, cache_read=4000, output=3000) == Decimal(usd)


# --------------------------------------------------------------------------- through the pipeline


def test_the_pipeline_prices_the_filled_gaps(home: Home):
    lines = [
        # Bedrock Converse, 245,000 input tokens on the eu. profile of Sonnet 4.5: 343,200 per 1M (above)
        envelope("br-long", "aws_bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
                 {"inputTokens": 20000, "cacheReadInputTokens": 220000, "cacheWriteInputTokens": 5000, "outputTokens": 1000,
                  "totalTokens": 246000}),
        # Bedrock Converse, 300,000 input tokens on the global profile of gpt-5.4: 1,095,000 per 1M (above)
        envelope("br-gpt-long", "aws_bedrock", "global.openai.gpt-5.4",
                 {"inputTokens": 200000, "cacheReadInputTokens": 100000, "outputTokens": 2000, "totalTokens": 302000}),
        # Bedrock batch records: Claude Sonnet 4.5 on the au. profile, 8,530.5 per 1M; Llama 4 Maverick, 2,167.5 per 1M (above)
        envelope("br-s45-batch", "aws_bedrock", "au.anthropic.claude-sonnet-4-5-20250929-v1:0",
                 {"inputTokens": 120, "cacheReadInputTokens": 8000, "cacheWriteInputTokens": 2000, "outputTokens": 350,
                  "totalTokens": 10470}, service_tier="batch"),
        envelope("br-maverick-batch", "aws_bedrock", "us.meta.llama4-maverick-17b-instruct-v1:0",
                 {"inputTokens": 12000, "outputTokens": 1500, "totalTokens": 13500}, service_tier="batch"),
        # OpenAI Chat Completions with audio: 16,090 per 1M (above)
        envelope("oa-audio", "openai", "gpt-4o-mini-audio-preview-2024-12-17",
                 {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500,
                  "prompt_tokens_details": {"audio_tokens": 800, "cached_tokens": 0},
                  "completion_tokens_details": {"audio_tokens": 400, "reasoning_tokens": 0}}),
        # gpt-5.6-cyber, 300,000 prompt tokens of which 100,000 cached, 2,000 output: 5,475,000 per 1M (above)
        envelope("oa-long", "openai", "gpt-5.6-cyber",
                 {"prompt_tokens": 300000, "completion_tokens": 2000, "total_tokens": 302000,
                  "prompt_tokens_details": {"cached_tokens": 100000}}),
        # the Realtime API's first snapshot (OpenAI's usage shape: text and audio under the details): 186,500 per 1M (above)
        envelope("oa-realtime", "openai", "gpt-4o-realtime-preview-2024-10-01",
                 {"prompt_tokens": 1500, "completion_tokens": 600, "total_tokens": 2100,
                  "prompt_tokens_details": {"audio_tokens": 1000, "text_tokens": 500, "cached_tokens": 0},
                  "completion_tokens_details": {"audio_tokens": 400, "text_tokens": 200}}, timestamp="2024-11-01T09:00:00Z"),
        # xAI's own API counts reasoning apart from completion_tokens: 150,000 prompt (4,000 cached), 1,000 completion
        # and 2,000 reasoning tokens: 972,000 per 1M (above)
        envelope("xai-long", "xai", "grok-4",
                 {"prompt_tokens": 150000, "completion_tokens": 1000, "total_tokens": 153000,
                  "prompt_tokens_details": {"cached_tokens": 4000}, "completion_tokens_details": {"reasoning_tokens": 2000}}),
    ]
    land(home, "price_gaps.jsonl", lines)
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select reason from audit.rejected_rows").fetchall() == []
        rows = {r[0]: (r[1], r[2].normalize() if r[2] is not None else None, r[3]) for r in con.execute(
            "select request_id, price_id, cost_usd, unpriced_reason from core.request_costs").fetchall()}
    assert rows == {
        "br-long": ("aws_bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0@undated/standard/input>200000", Decimal("0.3432"), None),
        "br-gpt-long": ("aws_bedrock/global.openai.gpt-5.4@undated/standard/input>272000", Decimal("1.095"), None),
        "br-s45-batch": ("aws_bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0@undated/batch/input<=200000", Decimal("0.0085305"),
                         None),
        "br-maverick-batch": ("aws_bedrock/meta.llama4-maverick-17b-instruct-v1:0@undated/batch", Decimal("0.0021675"), None),
        "oa-audio": ("openai/gpt-4o-mini-audio-preview@undated/standard", Decimal("0.01609"), None),
        "oa-long": ("openai/gpt-5.6-cyber@undated/standard/input>272000", Decimal("5.475"), None),
        "oa-realtime": ("openai/gpt-4o-realtime-preview-2024-10-01@2024-10-01/standard", Decimal("0.1865"), None),
        "xai-long": ("xai/grok-4-0709@undated/standard/input>128000", Decimal("0.972"), None),
    }


@pytest.mark.parametrize("name", ["gemini-3.8-flash-cyber", "google/gemini-3.8-flash-cyber"])
def test_gemini_3_8_flash_cyber_costs_twice_gemini_3_8_flash(book, name):
    """Vertex prices the cyber variant at $1.50 / cached $0.15 / $7.50 (LiteLLM 1.110.2, vertex_ai/gemini-3.8-flash-cyber),
    twice Gemini 3.8 Flash; the gemini-3.8-flash match rule priced it at half. 4,000 uncached input, 8,000 cache reads,
    1,000 output tokens: 4,000 x 1.50 + 8,000 x 0.15 + 1,000 x 7.50 = 6,000 + 1,200 + 7,500 = 14,700 per 1M."""
    row = book.lookup("google", name, AT, "standard", 12000)
    assert row["price_id"] == "google/gemini-3.8-flash-cyber@undated/standard"
    assert request_cost(row, input=4000, cache_read=8000, output=1000) == Decimal("0.0147")
    base = book.lookup("google", "gemini-3.8-flash", AT, "standard", 12000)
    assert request_cost(base, input=4000, cache_read=8000, output=1000) == Decimal("0.00735")


@pytest.mark.parametrize(("name", "at", "entry", "usd"), [
    # 2,000 input and 500 output tokens: at launch 2,000 x 1 + 500 x 5 = 4,500 per 1M; after the cut 2,000 x 0.80 + 500 x 4 = 3,600
    ("us.anthropic.claude-3-5-haiku-20241022-v1:0", dt.datetime(2024, 11, 20, tzinfo=dt.timezone.utc),
     "aws_bedrock/anthropic.claude-3-5-haiku-20241022-v1:0@2024-11-04/standard", "0.0045"),
    ("anthropic.claude-3-5-haiku-20241022-v1:0", dt.datetime(2025, 1, 10, tzinfo=dt.timezone.utc),
     "aws_bedrock/anthropic.claude-3-5-haiku-20241022-v1:0@2024-12-01/standard", "0.0036"),
])
def test_bedrock_claude_3_5_haiku_pays_the_launch_price_before_the_cut(book, name, at, entry, usd):
    """Claude 3.5 Haiku reached Bedrock on 2024-11-04 at Anthropic's launch price, $1 / $5 per 1M, cut to $0.80 / $4
    about a month later (aws.amazon.com/bedrock/pricing; aiwiki.ai/wiki/claude_3_5_haiku; the book's Anthropic entry
    has the same history). The Bedrock entry had today's price for all time: November 2024 was 20% low."""
    row = book.lookup("aws_bedrock", name, at, "standard", 2000)
    assert row["price_id"] == entry
    assert request_cost(row, input=2000, output=500) == Decimal(usd)
    # the same request on Anthropic's API on the same day costs the same
    assert request_cost(book.lookup("anthropic", "claude-3-5-haiku-20241022", at, "standard", 2000), input=2000, output=500) == Decimal(usd)


def test_the_gemini_2_5_flash_lite_preview_pays_its_own_audio_price(book):
    """gemini-2.5-flash-lite-preview-06-17 launched with audio input at $0.50 per 1M (smythos.com's launch write-up),
    the stable gemini-2.5-flash-lite costs $0.30; it was an alias of the stable model. 2,000 text and 10,000 audio
    tokens in, 1,000 out: 2,000 x 0.10 + 10,000 x 0.50 + 1,000 x 0.40 = 200 + 5,000 + 400 = 5,600 per 1M (3,600 at
    the stable price). Cached input has no published preview price: unpriced, not the stable model's."""
    at = dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc)
    for name in ("gemini-2.5-flash-lite-preview-06-17", "google/gemini-2.5-flash-lite-preview-06-17"):
        row = book.lookup("google", name, at, "standard", 12000)
        assert row["price_id"] == "google/gemini-2.5-flash-lite-preview-06-17@2025-06-17/standard"
        assert request_cost(row, input=2000, audio_input=10000, output=1000) == Decimal("0.0056")
        assert row["cache_read_per_mtok"] is None
    stable = book.lookup("google", "gemini-2.5-flash-lite", at, "standard", 12000)
    assert request_cost(stable, input=2000, audio_input=10000, output=1000) == Decimal("0.0036")


@pytest.mark.parametrize(("at", "entry", "usd"), [
    # the OpenAI chat sample (2,006 prompt tokens, 300 completion) before caching reached the name: 2,006 x 5 + 300 x 15
    (dt.datetime(2024, 9, 1, tzinfo=dt.timezone.utc), "openai/gpt-4o@2024-05-13/standard", "0.01453"),
    # from 2024-10-02, gpt-4o-2024-08-06's price: 2,006 x 2.50 + 300 x 10 (nothing cached here)
    (dt.datetime(2024, 10, 2, tzinfo=dt.timezone.utc), "openai/gpt-4o@2024-10-02/standard", "0.008015"),
])
def test_gpt_4o_pays_the_price_of_the_snapshot_it_served(book, at, entry, usd):
    """`gpt-4o` served gpt-4o-2024-05-13 ($5 / $15, OpenAI's structured-outputs post: 08-06 "saves 50% on input and 33%
    on output") until OpenAI pointed it at gpt-4o-2024-08-06 on 2024-10-02 (platform.openai.com/docs/models/gpt-4o).
    The imported entry had today's $2.50 / $10 for all time: May to September 2024 was 50% / 33% low."""
    row = book.lookup("openai", "gpt-4o", at, "standard", 2006)
    assert row["price_id"] == entry
    assert request_cost(row, input=2006, output=300) == Decimal(usd)
    # the snapshot it served costs the same that day
    served = "gpt-4o-2024-05-13" if at.month == 9 else "gpt-4o-2024-08-06"
    assert request_cost(book.lookup("openai", served, at, "standard", 2006), input=2006, output=300) == Decimal(usd)
    assert book.lookup("openai", "gpt-4o", dt.datetime(2024, 5, 12, tzinfo=dt.timezone.utc), "standard", 2006) is None  # before launch


@pytest.mark.parametrize(("name", "at", "text", "usd"), [
    # text and 20,000 audio tokens in, 1,000 out; audio at the text input price where the page lists one input price
    ("gemini-2.5-pro", AT, 10_000, "0.0475"),  # 30,000 x 1.25 + 1,000 x 10
    ("gemini-2.5-pro", AT, 210_000, "0.59"),  # 230,000 in, above 200K: 230,000 x 2.50 + 1,000 x 15
    ("gemini-1.5-pro-002", dt.datetime(2024, 11, 1, tzinfo=dt.timezone.utc), 10_000, "0.0425"),  # 30,000 x 1.25 + 1,000 x 5
    ("gemini-2.0-flash-lite", AT, 10_000, "0.00255"),  # 30,000 x 0.075 + 1,000 x 0.30
    # the 2.5 Flash preview's own audio line: 10,000 x 0.15 + 20,000 x 1.00 + 1,000 x 0.60
    ("gemini-2.5-flash-preview-04-17", dt.datetime(2025, 5, 1, tzinfo=dt.timezone.utc), 10_000, "0.0221"),
])
def test_gemini_audio_input_is_priced_where_the_page_gives_one_input_price(book, name, at, text, usd):
    """Gemini 2.5 Pro, 1.5 and 2.0 Flash-Lite list one input price for text, image, video and audio
    (ai.google.dev/gemini-api/docs/pricing); the 2.5 Flash previews listed audio at $1.00 (developers.googleblog.com,
    "Start building with Gemini 2.5 Flash"). These entries had no audio price: a request with audio tokens was
    unpriced (no_price_for_bucket:audio_input)."""
    row = book.lookup("google", name, at, "standard", text + 20_000)
    assert request_cost(row, input=text, audio_input=20_000, output=1_000) == Decimal(usd)
