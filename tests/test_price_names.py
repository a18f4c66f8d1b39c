"""Issue #17, "Missing": names a request log carries that the book did not price. Each test prices a real-shaped
request by hand through the shipped book (the lookup core.request_costs uses).

Sources:
- Azure OpenAI (derivations in pricing/corrections.yaml): Global Standard lists GPT-5.1, 5.2, 5.4, 5.5 and o3-pro at
  OpenAI's per-token price (azure.microsoft.com/en-us/pricing/details/cognitive-services/openai-service/); LiteLLM
  1.110.2's azure/ entries for these names equal its OpenAI entries on every bucket. gpt-35-turbo-0125: $0.50 / $1.50,
  OpenAI's gpt-3.5-turbo-0125 price (LiteLLM 1.110.2: azure/gpt-35-turbo $0.50 / $1.50). gpt-35-turbo-1106 $1 / $2,
  -0613 $1.50 / $2, -16k $3 / $4: LiteLLM's azure/ entries for them before they were retired (OpenAI's prices for the
  same versions; 1.110.2 no longer lists them). gpt-5.3-chat and
  gpt-5.3-codex: LiteLLM 1.110.2's azure/ entries, $1.75 / $14.00, cached input $0.175, OpenAI's gpt-5.3 and gpt-5.3-codex.
- Bedrock models genai-prices lacks (pricing/list/aws_bedrock.yaml): the in-Region on-demand price of
  aws.amazon.com/bedrock/pricing, equal to LiteLLM 1.110.2's entry for the same id. Cohere Command R / R+ (not in
  LiteLLM 1.110.2): $0.50 / $1.50 and $3.00 / $15.00, the AWS page as transcribed on 2025-07-20
  (github.com/convo-lang/convo-lang, packages/convo-lang-bedrock/bedrock-pricing.md) and Cost Katana's Bedrock table.
- Bedrock jp. / au. profiles of Claude Sonnet 4.5 and Haiku 4.5: billed at the source Region's price, which for Claude
  is the US price (aws.amazon.com/bedrock/pricing); LiteLLM 1.110.2 prices them at the us. price.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_platform_tiers import AT, request_cost

from pipelines.pricing.book import load_price_book

AZURE_PAGE = "https://azure.microsoft.com/en-us/pricing/details/cognitive-services/openai-service/"
BEDROCK_PAGE = "https://aws.amazon.com/bedrock/pricing/"

NOW_PRICED = {
    "azure_openai": [
        "gpt-5.1", "gpt-5.1-chat", "gpt-5.1-codex", "gpt-5.2", "gpt-5.2-chat", "gpt-5.4", "gpt-5.5", "o3-pro",
        "gpt-35-turbo-0125", "gpt-5.3-chat", "gpt-5.3-codex", "gpt-35-turbo-1106", "gpt-35-turbo-0613",
        "gpt-35-turbo-16k", "gpt-35-turbo-16k-0613",
    ],
    "aws_bedrock": [
        "ai21.jamba-1-5-large-v1:0", "ai21.jamba-1-5-mini-v1:0", "meta.llama3-1-405b-instruct-v1:0",
        "us.meta.llama3-1-405b-instruct-v1:0", "deepseek.v3-v1:0", "deepseek.v3.2", "us.deepseek.v3.2",
        "moonshot.kimi-k2-thinking", "moonshotai.kimi-k2-thinking", "minimax.minimax-m2",
        "jp.anthropic.claude-sonnet-4-5-20250929-v1:0", "au.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "jp.anthropic.claude-haiku-4-5-20251001-v1:0", "au.anthropic.claude-haiku-4-5-20251001-v1:0",
        "cohere.command-r-v1:0", "cohere.command-r-plus-v1:0", "apac.anthropic.claude-opus-4-8",
    ],
}

# Left unpriced on purpose (see the derivations in pricing/corrections.yaml): a name Azure does not list (gpt-5.3:
# Azure sells gpt-5.3-chat and gpt-5.3-codex), a higher Azure price than OpenAI's in LiteLLM 1.110.2
# (gpt-35-turbo-instruct: $1.65 / $2.20 against $1.50 / $2.00, after an earlier $1.50 / $2.00), a price no
# reference gives right (gpt-35-turbo-0301: LiteLLM's $0.20 input).
STILL_UNPRICED = {
    "azure_openai": ["gpt-5.3", "gpt-35-turbo-instruct", "gpt-35-turbo-0301"],
}


@pytest.fixture(scope="module")
def book():
    return load_price_book()


def test_the_listed_names_are_exact_names_of_the_book(book):
    missing = [f"{p}/{n}" for p, names in NOW_PRICED.items() for n in names if book.resolve_exact(p, n) is None]
    assert missing == []
    for provider, names in NOW_PRICED.items():
        for name in names:
            assert book.lookup(provider, name, AT, "standard", 1000) is not None, name


def test_the_names_left_out_stay_unpriced(book):
    priced = [f"{p}/{n}" for p, names in STILL_UNPRICED.items() for n in names if book.resolve(p, n) is not None]
    assert priced == []


# --------------------------------------------------------------------------- Azure OpenAI


@pytest.mark.parametrize(("name", "model", "usd"), [
    # 2,000 prompt tokens of which 1,500 cached (OpenAI's prompt count includes them), 300 completion tokens.
    ("gpt-5.1", "gpt-5.1", "0.0038125"),          # 500 x 1.25 + 1,500 x 0.125 + 300 x 10 = 625 + 187.5 + 3,000
    ("gpt-5.1-codex", "gpt-5.1", "0.0038125"),    # the same entry (LiteLLM azure/gpt-5.1-codex: same prices)
    ("gpt-5.2-chat", "gpt-5.2", "0.0053375"),     # 500 x 1.75 + 1,500 x 0.175 + 300 x 14 = 875 + 262.5 + 4,200
    ("gpt-5.2", "gpt-5.2", "0.0053375"),
    ("gpt-5.4", "gpt-5.4", "0.006125"),           # 500 x 2.50 + 1,500 x 0.25 + 300 x 15 = 1,250 + 375 + 4,500
    ("gpt-5.5", "gpt-5.5", "0.01225"),            # 500 x 5 + 1,500 x 0.50 + 300 x 30 = 2,500 + 750 + 9,000
])
def test_an_azure_gpt5_request_costs_openais_list_price(book, name, model, usd):
    row = book.lookup("azure_openai", name, AT, "standard", 2000)
    assert row["price_id"] == f"azure_openai/{model}@undated/standard" or row["price_id"].startswith(f"azure_openai/{model}@undated/standard/")
    assert row["source"] == AZURE_PAGE
    assert f"derived from openai/{model}" in row["note"]
    assert request_cost(row, input=500, cache_read=1500, output=300) == Decimal(usd)


def test_an_azure_gpt54_request_above_272k_pays_the_long_context_rates(book):
    """280,000 uncached input tokens, 1,000 output: 280,000 x 5 + 1,000 x 22.50 = 1,400,000 + 22,500 per 1M."""
    row = book.lookup("azure_openai", "gpt-5.4", AT, "standard", 280000)
    assert row["price_id"] == "azure_openai/gpt-5.4@undated/standard/input>272000"
    assert request_cost(row, input=280000, output=1000) == Decimal("1.4225")


def test_an_azure_o3_pro_request(book):
    """1,000 input, 500 visible output and 1,500 reasoning tokens: 1,000 x 20 + 500 x 80 + 1,500 x 80 = 180,000 per 1M."""
    row = book.lookup("azure_openai", "o3-pro", AT, "standard", 1000)
    assert row["price_id"] == "azure_openai/o3-pro@undated/standard"
    assert request_cost(row, input=1000, output=500, reasoning=1500) == Decimal("0.18")


@pytest.mark.parametrize(("name", "model"), [("gpt-5.3-chat", "gpt-5.3"), ("gpt-5.3-codex", "gpt-5.3-codex")])
def test_an_azure_gpt_5_3_request_costs_openais_price(book, name, model):
    """2,000 prompt tokens of which 1,500 cached, 300 completion tokens:
    500 x 1.75 + 1,500 x 0.175 + 300 x 14 = 875 + 262.5 + 4,200 = 5,337.5 per 1M."""
    row = book.lookup("azure_openai", name, AT, "standard", 2000)
    assert row["price_id"] == f"azure_openai/{name}@undated/standard"
    assert row["source"] == AZURE_PAGE
    assert f"derived from openai/{model}" in row["note"]
    assert request_cost(row, input=500, cache_read=1500, output=300) == Decimal("0.0053375")
    assert book.lookup("azure_openai", name, AT, "batch", 2000) is None


def test_an_azure_gpt35_turbo_0125_deployment(book):
    """Azure's gpt-35-turbo version 0125 at $0.50 / $1.50: 1,000 x 0.50 + 200 x 1.50 = 500 + 300 per 1M."""
    row = book.lookup("azure_openai", "gpt-35-turbo-0125", AT, "standard", 1000)
    assert row["price_id"] == "azure_openai/gpt-3.5-turbo@undated/standard"
    assert request_cost(row, input=1000, output=200) == Decimal("0.0008")


