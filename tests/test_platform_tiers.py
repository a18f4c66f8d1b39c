"""Platform rules in pricing/corrections.yaml, written once per platform: Bedrock batch inference and Azure OpenAI
Global Batch at half of on-demand (`platform_tiers`), Bedrock's `global.` profiles without the in-Region premium
(`global_profiles`). Real-shaped requests are priced by hand through the shipped book and through the pipeline.

Sources: Bedrock bills batch inference at 50% of on-demand for the models on "Supported Regions and models for batch
inference" (docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html); Azure's Global Batch costs
"50% less than global standard" for the models of its availability table
(learn.microsoft.com/azure/ai-foundry/openai/how-to/batch); Bedrock's in-Region and geographic ids cost 10% more
than the global cross-Region profile (docs.aws.amazon.com/bedrock/latest/userguide/global-cross-region-inference.html).
Usage objects: tests/fixtures/formats (a Bedrock Converse response, an OpenAI Chat Completions response).
"""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from helpers import envelope, land, sample_usage

from pipelines.pricing.book import PriceBookError, load_price_book
from pipelines.pricing.corrections import corrections_file_problems
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home, shipped_dir

AT = dt.datetime(2026, 11, 27, 10, tzinfo=dt.timezone.utc)
BUCKETS = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "reasoning")


@pytest.fixture(scope="module")
def book():
    return load_price_book()


def request_cost(row: dict, **tokens: int) -> Decimal:
    """USD for a request's token buckets at one price row, as core.request_costs computes it."""
    return sum((Decimal(n) * row[f"{bucket}_per_mtok"] * Decimal("0.000001") for bucket, n in tokens.items()), Decimal(0))


def bucket_prices(row: dict) -> dict:
    return {bucket: row[f"{bucket}_per_mtok"] for bucket in BUCKETS}


# --------------------------------------------------------------------------- by hand, through the book


def test_a_bedrock_claude_batch_request_costs_half_the_on_demand_rates(book):
    """A Converse batch record on the US profile of Claude Sonnet 4.6 (in-Region price $3.30 / $16.50, the 10% over
    the global profile): 120 input, 8,000 cache reads, 2,000 cache writes, 350 output tokens.
    On demand: 120 x 3.30 + 8,000 x 0.33 + 2,000 x 4.125 + 350 x 16.50 = 396 + 2,640 + 8,250 + 5,775 = 17,061 per 1M.
    Batch:     120 x 1.65 + 8,000 x 0.165 + 2,000 x 2.0625 + 350 x 8.25 = 198 + 1,320 + 4,125 + 2,887.5 = 8,530.5 per 1M."""
    name, tokens = "us.anthropic.claude-sonnet-4-6-v1:0", {"input": 120, "cache_read": 8000, "cache_write_5m": 2000, "output": 350}
    on_demand = book.lookup("aws_bedrock", name, AT, "standard", 10120)
    batch = book.lookup("aws_bedrock", name, AT, "batch", 10120)
    assert (request_cost(on_demand, **tokens), request_cost(batch, **tokens)) == (Decimal("0.017061"), Decimal("0.0085305"))
    assert bucket_prices(batch) == {bucket: price / 2 for bucket, price in bucket_prices(on_demand).items()}
    assert batch["price_id"] == "aws_bedrock/anthropic.claude-sonnet-4-6-v1:0@undated/batch"
    assert batch["source"] == on_demand["source"] == "https://aws.amazon.com/bedrock/pricing/"
    assert "batch: 0.5 x standard (https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html)" in batch["note"]
    assert "does not publish when each model joined batch" in batch["note"]


