"""Issue #17: Mistral's `-latest` names that no entry answered to (`ministral-3b-latest`, `devstral-medium-latest`,
`devstral-latest`: unknown_model) or that a match rule priced as a model they no longer serve
(`magistral-medium-latest` and `magistral-small-latest`, caught by `starts_with: magistral-...` at Magistral 1.x's
prices). Curated entries in pricing/list/mistral.yaml; each test prices a real-shaped request by hand.

Sources: Mistral's model cards (docs.mistral.ai/models/ministral-3-3b-25-12; the Magistral Medium 1.2 and Small 1.2
cards name Mistral Medium 3.5 and Small 4 their replacements, deprecated 2026-05-22 and 2026-04-30, as genai-prices
0.2.5 quotes them); mistral.ai/news/devstral-2-vibe-cli; LiteLLM 1.110.2's `mistral/<name>` entries price every one of
these names at the book's price from the latest version on. Mistral does not publish the day an alias moves: the
Magistral entries take the deprecation date.
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


@pytest.fixture(scope="module")
def book():
    return load_price_book()


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T12:00:00+00:00")


# 2,000 prompt tokens of which 1,500 cached (Mistral's usage is OpenAI's: prompt_tokens includes them), 300 out.
@pytest.mark.parametrize(("name", "day", "tier", "price_id", "usd"), [
    # Ministral 3 3B: 500 x 0.10 + 1,500 x 0.01 + 300 x 0.10 = 50 + 15 + 30 = 95 per 1M
    ("ministral-3b-latest", "2026-11-27", "standard", "mistral/ministral-3b-latest@2026-10-14/standard", "0.000095"),
    # batch, half: 500 x 0.05 + 1,500 x 0.005 + 300 x 0.05 = 25 + 7.5 + 15 = 47.5 per 1M
    ("ministral-3b-latest", "2026-11-27", "batch", "mistral/ministral-3b-latest@2026-10-14/batch", "0.0000475"),
    # the first Ministral 3B, before Ministral 3: no cached price; a request without cached tokens, 2,000 in and 300
    # out: 2,000 x 0.04 + 300 x 0.04 = 92 per 1M
    ("ministral-3b-latest", "2025-06-01", "standard", "mistral/ministral-3b-latest@undated/standard", None),
    # Devstral 2: 500 x 0.40 + 1,500 x 0.04 + 300 x 2 = 200 + 60 + 600 = 860 per 1M
    ("devstral-medium-latest", "2026-11-27", "standard", "mistral/devstral-medium-latest@undated/standard", "0.00086"),
    ("devstral-latest", "2026-11-27", "standard", "mistral/devstral-medium-latest@undated/standard", "0.00086"),
    # Mistral Medium 3.5: 500 x 1.50 + 1,500 x 0.15 + 300 x 7.50 = 750 + 225 + 2,250 = 3,225 per 1M
    ("magistral-medium-latest", "2026-11-27", "standard", "mistral/magistral-medium-latest@2026-10-14/standard", "0.003225"),
    # Magistral Medium 1.x before: 500 x 2 + 1,500 x 0.20 + 300 x 5 = 1,000 + 300 + 1,500 = 2,800 per 1M
    ("magistral-medium-latest", "2026-05-21", "standard", "mistral/magistral-medium-latest@undated/standard", "0.0028"),
    # Mistral Small 4: 500 x 0.15 + 1,500 x 0.015 + 300 x 0.60 = 75 + 22.5 + 180 = 277.5 per 1M
    ("magistral-small-latest", "2026-11-27", "standard", "mistral/magistral-small-latest@2026-10-14/standard", "0.0002775"),
    ("magistral-small-latest", "2026-05-01", "standard", "mistral/magistral-small-latest@2026-04-30/standard", "0.0002775"),
    # Magistral Small 1.x before: 500 x 0.50 + 1,500 x 0.05 + 300 x 1.50 = 250 + 75 + 450 = 775 per 1M
    ("magistral-small-latest", "2026-04-29", "standard", "mistral/magistral-small-latest@undated/standard", "0.000775"),
])
def test_mistral_latest_names_price_the_model_they_serve(book, name, day, tier, price_id, usd):
    row = book.lookup("mistral", name, _at(day), tier, 2000)
    assert row is not None and row["price_id"] == price_id
    if usd is None:  # no cached price (a request with cached tokens is flagged, not priced)
        assert row["cache_read_per_mtok"] is None
        assert request_cost(row, input=2000, output=300) == Decimal("0.000092")
    else:
        assert request_cost(row, input=500, cache_read=1500, output=300) == Decimal(usd)


def test_the_magistral_rules_still_price_the_dated_snapshots(book):
    """The curated `-latest` entries take only their own names: the dated Magistral ids keep Magistral's price."""
    assert book.resolve("mistral", "magistral-medium-2509") == "magistral-medium"
    assert book.resolve("mistral", "magistral-medium-latest") == "magistral-medium-latest"
    row = book.lookup("mistral", "magistral-small-2509", AT, "standard", 2000)
    assert (row["input_per_mtok"], row["output_per_mtok"]) == (Decimal("0.5"), Decimal("1.5"))


def test_the_pipeline_prices_the_latest_names(home: Home):
    usage = {"prompt_tokens": 2000, "completion_tokens": 300, "total_tokens": 2300, "prompt_tokens_details": {"cached_tokens": 1500}}
    land(home, "mistral.jsonl", [
        envelope("m-3b", "mistral", "ministral-3b-latest", usage, timestamp="2026-11-27T10:00:00Z"),
        envelope("m-devstral", "mistral", "devstral-latest", usage, timestamp="2026-11-27T10:00:00Z"),
        envelope("m-magistral", "mistral", "magistral-medium-latest", usage, timestamp="2026-11-27T10:00:00Z"),
    ])
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select reason from audit.rejected_rows").fetchall() == []
        rows = {r[0]: (r[1], r[2].normalize(), r[3]) for r in con.execute(
            "select request_id, price_id, cost_usd, unpriced_reason from core.request_costs").fetchall()}
    assert rows == {
        "m-3b": ("mistral/ministral-3b-latest@2026-10-14/standard", Decimal("0.000095"), None),
        "m-devstral": ("mistral/devstral-medium-latest@undated/standard", Decimal("0.00086"), None),
        "m-magistral": ("mistral/magistral-medium-latest@2026-10-14/standard", Decimal("0.003225"), None),
    }