@pytest.mark.parametrize(("name", "model", "usd"), [
    # 3,000 prompt tokens, 400 completion tokens (these versions have no cached-input price).
    ("gpt-35-turbo-1106", "gpt-3.5-turbo-1106", "0.0038"),      # 3,000 x 1 + 400 x 2 = 3,000 + 800
    ("gpt-35-turbo-0613", "gpt-3.5-turbo-0613", "0.0053"),      # 3,000 x 1.50 + 400 x 2 = 4,500 + 800
    ("gpt-35-turbo-16k", "gpt-3.5-turbo-16k", "0.0106"),        # 3,000 x 3 + 400 x 4 = 9,000 + 1,600
    ("gpt-35-turbo-16k-0613", "gpt-3.5-turbo-16k", "0.0106"),
])
def test_an_earlier_azure_gpt35_turbo_deployment(book, name, model, usd):
    row = book.lookup("azure_openai", name, AT, "standard", 3000)
    assert row["price_id"] == f"azure_openai/{model}@undated/standard"
    assert row["source"] == AZURE_PAGE
    assert f"derived from openai/{model}" in row["note"]
    assert request_cost(row, input=3000, output=400) == Decimal(usd)
    assert book.lookup("azure_openai", name, AT, "batch", 3000) is None


def test_the_azure_gpt5_names_have_no_batch_price(book):
    """Azure's Global Batch table does not list them: a batch request stays unpriced, never $0."""
    assert book.lookup("azure_openai", "gpt-5.1", AT, "batch", 1000) is None