BEDROCK_BATCH = {
    "amazon.nova-lite-v1:0", "amazon.nova-micro-v1:0", "amazon.nova-pro-v1:0", "amazon.nova-premier-v1:0", "amazon.nova-2-lite-v1:0",
    "amazon.titan-embed-text-v2:0", "anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-opus-20240229-v1:0",
    "anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-sonnet-4-6-v1:0",
    "anthropic.claude-opus-4-6-v1:0", "anthropic.claude-opus-5", "meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-70b-instruct-v1:0",
    "mistral.mistral-small-2402-v1:0", "openai.gpt-oss-20b-1:0", "openai.gpt-oss-120b-1:0",
    # LiteLLM 1.110.2 prices these ids in batch at exactly half of the book's on-demand price
    "anthropic.claude-sonnet-4-5-20250929-v1:0", "meta.llama3-3-70b-instruct-v1:0", "meta.llama4-maverick-17b-instruct-v1:0",
    "meta.llama4-scout-17b-instruct-v1:0", "mistral.devstral-2-123b", "mistral.magistral-small-2509", "mistral.ministral-3-3b-instruct",
    "mistral.ministral-3-14b-instruct", "mistral.mistral-large-3-675b-instruct", "mistral.voxtral-mini-3b-2507",
    "mistral.voxtral-small-24b-2507", "qwen.qwen3-32b-v1:0", "qwen.qwen3-coder-30b-a3b-v1:0", "google.gemma-3-4b-it",
    "nvidia.nemotron-nano-3-30b:0", "nvidia.nemotron-super-3-120b:0", "zai.glm-5.3",
}
AZURE_BATCH = {"gpt-4o", "gpt-4o-2024-05-13", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-5", "o3-2025-04-16", "o4-mini",
               "o3-mini", "gpt-4-turbo", "gpt-4", "gpt-3.5-turbo"}


@pytest.mark.parametrize(("provider", "listed"), [("aws_bedrock", BEDROCK_BATCH), ("azure_openai", AZURE_BATCH)])
def test_exactly_the_listed_models_have_batch_and_every_batch_row_is_half_its_standard_row(book, provider, listed):
    """The rule is the only source of these platforms' batch prices: same versions and bands as on demand, half of
    every bucket (an unpriced bucket stays unpriced: Titan Text Embeddings V2 has no output price either way)."""
    rows = [r for r in book.prices.to_pylist() if r["provider"] == provider]
    assert {r["model"] for r in rows if r["service_tier"] == "batch"} == listed
    for model in listed:
        standard = {(r["effective_from"], r["input_tokens_from"]): r for r in rows if r["model"] == model and r["service_tier"] == "standard"}
        batch = {(r["effective_from"], r["input_tokens_from"]): r for r in rows if r["model"] == model and r["service_tier"] == "batch"}
        assert batch.keys() == standard.keys(), model
        for key, row in batch.items():
            halved = {b: None if p is None else p / 2 for b, p in bucket_prices(standard[key]).items()}
            assert bucket_prices(row) == halved, (model, key)
    if provider == "aws_bedrock":
        assert book.lookup(provider, "amazon.titan-embed-text-v2:0", AT, "batch")["output_per_mtok"] is None


def test_an_azure_gpt_4o_global_batch_request_costs_openais_batch_price(book):
    """The OpenAI sample response on a gpt-4o-2024-08-06 Global Batch deployment: 2,006 prompt tokens of which 1,920
    cached, 300 completion tokens. 86 x 1.25 + 1,920 x 0.625 + 300 x 5 = 107.5 + 1,200 + 1,500 = 2,807.5 per 1M:
    half of the Global Standard cost (5,615, pricing/README.md's worked example) and OpenAI's own batch price."""
    tokens = {"input": 86, "cache_read": 1920, "output": 300}
    azure = book.lookup("azure_openai", "gpt-4o-2024-08-06", AT, "batch", 2006)
    openai = book.lookup("openai", "gpt-4o-2024-08-06", AT, "batch", 2006)
    assert request_cost(azure, **tokens) == request_cost(openai, **tokens) == Decimal("0.0028075")
    assert request_cost(book.lookup("azure_openai", "gpt-4o-2024-08-06", AT, "standard", 2006), **tokens) == Decimal("0.005615")
    assert azure["price_id"] == "azure_openai/gpt-4o@undated/batch"
    assert "Azure OpenAI Global Batch costs 50% less than Global Standard" in azure["note"]


