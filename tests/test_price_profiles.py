"""Issue #17, "Known wrong": Bedrock cross-Region profiles billed at another Region's price than the US one.

A Bedrock cross-Region request is billed at its source Region's price (aws.amazon.com/bedrock/pricing). genai-prices
0.2.3 lets the in-Region (US) entries answer to `us-gov.` ids (AWS GovCloud, about 20% dearer) and to every `jp.` id
(Tokyo), so those requests were priced about 20% low. `priced_apart` in pricing/corrections.yaml keeps the imported
entries off those ids; the ones with a published price have curated entries in pricing/list/aws_bedrock.yaml, and
any other stays unpriced (`unknown_model`), never priced at the US price and never at $0.

Sources (each price written out by hand below):
- GovCloud: the us-gov-west-1 on-demand prices of aws.amazon.com/bedrock/pricing as LiteLLM 1.110.2 gives them for the
  us-gov. and bedrock/us-gov-west-1/ ids: Claude 3 Haiku $0.30 / $1.50 (US $0.25 / $1.25); Claude Sonnet 4.5 $3.60 /
  $18.00, cache read $0.36, 5-minute write $4.50, 1-hour write $7.20, above 200K input tokens $7.20 / $27.00 (the
  page's us-gov-west-1 row is quoted in https://github.com/BerriAI/litellm/issues/27120); Claude Haiku 5.5 $0.12 /
  $0.60, above 100K $0.60 / $3.00; gpt-oss-120b $0.18 / $0.72 (US $0.15 / $0.60).
- Nova 2 Lite's jp. profile: LiteLLM 1.110.2 (jp.amazon.nova-2-lite-v1:0) $0.396 / $3.311, cache read $0.099, against
  the us. profile's $0.33 / $2.75 / $0.0825 (genai-prices 0.2.3, aws.amazon.com/nova/pricing).
- Claude's jp. profiles: LiteLLM 1.110.2 prices them at the us. price (Sonnet 4.6 $3.30 / $16.50).
- eu. / apac. profiles of Nova and Llama 3.2 (LiteLLM 1.110.2, the eu. / apac. ids): Nova Pro eu. $1.05 / $4.20, cache
  read $0.2625 (us. $0.80 / $3.20 / $0.20); Nova Micro apac. $0.037 / $0.148, cache read $0.00925; Nova 2 Lite eu.
  $0.429 / $3.597, cache read $0.10725; Llama 3.2 1B eu. $0.13 / $0.13. Their other eu. / apac. ids (Claude, Llama 3.1)
  LiteLLM prices at the us. price.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from helpers import envelope, land, sample_usage
from test_platform_tiers import AT, request_cost

from pipelines.pricing.book import PriceBookError, load_price_book
from pipelines.pricing.corrections import corrections_file_problems
from pipelines.pricing.match_rules import rule_matches
from pipelines.pricing.priced_apart import can_match_prefixed, refuse_prefix, targets_prefix
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

BEDROCK_PAGE = "https://aws.amazon.com/bedrock/pricing/"


@pytest.fixture(scope="module")
def book():
    return load_price_book()


# --------------------------------------------------------------------------- GovCloud, by hand


def test_a_govcloud_claude_3_haiku_request_costs_the_govcloud_price(book):
    """1,000 input and 200 output tokens on the us-gov. profile: 1,000 x 0.30 + 200 x 1.50 = 300 + 300 = 600 per 1M.
    The same request on the US profile: 1,000 x 0.25 + 200 x 1.25 = 250 + 250 = 500 per 1M, a sixth less."""
    row = book.lookup("aws_bedrock", "us-gov.anthropic.claude-3-haiku-20240307-v1:0", AT, "standard", 1000)
    assert row["price_id"] == "aws_bedrock/us-gov.anthropic.claude-3-haiku-20240307-v1:0@undated/standard"
    assert row["source"] == BEDROCK_PAGE
    assert request_cost(row, input=1000, output=200) == Decimal("0.0006")
    us = book.lookup("aws_bedrock", "us.anthropic.claude-3-haiku-20240307-v1:0", AT, "standard", 1000)
    assert us["price_id"] == "aws_bedrock/anthropic.claude-3-haiku-20240307-v1:0@undated/standard"
    assert request_cost(us, input=1000, output=200) == Decimal("0.0005")


def test_a_govcloud_claude_sonnet_4_5_request_with_cache_reads_and_writes(book):
    """The Converse sample: 120 input, 8,000 cache reads, 2,000 5-minute cache writes, 350 output tokens.
    120 x 3.60 + 8,000 x 0.36 + 2,000 x 4.50 + 350 x 18.00 = 432 + 2,880 + 9,000 + 6,300 = 18,612 per 1M
    (in-Region US: 17,061)."""
    row = book.lookup("aws_bedrock", "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", AT, "standard", 10120)
    assert row["price_id"] == "aws_bedrock/us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0@undated/standard/input<=200000"
    assert request_cost(row, input=120, cache_read=8000, cache_write_5m=2000, output=350) == Decimal("0.018612")


def test_a_govcloud_claude_sonnet_4_5_prompt_above_200k_pays_the_long_context_rates(book):
    """210,000 uncached input and 1,000 output tokens: 210,000 x 7.20 + 1,000 x 27.00 = 1,512,000 + 27,000 per 1M;
    one 1-hour cache write of 10,000 tokens on top: 10,000 x 14.40 = 144,000."""
    row = book.lookup("aws_bedrock", "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", AT, "standard", 220000)
    assert row["price_id"] == "aws_bedrock/us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0@undated/standard/input>200000"
    assert request_cost(row, input=210000, cache_write_1h=10000, output=1000) == Decimal("1.683")


def test_a_govcloud_claude_haiku_5_5_request_on_both_sides_of_its_100k_cliff(book):
    """Haiku 5.5 in GovCloud: 100,000 input and 500 output tokens stay at 100,000 x 0.12 + 500 x 0.60 = 12,000 + 300;
    100,001 input tokens bill every token at 100,001 x 0.60 + 500 x 3.00 = 60,000.6 + 1,500."""
    for name in ("us-gov.anthropic.claude-haiku-5-5", "us-gov.anthropic.claude-haiku-5-5-v1:0"):
        short = book.lookup("aws_bedrock", name, AT, "standard", 100000)
        long = book.lookup("aws_bedrock", name, AT, "standard", 100001)
        assert short["price_id"] == "aws_bedrock/us-gov.anthropic.claude-haiku-5-5@undated/standard/input<=100000"
        assert request_cost(short, input=100000, output=500) == Decimal("0.0123")
        assert request_cost(long, input=100001, output=500) == Decimal("0.0615006")


def test_a_govcloud_gpt_oss_request(book):
    """gpt-oss-120b: 2,000 input and 1,000 output tokens: 2,000 x 0.18 + 1,000 x 0.72 = 360 + 720 = 1,080 per 1M."""
    row = book.lookup("aws_bedrock", "us-gov.openai.gpt-oss-120b-1:0", AT, "standard", 2000)
    assert row["price_id"] == "aws_bedrock/us-gov.openai.gpt-oss-120b-1:0@undated/standard"
    assert request_cost(row, input=2000, output=1000) == Decimal("0.00108")


def test_govcloud_ids_have_no_batch_price(book):
    """Only the standard tier is curated: a batch request stays unpriced (`unknown_tier`), not priced at the US batch price."""
    assert book.lookup("aws_bedrock", "us-gov.anthropic.claude-3-haiku-20240307-v1:0", AT, "batch", 1000) is None


@pytest.mark.parametrize("name", [
    "us-gov.meta.llama3-70b-instruct-v1:0",            # no GovCloud price in the book: reached `contains: meta.llama3-70b`
    "us-gov.amazon.nova-pro-v1:0",                    # reached `contains: amazon.nova-pro`
    "us-gov.anthropic.claude-opus-4-6-v1:0",          # reached genai-prices' `contains: us-gov.anthropic.claude-opus-4-6`
    "us-gov.anthropic.claude-3-5-haiku-20241022-v1:0",
    "jp.amazon.nova-lite-v1:0",                       # Tokyo's Nova Lite price is not the US one
    "jp.anthropic.claude-opus-4-6-v1:0",              # no jp. price in LiteLLM 1.110.2: not kept
    "jp.meta.llama3-3-70b-instruct-v1:0",
])
def test_a_profile_priced_apart_without_a_published_price_stays_unknown(book, name):
    assert book.resolve("aws_bedrock", name) is None


# --------------------------------------------------------------------------- Japan, by hand


def test_a_nova_2_lite_request_on_the_japan_profile_costs_the_tokyo_price(book):
    """1,000 input, 4,000 cache reads and 300 output tokens.
    jp.: 1,000 x 0.396 + 4,000 x 0.099 + 300 x 3.311 = 396 + 396 + 993.3 = 1,785.3 per 1M.
    us.: 1,000 x 0.33 + 4,000 x 0.0825 + 300 x 2.75 = 330 + 330 + 825 = 1,485 per 1M."""
    jp = book.lookup("aws_bedrock", "jp.amazon.nova-2-lite-v1:0", AT, "standard", 5000)
    assert jp["price_id"] == "aws_bedrock/jp.amazon.nova-2-lite-v1:0@undated/standard"
    assert request_cost(jp, input=1000, cache_read=4000, output=300) == Decimal("0.0017853")
    us = book.lookup("aws_bedrock", "us.amazon.nova-2-lite-v1:0", AT, "standard", 5000)
    assert us["price_id"] == "aws_bedrock/amazon.nova-2-lite-v1:0@undated/standard"
    assert request_cost(us, input=1000, cache_read=4000, output=300) == Decimal("0.001485")
    assert book.lookup("aws_bedrock", "jp.amazon.nova-2-lite-v1:0", AT, "batch", 5000) is None


@pytest.mark.parametrize(("name", "model"), [
    ("jp.anthropic.claude-sonnet-4-6-v1:0", "anthropic.claude-sonnet-4-6-v1:0"),
    ("jp.anthropic.claude-sonnet-4-6", "anthropic.claude-sonnet-4-6-v1:0"),
    ("jp.anthropic.claude-opus-4-8", "anthropic.claude-opus-4-8-v1:0"),
    ("jp.anthropic.claude-sonnet-5", "anthropic.claude-sonnet-5-v1:0"),
    ("jp.anthropic.claude-haiku-5-5", "anthropic.claude-haiku-5-5"),
])
def test_the_kept_claude_japan_profiles_cost_the_us_price(book, name, model):
    """Sonnet 4.6 with the Converse sample: 120 x 3.30 + 8,000 x 0.33 + 2,000 x 4.125 + 350 x 16.50 = 17,061 per 1M."""
    row = book.lookup("aws_bedrock", name, AT, "standard", 10120)
    assert row["price_id"].startswith(f"aws_bedrock/{model}@undated/standard")
    if model == "anthropic.claude-sonnet-4-6-v1:0":
        assert request_cost(row, input=120, cache_read=8000, cache_write_5m=2000, output=350) == Decimal("0.017061")


@pytest.mark.parametrize(("name", "model"), [
    ("us.amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"),
    ("amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
    ("global.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
    ("eu.anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0"),
    ("apac.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"),
    ("eu.meta.llama3-1-8b-instruct-v1:0", "meta.llama3-1-8b-instruct-v1:0"),
    ("apac.meta.llama3-2-1b-instruct-v1:0", "meta.llama3-2-1b-instruct-v1:0"),  # only eu. is priced apart for Llama 3.2
    ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0"),
    ("bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic.claude-3-5-haiku-20241022-v1:0"),  # a guarded rule
    ("us.meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0"),
])
def test_the_other_spellings_still_reach_the_in_region_price(book, name, model):
    assert book.resolve("aws_bedrock", name) == model


# --------------------------------------------------------------------------- Europe and Asia Pacific, by hand


@pytest.mark.parametrize(("name", "usd"), [
    # 1,000 input, 4,000 cache reads and 300 output tokens.
    ("eu.amazon.nova-pro-v1:0", "0.00336"),         # 1,000 x 1.05 + 4,000 x 0.2625 + 300 x 4.20 = 1,050 + 1,050 + 1,260
    ("us.amazon.nova-pro-v1:0", "0.00256"),         # 1,000 x 0.80 + 4,000 x 0.20 + 300 x 3.20 = 800 + 800 + 960
    ("apac.amazon.nova-micro-v1:0", "0.0001184"),   # 1,000 x 0.037 + 4,000 x 0.00925 + 300 x 0.148 = 37 + 37 + 44.4
    ("eu.amazon.nova-2-lite-v1:0", "0.0019371"),    # 1,000 x 0.429 + 4,000 x 0.10725 + 300 x 3.597 = 429 + 429 + 1,079.1
])
def test_a_nova_request_on_the_eu_or_apac_profile_costs_that_regions_price(book, name, usd):
    row = book.lookup("aws_bedrock", name, AT, "standard", 5000)
    model = name if not name.startswith("us.") else name[3:]
    assert row["price_id"] == f"aws_bedrock/{model}@undated/standard"
    assert request_cost(row, input=1000, cache_read=4000, output=300) == Decimal(usd)


def test_a_llama_3_2_request_on_the_eu_profile_and_the_tiers_left_unpriced(book):
    """2,000 input and 500 output tokens at $0.13 / $0.13: 2,500 x 0.13 = 325 per 1M (us.: 2,500 x 0.10 = 250)."""
    row = book.lookup("aws_bedrock", "eu.meta.llama3-2-1b-instruct-v1:0", AT, "standard", 2000)
    assert row["price_id"] == "aws_bedrock/eu.meta.llama3-2-1b-instruct-v1:0@undated/standard"
    assert request_cost(row, input=2000, output=500) == Decimal("0.000325")
    # No EU batch price is published in either reference: unpriced, not the US batch price.
    assert book.lookup("aws_bedrock", "eu.amazon.nova-pro-v1:0", AT, "batch", 1000) is None
    assert book.lookup("aws_bedrock", "eu.amazon.nova-pro-v1:0", AT, "flex", 1000)["price_id"] == (
        "aws_bedrock/eu.amazon.nova-pro-v1:0@undated/flex")


# --------------------------------------------------------------------------- through the pipeline


def test_the_pipeline_prices_govcloud_and_japan_profiles_apart(home: Home):
    converse = sample_usage("bedrock_converse_usage.json")  # 120 in, 8000 cache read, 2000 cache write, 350 out
    lines = [
        envelope("gov-sonnet", "aws_bedrock", "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0", converse),
        envelope("gov-haiku", "aws_bedrock", "us-gov.anthropic.claude-3-haiku-20240307-v1:0",
                 {"inputTokens": 1000, "outputTokens": 200, "totalTokens": 1200}),
        envelope("gov-llama", "aws_bedrock", "us-gov.meta.llama3-70b-instruct-v1:0",
                 {"inputTokens": 1000, "outputTokens": 200, "totalTokens": 1200}),
        envelope("jp-nova", "aws_bedrock", "jp.amazon.nova-2-lite-v1:0",
                 {"inputTokens": 1000, "outputTokens": 300, "cacheReadInputTokens": 4000, "totalTokens": 5300}),
        envelope("jp-nova-lite", "aws_bedrock", "jp.amazon.nova-lite-v1:0",
                 {"inputTokens": 1000, "outputTokens": 300, "totalTokens": 1300}),
        envelope("jp-sonnet", "aws_bedrock", "jp.anthropic.claude-sonnet-4-6-v1:0", converse),
    ]
    land(home, "profiles.jsonl", lines)
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select reason from audit.rejected_rows").fetchall() == []
        rows = {r[0]: (r[1], r[2].normalize() if r[2] is not None else None, r[3]) for r in con.execute(
            "select request_id, price_id, cost_usd, unpriced_reason from core.request_costs").fetchall()}
        coverage = con.execute(
            "select model, unpriced_reasons, requests from marts.price_coverage where requests > 0 order by model").fetchall()
    assert rows == {
        "gov-sonnet": ("aws_bedrock/us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0@undated/standard/input<=200000",
                       Decimal("0.018612"), None),
        "gov-haiku": ("aws_bedrock/us-gov.anthropic.claude-3-haiku-20240307-v1:0@undated/standard", Decimal("0.0006"), None),
        "gov-llama": (None, None, "unknown_model"),
        "jp-nova": ("aws_bedrock/jp.amazon.nova-2-lite-v1:0@undated/standard", Decimal("0.0017853"), None),
        "jp-nova-lite": (None, None, "unknown_model"),
        "jp-sonnet": ("aws_bedrock/anthropic.claude-sonnet-4-6-v1:0@undated/standard", Decimal("0.017061"), None),
    }
    assert coverage == [("jp.amazon.nova-lite-v1:0", "unknown_model", 1), ("us-gov.meta.llama3-70b-instruct-v1:0", "unknown_model", 1)]


# --------------------------------------------------------------------------- the rule itself


def test_which_match_rules_the_rule_drops_guards_or_leaves():
    prefix = "us-gov."
    assert targets_prefix({"contains": "us-gov.anthropic.claude-opus-4-6"}, prefix)
    assert targets_prefix({"all": [{"starts_with": "US-GOV.x"}, {"regex": "y"}]}, prefix)
    assert not targets_prefix({"contains": "us.anthropic.claude-opus-4-6"}, prefix)
    assert not can_match_prefixed({"starts_with": "anthropic.claude-opus-4-6"}, prefix)
    assert can_match_prefixed({"starts_with": "us-"}, prefix)
    assert can_match_prefixed({"contains": "claude-3-5-haiku"}, prefix)
    assert can_match_prefixed({"ends_with": "amazon.titan-embed-text"}, prefix)
    assert not can_match_prefixed({"all": [{"contains": "x"}, refuse_prefix(prefix)]}, prefix)
    guard = refuse_prefix(prefix)
    assert guard == {"regex": "^(?!us-gov\\.)"}
    assert [rule_matches(guard, name) for name in ("us-gov.a", "us.a", "a.us-gov.b", "us-govx")] == [False, True, True, True]


def _corrections(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "corrections.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_bad_priced_apart_rule_is_refused_naming_the_entry(tmp_path):
    path = _corrections(tmp_path, """
        priced_apart:
          - {provider: aws_bedrock, prefix: us-gov, reason: r, source: https://x, keep: [a, a]}
          - {provider: aws_bedrock, prefix: JP., source: https://x, keep: model, premium: 1.2, checked: soon}
          - {provider: aws_bedrock, prefix: eu., reason: r, source: https://x, keep: [a], only: [b]}
    """)
    assert corrections_file_problems(path) == [
        "corrections.yaml: priced_apart[0] aws_bedrock: prefix must be a profile prefix in lower case ending in a dot, "
        "such as 'us-gov.', got 'us-gov'",
        "corrections.yaml: priced_apart[0] aws_bedrock: keep: models lists a more than once",
        "corrections.yaml: priced_apart[1] aws_bedrock: unknown key 'premium' (known: checked, keep, only, prefix, "
        "provider, reason, source)",
        "corrections.yaml: priced_apart[1] aws_bedrock: missing 'reason'",
        "corrections.yaml: priced_apart[1] aws_bedrock: prefix must be a profile prefix in lower case ending in a dot, "
        "such as 'us-gov.', got 'JP.'",
        "corrections.yaml: priced_apart[1] aws_bedrock: keep: models must be a non-empty list of model names, got 'model'",
        "corrections.yaml: priced_apart[1] aws_bedrock: checked is not a date (YYYY-MM-DD)",
        "corrections.yaml: priced_apart[2] aws_bedrock: give keep (every model but these) or only (these models), not both",
    ]


def test_the_import_applies_the_rule_and_refuses_a_kept_model_it_does_not_have(tmp_path):
    pytest.importorskip("genai_prices")
    from pipelines.pricing.genai_import import import_genai_prices

    bad = _corrections(tmp_path, """
        priced_apart:
          - {provider: aws_bedrock, prefix: jp., reason: r, source: https://x, keep: ["anthropic.claude-sonnet-9-v1:0"]}
          - {provider: nobody, prefix: jp., reason: r, source: https://x}
          - {provider: aws_bedrock, prefix: eu., reason: r, source: https://x, only: ["amazon.nova-9-v1:0"]}
    """)
    with pytest.raises(PriceBookError) as raised:
        import_genai_prices(tmp_path / "bad", bad)
    assert "priced_apart[0] aws_bedrock/jp.: keep: anthropic.claude-sonnet-9-v1:0: no such imported model" in str(raised.value)
    assert "priced_apart[1] nobody/jp.: no imported provider nobody" in str(raised.value)
    assert "priced_apart[2] aws_bedrock/eu.: only: amazon.nova-9-v1:0: no such imported model" in str(raised.value)

    good = _corrections(tmp_path, """
        priced_apart:
          - {provider: aws_bedrock, prefix: us-gov., reason: r, source: https://x}
          - {provider: aws_bedrock, prefix: eu., reason: r, source: https://x, only: ["amazon.nova-pro-v1:0"]}
    """)
    result = import_genai_prices(tmp_path / "imported", good)
    assert result.platform[-2].startswith("priced_apart[0] aws_bedrock/us-gov.: us-gov. ids no longer reach the price of ")
    assert result.platform[-1].startswith("priced_apart[1] aws_bedrock/eu.: eu. ids no longer reach the price of 1 imported model ")
    imported = load_price_book(tmp_path / "imported")
    for name in ("us-gov.anthropic.claude-haiku-5-5", "us-gov.anthropic.claude-sonnet-4-5-20250929-v1:0",
                 "us-gov.anthropic.claude-3-5-haiku-20241022-v1:0", "us-gov.amazon.nova-pro-v1:0"):
        assert imported.resolve("aws_bedrock", name) is None, name
    assert imported.resolve("aws_bedrock", "jp.amazon.nova-2-lite-v1:0") == "amazon.nova-2-lite-v1:0"  # no jp. rule here
    assert imported.resolve("aws_bedrock", "us.anthropic.claude-haiku-5-5") == "anthropic.claude-haiku-5-5"
    # `only`: the listed model's eu. id is no longer its alias (nor generated as one); the others' still are.
    assert imported.resolve("aws_bedrock", "eu.amazon.nova-pro-v1:0") is None
    assert imported.resolve("aws_bedrock", "apac.amazon.nova-pro-v1:0") == "amazon.nova-pro-v1:0"
    assert imported.resolve("aws_bedrock", "eu.amazon.nova-lite-v1:0") == "amazon.nova-lite-v1:0"