# --------------------------------------------------------------------------- Bedrock


@pytest.mark.parametrize(("name", "model", "usd"), [
    # 1,000 input tokens, 200 output tokens (a Converse usage object: inputTokens excludes cache reads).
    ("ai21.jamba-1-5-large-v1:0", "ai21.jamba-1-5-large-v1:0", "0.0036"),   # 1,000 x 2 + 200 x 8 = 2,000 + 1,600
    ("ai21.jamba-1-5-mini-v1:0", "ai21.jamba-1-5-mini-v1:0", "0.00028"),    # 1,000 x 0.20 + 200 x 0.40 = 200 + 80
    ("meta.llama3-1-405b-instruct-v1:0", "meta.llama3-1-405b-instruct-v1:0", "0.00288"),  # 2,400 + 480
    ("us.meta.llama3-1-405b-instruct-v1:0", "meta.llama3-1-405b-instruct-v1:0", "0.00288"),
    ("deepseek.v3-v1:0", "deepseek.v3-v1:0", "0.000916"),                   # 1,000 x 0.58 + 200 x 1.68 = 580 + 336
    ("us.deepseek.v3.2", "deepseek.v3.2", "0.00099"),                       # 1,000 x 0.62 + 200 x 1.85 = 620 + 370
    ("moonshot.kimi-k2-thinking", "moonshot.kimi-k2-thinking", "0.0011"),   # 1,000 x 0.60 + 200 x 2.50 = 600 + 500
    ("moonshotai.kimi-k2-thinking", "moonshot.kimi-k2-thinking", "0.0011"),
    ("minimax.minimax-m2", "minimax.minimax-m2", "0.00054"),                # 1,000 x 0.30 + 200 x 1.20 = 300 + 240
    ("cohere.command-r-v1:0", "cohere.command-r-v1:0", "0.0008"),           # 1,000 x 0.50 + 200 x 1.50 = 500 + 300
    ("cohere.command-r-plus-v1:0", "cohere.command-r-plus-v1:0", "0.006"),  # 1,000 x 3 + 200 x 15 = 3,000 + 3,000
])
def test_a_bedrock_request_to_a_model_genai_prices_lacks(book, name, model, usd):
    row = book.lookup("aws_bedrock", name, AT, "standard", 1000)
    assert row["price_id"] == f"aws_bedrock/{model}@undated/standard"
    assert row["source"] == BEDROCK_PAGE
    assert "LiteLLM 1.110.2" in row["note"] or "transcribed on 2025-07-20" in row["note"]
    assert request_cost(row, input=1000, output=200) == Decimal(usd)
    assert book.lookup("aws_bedrock", name, AT, "batch", 1000) is None