@pytest.mark.parametrize("name", ["gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"])
def test_a_gpt_4o_batch_request_costs_the_same_whichever_spelling_the_log_carries(book, name):
    """The same batch request as above, 86 x 1.25 + 1,920 x 0.625 + 300 x 5 = 2,807.5 per 1M, on the undated name too
    (genai-prices gives gpt-4o's batch variant no cached price; the import kept the standard $1.25: 4,007.5)."""
    row = book.lookup("openai", name, AT, "batch", 2006)
    assert request_cost(row, input=86, cache_read=1920, output=300) == Decimal("0.0028075")


@pytest.mark.parametrize(("azure", "openai"), [
    ("gpt-4o", "gpt-4o"), ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"), ("gpt-4o-2024-11-20", "gpt-4o-2024-11-20"),
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("gpt-4.1", "gpt-4.1"), ("gpt-4.1-mini", "gpt-4.1-mini"), ("gpt-4.1-nano", "gpt-4.1-nano"), ("gpt-5", "gpt-5"),
    ("o3", "o3"), ("o4-mini", "o4-mini"), ("o3-mini", "o3-mini"), ("gpt-4-turbo", "gpt-4-turbo"), ("gpt-4-0613", "gpt-4"),
    ("gpt-35-turbo", "gpt-3.5-turbo-0125"),
])
def test_every_azure_global_batch_model_costs_what_openai_charges_in_batch(book, azure, openai):
    """Global Standard is OpenAI's standard price, so half of it is OpenAI's batch price, cached input included."""
    ours, theirs = book.lookup("azure_openai", azure, AT, "batch"), book.lookup("openai", openai, AT, "batch")
    assert ours is not None and theirs is not None
    assert bucket_prices(ours) == bucket_prices(theirs), azure


def test_the_batch_tier_starts_where_the_standard_price_does(book):
    """Azure o3 has no price before 2025-06-10 (a correction: the earlier list price is not verified); Global Batch
    follows it, and so does its request confidence: an undated standard price gives an undated batch price."""
    assert book.lookup("azure_openai", "o3", dt.datetime(2025, 6, 9, 23, 59, tzinfo=dt.timezone.utc), "batch") is None
    o3 = book.lookup("azure_openai", "o3", dt.datetime(2025, 6, 10, tzinfo=dt.timezone.utc), "batch")
    assert (o3["price_id"], o3["input_per_mtok"], o3["cache_read_per_mtok"], o3["output_per_mtok"]) == (
        "azure_openai/o3-2025-04-16@2025-06-10/batch", Decimal("1"), Decimal("0.25"), Decimal("4"))
    early = book.lookup("aws_bedrock", "anthropic.claude-3-haiku-20240307-v1:0", dt.datetime(2024, 3, 14, tzinfo=dt.timezone.utc), "batch")
    assert early["effective_from"] is None and early["price_id"].endswith("@undated/batch")


