"""The shipped price book validates, and each kind of mistake is reported with its file and entry."""

from __future__ import annotations

import textwrap
from decimal import Decimal

import pytest

from pipelines.pricebook import PriceBookError, load_price_book


def _book(tmp_path, body: str, name: str = "acme.yaml"):
    folder = tmp_path / "book"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    return folder


VALID = """
    provider: acme
    currency: USD
    models:
      acme-1:
        - effective_from: 2025-01-01
          source: https://acme.example/pricing
          standard: {input: 1.10, cache_read: 0.275, output: 4.40}
        - effective_from: 2025-06-10
          source: https://acme.example/pricing
          standard: {input: 0.55, output: 2.20}
          batch: {input: 0.275, output: 1.10}
"""


def test_shipped_book_validates_and_covers_the_demo_models():
    book = load_price_book()
    models = {model for _, model in book.models}
    assert {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "o3-2025-04-16", "claude-sonnet-4-5-20250929", "claude-3-5-sonnet-20241022"} <= models
    ids = book.prices["price_id"].to_pylist()
    assert len(ids) == len(set(ids))
    assert all(book.prices["source"].to_pylist())


def test_versions_chain_and_reasoning_defaults_to_output(tmp_path):
    rows = {r["price_id"]: r for r in load_price_book(_book(tmp_path, VALID)).prices.to_pylist()}
    first = rows["acme/acme-1@2025-01-01/standard"]
    assert first["effective_to"].date().isoformat() == "2025-06-10"
    assert first["input_per_mtok"] == Decimal("1.10") and first["reasoning_per_mtok"] == Decimal("4.40")
    assert rows["acme/acme-1@2025-06-10/standard"]["effective_to"] is None
    assert rows["acme/acme-1@2025-06-10/batch"]["output_per_mtok"] == Decimal("1.10")


def test_long_context_is_a_cliff_band(tmp_path):
    body = VALID + """
      acme-long:
        - effective_from: 2025-01-01
          source: https://acme.example/pricing
          standard:
            input: 3.00
            output: 15.00
            long_context: {above_input_tokens: 200000, input: 6.00, output: 22.50}
    """
    rows = {r["price_id"]: r for r in load_price_book(_book(tmp_path, body)).prices.to_pylist()}
    base = rows["acme/acme-long@2025-01-01/standard/input<=200000"]
    long = rows["acme/acme-long@2025-01-01/standard/input>200000"]
    assert (base["input_tokens_from"], base["input_tokens_to"]) == (0, 200001)
    assert long["input_tokens_from"] == 200001 and long["input_per_mtok"] == Decimal("6.00")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (VALID.replace("2025-06-10", "2025-01-01"), "acme.yaml: acme/acme-1@2025-01-01: overlapping versions: two versions start on 2025-01-01"),
        (VALID.replace("output: 2.20", "output: -2.20"), "acme.yaml: acme/acme-1@2025-06-10/standard: negative price for output: -2.20"),
        (VALID.replace("cache_read: 0.275", "cached: 0.275"), "acme.yaml: acme/acme-1@2025-01-01/standard: unknown bucket key 'cached'"),
        (VALID.replace("    currency: USD\n", ""), "acme.yaml: missing 'currency'"),
        (VALID.replace("          source: https://acme.example/pricing\n          standard: {input: 0.55", "          standard: {input: 0.55"),
         "acme.yaml: acme/acme-1@2025-06-10: missing source"),
    ],
    ids=["overlap", "negative", "unknown-bucket", "missing-currency", "missing-source"],
)
def test_validation_errors_name_file_and_entry(tmp_path, body, message):
    with pytest.raises(PriceBookError) as caught:
        load_price_book(_book(tmp_path, body))
    assert message in str(caught.value)


def test_alias_claimed_by_two_models_is_rejected(tmp_path):
    body = VALID + """
      acme-2:
        aliases: [acme-latest]
        prices:
          - effective_from: 2025-01-01
            source: https://acme.example/pricing
            standard: {input: 1, output: 2}
      acme-3:
        aliases: [acme-latest]
        prices:
          - effective_from: 2025-01-01
            source: https://acme.example/pricing
            standard: {input: 1, output: 2}
    """
    with pytest.raises(PriceBookError, match="alias 'acme-latest' \\(acme\\) is claimed by two models: acme-2 and acme-3"):
        load_price_book(_book(tmp_path, body))


def test_prices_are_decimals_never_floats(tmp_path):
    rows = load_price_book(_book(tmp_path, VALID)).prices.to_pylist()
    assert all(isinstance(r["input_per_mtok"], Decimal) for r in rows)
    assert rows[0]["cache_read_per_mtok"] == Decimal("0.275")