@pytest.mark.parametrize(("name", "model", "usd"), [
    # 120 input, 8,000 cache reads, 2,000 5-minute cache writes, 350 output tokens, at the in-Region (us.) price.
    # Sonnet 4.5: 120 x 3.30 + 8,000 x 0.33 + 2,000 x 4.125 + 350 x 16.50 = 396 + 2,640 + 8,250 + 5,775 = 17,061
    ("jp.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0", "0.017061"),
    ("au.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0", "0.017061"),
    # Haiku 4.5: 120 x 1.10 + 8,000 x 0.11 + 2,000 x 1.375 + 350 x 5.50 = 132 + 880 + 2,750 + 1,925 = 5,687
    ("jp.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0", "0.005687"),
    ("au.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0", "0.005687"),
    # Opus 4.8's APAC id: 120 x 5.50 + 8,000 x 0.55 + 2,000 x 6.875 + 350 x 27.50 = 660 + 4,400 + 13,750 + 9,625 = 28,435
    ("apac.anthropic.claude-opus-4-8", "anthropic.claude-opus-4-8-v1:0", "0.028435"),
])
def test_a_claude_request_on_the_japan_or_australia_profile_costs_the_in_region_price(book, name, model, usd):
    row = book.lookup("aws_bedrock", name, AT, "standard", 10120)
    us = book.lookup("aws_bedrock", name.replace(name.split(".")[0] + ".", "us.", 1), AT, "standard", 10120)
    assert row["price_id"] == us["price_id"]
    assert row["price_id"].startswith(f"aws_bedrock/{model}@")
    assert request_cost(row, input=120, cache_read=8000, cache_write_5m=2000, output=350) == Decimal(usd)


# --------------------------------------------------------------------------- Mistral


@pytest.mark.parametrize("name", ["mistral-small-2503", "mistral-small-3.1-24b-instruct"])
def test_a_mistral_small_3_1_request_costs_mistrals_price_not_a_resellers(book, name):
    """Mistral's API billed Small 3.1 (mistral-small-2503) at $0.10 / $0.30, as Small 3.2 (LiteLLM 1.110.2:
    mistral/mistral-small and azure_ai/mistral-small-2503 $0.10 / $0.30); genai-prices 0.2.3 carries OpenRouter's
    $0.351 / $0.555. 4,000 prompt and 600 completion tokens: 4,000 x 0.10 + 600 x 0.30 = 400 + 180 = 580 per 1M."""
    row = book.lookup("mistral", name, AT, "standard", 4000)
    assert row["price_id"] == "mistral/mistral-small-3.1-24b-instruct@undated/standard"
    assert request_cost(row, input=4000, output=600) == Decimal("0.00058")
    assert request_cost(row, input=4000, output=600) == request_cost(
        book.lookup("mistral", "mistral-small-2506", AT, "standard", 4000), input=4000, output=600)


# --------------------------------------------------------------------------- OpenAI audio snapshots