@pytest.mark.parametrize(("provider", "name"), [
    ("aws_bedrock", "us.anthropic.claude-sonnet-5"),  # not on Bedrock's batch list
    ("aws_bedrock", "anthropic.claude-fable-5-1-v1:0"),  # not on it either
    ("aws_bedrock", "global.anthropic.claude-sonnet-4-6-v1:0"),  # batch jobs name an in-Region or geographic id
    ("aws_bedrock", "anthropic.claude-v2"),
    ("aws_bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0"),  # no evidence of a Bedrock batch price
    ("aws_bedrock", "us.anthropic.claude-opus-4-5-v1:0"),  # nor here
    ("aws_bedrock", "us.meta.llama3-2-90b-instruct-v1:0"),  # nor here
    ("aws_bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("aws_bedrock", "google.gemma-3-12b-it"),  # LiteLLM's batch price is not half of on-demand ($0.05 for $0.09)
    ("azure_openai", "gpt-5-mini"),  # not in Azure's Global Batch table
    ("azure_openai", "o1"),
])
def test_a_model_the_platform_does_not_sell_in_batch_has_no_batch_price(book, provider, name):
    assert book.lookup(provider, name, AT, "standard") is not None
    assert book.lookup(provider, name, AT, "batch") is None


def test_bedrock_global_profiles_of_the_openai_models_come_from_the_rule(book):
    """The global profile of gpt-5.4 is its own imported entry at the in-Region price / 1.10 (2.75 -> 2.50,
    0.275 -> 0.25, 16.50 -> 15): 1,000 input and 200 output tokens cost 2,500 + 3,000 = 5,500 per 1M; the us. id
    10% more (2,750 + 3,300 = 6,050)."""
    tokens = {"input": 1000, "output": 200}
    everywhere, us = book.lookup("aws_bedrock", "global.openai.gpt-5.4", AT), book.lookup("aws_bedrock", "us.openai.gpt-5.4", AT)
    assert (request_cost(everywhere, **tokens), request_cost(us, **tokens)) == (Decimal("0.0055"), Decimal("0.00605"))
    assert everywhere["book_file"] == "imported/aws_bedrock.yaml"
    assert "aws_bedrock/openai.gpt-5.4's price / 1.10" in everywhere["note"]
    assert book.resolve("aws_bedrock", "global.openai.gpt-5.5") == "global.openai.gpt-5.5"


# --------------------------------------------------------------------------- through the pipeline


def test_batch_requests_on_bedrock_and_azure_are_priced_by_the_pipeline(home: Home):
    converse = sample_usage("bedrock_converse_usage.json")  # 120 in, 8000 cache read, 2000 cache write, 350 out
    chat = sample_usage("openai_chat_completions_usage.json")  # 2006 prompt (1920 cached), 300 completion
    lines = [
        envelope("br-batch", "aws_bedrock", "us.anthropic.claude-sonnet-4-6-v1:0", converse, service_tier="batch"),
        envelope("br-on-demand", "aws_bedrock", "us.anthropic.claude-sonnet-4-6-v1:0", converse),
        envelope("br-sonnet-5", "aws_bedrock", "us.anthropic.claude-sonnet-5", converse, service_tier="batch"),
        envelope("br-global", "aws_bedrock", "global.openai.gpt-5.4", {"inputTokens": 1000, "outputTokens": 200, "totalTokens": 1200}),
        envelope("az-batch", "azure_openai", "gpt-4o-2024-08-06", chat, service_tier="batch"),
        envelope("oa-batch", "openai", "gpt-4o-2024-08-06", chat, service_tier="batch"),
        envelope("az-mini", "azure_openai", "gpt-5-mini", chat, service_tier="batch"),
    ]
    land(home, "platform_tiers.jsonl", lines)
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select reason from audit.rejected_rows").fetchall() == []
        rows = {r[0]: r[1:] for r in con.execute(
            "select request_id, service_tier, price_id, cost_usd, unpriced_reason, price_confidence from core.request_costs").fetchall()}
    priced = {k: (v[0], v[1], v[2].normalize() if v[2] is not None else None, v[3]) for k, v in rows.items()}
    assert priced == {
        "br-batch": ("batch", "aws_bedrock/anthropic.claude-sonnet-4-6-v1:0@undated/batch", Decimal("0.0085305"), None),
        "br-on-demand": ("standard", "aws_bedrock/anthropic.claude-sonnet-4-6-v1:0@undated/standard", Decimal("0.017061"), None),
        "br-sonnet-5": ("batch", None, None, "unknown_tier"),
        "br-global": ("standard", "aws_bedrock/global.openai.gpt-5.4@undated/standard/input<=272000", Decimal("0.0055"), None),
        "az-batch": ("batch", "azure_openai/gpt-4o@undated/batch", Decimal("0.0028075"), None),
        "oa-batch": ("batch", "openai/gpt-4o-2024-08-06@2024-10-01/batch", Decimal("0.0028075"), None),
        "az-mini": ("batch", None, None, "unknown_tier"),
    }
    assert rows["az-batch"][4] == "undated" and rows["oa-batch"][4] == "dated"


# --------------------------------------------------------------------------- the rules' own errors


def _corrections(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "corrections.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_bad_rule_is_refused_with_errors_naming_the_entry(tmp_path):
    path = _corrections(tmp_path, """
        platform_tiers:
          - {provider: aws_bedrock, add: batch, from: standard, multiplier: 0.5, models: [x], reason: r, source: https://x}
          - provider: aws_bedrock
            add: turbo
            from: standard
            multiplier: -1
            models: [a, a]
            source: https://x
            start: 2024-08-01
          - {provider: azure_openai, add: batch, from: batch, multiplier: true, models: gpt-4o, reason: r, source: https://x}
          - {provider: google, add: flex, from: standard, multiplier: 0.5, models: [g], unpriced: [cached], reason: r, source: https://x}
        global_profiles:
          - {provider: aws_bedrock, prefix: global, premium: 0.9, models: [], reason: r, source: https://x, checked: soon}
        platform_rules: []
    """)
    assert corrections_file_problems(path) == [
        "corrections.yaml: unknown key 'platform_rules' (known: corrections, tier_history, derivations, global_profiles, "
        "platform_tiers, priced_apart)",
        "corrections.yaml: global_profiles[0] aws_bedrock: missing 'models'",
        "corrections.yaml: global_profiles[0] aws_bedrock: prefix must be the profile's name prefix ending in a dot, such as "
        "'global.', got 'global'",
        "corrections.yaml: global_profiles[0] aws_bedrock: premium must be a number above 1 (the other ids' price over the "
        "profile's), got 0.9",
        "corrections.yaml: global_profiles[0] aws_bedrock: checked is not a date (YYYY-MM-DD)",
        "corrections.yaml: platform_tiers[1] aws_bedrock/turbo: unknown key 'start' (known: add, checked, from, models, "
        "multiplier, provider, reason, source, unpriced)",
        "corrections.yaml: platform_tiers[1] aws_bedrock/turbo: missing 'reason'",
        "corrections.yaml: platform_tiers[1] aws_bedrock/turbo: add must be one of standard, batch, flex, priority, got 'turbo'",
        "corrections.yaml: platform_tiers[1] aws_bedrock/turbo: multiplier must be a positive number, got -1",
        "corrections.yaml: platform_tiers[1] aws_bedrock/turbo: models lists a more than once",
        "corrections.yaml: platform_tiers[2] azure_openai/batch: add and from name the same tier",
        "corrections.yaml: platform_tiers[2] azure_openai/batch: multiplier must be a positive number, got true",
        "corrections.yaml: platform_tiers[2] azure_openai/batch: models must be a non-empty list of model names, got 'gpt-4o'",
        "corrections.yaml: platform_tiers[3] google/flex: unpriced must be a non-empty list of buckets (input, cache_read, "
        "cache_write_5m, cache_write_1h, output, reasoning, audio_input, audio_output, image_input, image_output), got ['cached']",
    ]


def test_the_shipped_corrections_file_validates():
    assert corrections_file_problems(shipped_dir("pricing") / "corrections.yaml") == []


def test_a_rule_the_import_cannot_apply_fails_it_naming_the_rule_and_the_model(tmp_path):
    pytest.importorskip("genai_prices")
    from pipelines.pricing.genai_import import import_genai_prices

    path = _corrections(tmp_path, """
        global_profiles:
          - {provider: aws_bedrock, prefix: global., premium: 1.1, reason: r, source: https://x,
             models: ["anthropic.claude-sonnet-4-6-v1:0", openai.gpt-5.4]}
          - {provider: aws_bedrock, prefix: global., premium: 1.3, reason: r, source: https://x, models: [openai.gpt-5.5]}
        platform_tiers:
          - {provider: aws_bedrock, add: batch, from: standard, multiplier: 0.5, reason: r, source: https://x,
             models: ["anthropic.claude-sonnet-9-v1:0", openai.gpt-5.4]}
          - {provider: openai, add: batch, from: standard, multiplier: 0.5, reason: r, source: https://x, models: [gpt-4o]}
          - {provider: aws_bedrock, add: priority, from: flex, multiplier: 1.75, reason: r, source: https://x, models: [openai.gpt-5.5]}
          - {provider: azure_openai, add: flex, from: standard, multiplier: 0.3333333333, reason: r, source: https://x, models: [o4-mini]}
    """)
    with pytest.raises(PriceBookError) as raised:
        import_genai_prices(tmp_path / "imported", path)
    message = str(raised.value)
    assert ("global_profiles[0] aws_bedrock: anthropic.claude-sonnet-4-6-v1:0: global.anthropic.claude-sonnet-4-6-v1:0 is already "
            "priced by global.anthropic.claude-sonnet-4-6-v1:0 (genai-prices has it now?): take anthropic.claude-sonnet-4-6-v1:0 "
            "off the list") in message
    assert "global_profiles[1] aws_bedrock: openai.gpt-5.5@undated/standard: input 5.5 / 1.3 is not a price with at most 9 decimals" in message
    assert "platform_tiers[0] aws_bedrock/batch: anthropic.claude-sonnet-9-v1:0: no such imported model" in message
    assert "platform_tiers[1] openai/batch: gpt-4o already has a batch price (from genai-prices or another rule): take it off the list" in message
    assert "platform_tiers[2] aws_bedrock/priority: openai.gpt-5.5 has no flex price to derive priority from" in message
    assert "platform_tiers[3] azure_openai/flex: o4-mini@undated: input 1.1 x 0.3333333333 is not a price with at most 9 decimals" in message
    assert not (tmp_path / "imported").exists()


def test_an_imported_rule_scales_long_context_rates_and_keeps_fees(tmp_path):
    """A rule on a model with a cliff (Claude Haiku 5.5 on Bedrock: above 100K input tokens every token pays the
    long-context rate) and on one with a web-search fee (OpenAI's gpt-4o-mini flex, for the test): the cliff moves
    with the tier, its rates scale, the fee does not."""
    pytest.importorskip("genai_prices")
    from pipelines.pricing.genai_import import import_genai_prices

    path = _corrections(tmp_path, """
        platform_tiers:
          - {provider: aws_bedrock, add: batch, from: standard, multiplier: 0.5, reason: test, source: https://example.com/batch,
             models: [anthropic.claude-haiku-5-5]}
          - {provider: openai, add: flex, from: standard, multiplier: 0.5, reason: test, source: https://example.com/flex,
             models: [gpt-4o-mini]}
    """)
    result = import_genai_prices(tmp_path / "imported", path)
    assert result.platform == ["platform_tiers[0] aws_bedrock/batch: batch at 0.5 x standard for 1 model",
                               "platform_tiers[1] openai/flex: flex at 0.5 x standard for 1 model"]
    book = load_price_book(tmp_path / "imported")
    short, long = (book.lookup("aws_bedrock", "us.anthropic.claude-haiku-5-5", AT, "batch", n) for n in (100_000, 100_001))
    assert (short["input_per_mtok"], short["output_per_mtok"], long["input_per_mtok"], long["output_per_mtok"]) == (
        Decimal("0.055"), Decimal("0.275"), Decimal("0.275"), Decimal("1.375"))
    assert long["price_id"] == "aws_bedrock/anthropic.claude-haiku-5-5@undated/batch/input>100000"
    flex = book.lookup("openai", "gpt-4o-mini", dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc), "flex")
    assert (flex["input_per_mtok"], flex["web_search_per_1k"]) == (Decimal("0.075"), Decimal("10"))