@pytest.mark.parametrize(("name", "model"), [
    ("gpt-4o-mini-tts-2025-03-20", "gpt-4o-mini-tts"), ("gpt-4o-mini-tts-2025-12-15", "gpt-4o-mini-tts"),
    ("gpt-4o-mini-transcribe-2025-03-20", "gpt-4o-mini-transcribe"),
    ("gpt-4o-mini-transcribe-2025-12-15", "gpt-4o-mini-transcribe"),
])
def test_a_dated_openai_audio_snapshot_costs_its_models_price(book, name, model):
    """The snapshots carry the undated model's price (LiteLLM 1.110.2 lists each at it). A transcription of 1,500 audio
    input tokens, 50 text prompt tokens and 400 text output tokens on gpt-4o-mini-transcribe ($1.25 text in, $3 audio
    in, $5 out): 50 x 1.25 + 1,500 x 3 + 400 x 5 = 62.5 + 4,500 + 2,000 = 6,562.5 per 1M; speech of 2,000 audio output
    tokens from 100 text tokens on gpt-4o-mini-tts ($0.60 in, $12 audio out): 60 + 24,000 = 24,060 per 1M."""
    row = book.lookup("openai", name, AT, "standard", 1550)
    assert row["price_id"] == f"openai/{model}@undated/standard"
    if model == "gpt-4o-mini-transcribe":
        assert request_cost(row, input=50, audio_input=1500, output=400) == Decimal("0.0065625")
    else:
        assert request_cost(row, input=100, audio_output=2000) == Decimal("0.02406")


@pytest.mark.parametrize(("provider", "name", "model", "usd"), [
    # 1,000 input and 1,000 output tokens. A GovCloud profile inside an ARN or a LiteLLM route: GovCloud's $3.60 / $18
    # (1.2 x the US price): 3.60 + 18 = 21.60 per 1M tokens each, not the US 3 + 15
    ("aws_bedrock", "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:inference-profile/us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0",
     "us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0", "0.0216"),
    ("aws_bedrock", "bedrock/us-gov-west-1/anthropic.claude-3-7-sonnet-20250219-v1:0", "us-gov.anthropic.claude-3-7-sonnet-20250219-v1:0", "0.0216"),
    # a foundation model invoked in GovCloud, the partition says where it ran: Claude 3 Haiku 0.30 + 1.50, not 0.25 + 1.25
    ("aws_bedrock", "arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
     "us-gov.anthropic.claude-3-haiku-20240307-v1:0", "0.0018"),
    # the EU profile of Nova Pro: 1.05 + 4.20, not the US 0.80 + 3.20
    ("aws_bedrock", "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0", "eu.amazon.nova-pro-v1:0", "0.00525"),
    ("aws_bedrock", "bedrock/eu.amazon.nova-pro-v1:0", "eu.amazon.nova-pro-v1:0", "0.00525"),
    # wrapped ids that resolved to nothing, now their own entry's: 2.50 + 15; 1.25 + 10; 0.15 + 0.60
    ("aws_bedrock", "bedrock/global.openai.gpt-5.4", "global.openai.gpt-5.4", "0.0175"),
    ("google", "projects/p/locations/global/publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro", "0.01125"),
    ("openai", "openai/gpt-4o-mini", "gpt-4o-mini-2024-07-18", "0.00075"),
])
def test_a_model_id_inside_an_arn_or_a_route_is_priced_as_that_id(book, provider, name, model, usd):
    """Bedrock logs an inference profile's ARN, LiteLLM a route (`bedrock/us-gov-west-1/<id>`), Vertex a resource path,
    OpenRouter-style clients `openai/<id>`. A generic match rule of the in-Region entry (contains
    'claude-3-7-sonnet-20250219') matched the whole name past the guards that keep `us-gov.` and `eu.` ids off it
    (17-24% low); other wrapped ids matched nothing (unpriced)."""
    assert book.resolve(provider, name) == model
    row = book.lookup(provider, name, AT, "standard", 1000)
    assert request_cost(row, input=1000, output=1000) == Decimal(usd)


def test_a_wrapped_regional_id_without_an_entry_of_its_own_stays_unpriced(book):
    """The jp. profile of Nova Lite is billed at Tokyo's price, which the book does not have: unpriced, as its bare id
    is, never the US price through the ARN."""
    assert book.resolve("aws_bedrock", "jp.amazon.nova-lite-v1:0") is None
    assert book.resolve("aws_bedrock", "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/jp.amazon.nova-lite-v1:0") is None
