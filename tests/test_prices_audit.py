"""`tokenledger prices audit --reference FILE` compares the book with a LiteLLM-format price file, and
`tokenledger prices check` fails when a curated dated model id and its undated name price differently.

The fixture `tests/fixtures/litellm/model_prices_sample.json` is eight entries, unchanged, of LiteLLM's
`model_prices_and_context_window.json` as synced on 2026-07-24 by github.com/Wei-Shaw/model-price-repo (commit
f9ff14734f6203c490573cb1e2ae8fdac7a52a41, a copy of BerriAI/litellm's file): prices in USD per token, `_batches`,
`_flex`, `_priority` tier suffixes, `_above_200k_tokens` bands, `cache_creation_input_token_cost_above_1hr`.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pipelines.cli.main import main

REFERENCE = Path(__file__).parent / "fixtures" / "litellm" / "model_prices_sample.json"


def _run(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["prices", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_audit_prints_every_disagreement_on_the_day_the_reference_was_taken(capsys):
    code, lines, _ = _run(capsys, "audit", "--reference", str(REFERENCE), "--at", "2026-07-24T12:00:00Z")
    assert code == 1
    assert lines[:-1] == [
        # deepseek-chat has served deepseek-v4-flash since 2026-04-24 (pricing/list/deepseek.yaml); LiteLLM still
        # has V3.2's $0.28 / $0.028 / $0.42
        "deepseek/deepseek-chat standard cache_read: book 0.0028, reference 0.028",
        "deepseek/deepseek-chat standard input: book 0.14, reference 0.28",
        "deepseek/deepseek-chat standard output: book 0.28, reference 0.42",
        # LiteLLM prices Gemini context-cache creation; the book has no cache-write bucket for Gemini
        "google/gemini-2.5-pro standard above 200,000 input tokens cache_write_5m: book none, reference 0.25",
        # priority prices are in the book only from 2026-10-12 (the date genai-prices gives them)
        "openai/gpt-4.1-2025-04-14 (as 'gpt-4.1') priority cache_read: book none, reference 0.875",
        "openai/gpt-4.1-2025-04-14 (as 'gpt-4.1') priority input: book none, reference 3.5",
        "openai/gpt-4.1-2025-04-14 (as 'gpt-4.1') priority output: book none, reference 14",
        # gpt-4o's priority block starts 2026-10-12 in the imported book; its batch block, dated 2026-10-14 by
        # genai-prices, is carried back by tier_history (same standard price) and agrees with LiteLLM's
        "openai/gpt-4o priority cache_read: book none, reference 2.125",
        "openai/gpt-4o priority input: book none, reference 4.25",
        "openai/gpt-4o priority output: book none, reference 17",
        "openai/o3-2025-04-16 (as 'o3') priority cache_read: book none, reference 0.875",
        "openai/o3-2025-04-16 (as 'o3') priority input: book none, reference 3.5",
        "openai/o3-2025-04-16 (as 'o3') priority output: book none, reference 14",
    ]
    # Claude Sonnet 4.5 (both spellings) agrees on every bucket, the 1-hour cache write and the 200K band included
    assert lines[-1].startswith("13 disagreements on 5 of 7 models compared at 2026-07-24T12:00:00+00:00; 0 reference models")
    assert lines[-1].endswith("1 entries of other providers skipped")  # kimi-k2.5 (moonshot)


def test_audit_compares_the_prices_in_force_at_the_time_given(capsys):
    code, lines, _ = _run(capsys, "audit", "--reference", str(REFERENCE), "--at", "2026-11-02")
    assert code == 1
    assert [line for line in lines if line.startswith("openai/")] == []  # batch and priority are in the book by then
    assert lines[-1].startswith("4 disagreements on 2 of 7 models")


def test_audit_lists_the_reference_models_the_book_does_not_price(tmp_path, capsys):
    reference = tmp_path / "prices.json"
    reference.write_text('{"sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of ..."},'
                         ' "gpt-9-preview": {"litellm_provider": "openai", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},'
                         ' "claude-sonnet-4-5": {"litellm_provider": "anthropic", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05}}')
    code, lines, _ = _run(capsys, "audit", "--reference", str(reference), "--at", "2026-11-02", "--missing")
    assert code == 0
    assert lines == ["not in the book: openai/gpt-9-preview",
                     "0 disagreements on 0 of 1 models compared at 2026-11-02T00:00:00+00:00; 1 reference models of our "
                     "providers not in the book; 0 entries of other providers skipped"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"gpt-4o": [1, 2]', "not a JSON price file (LiteLLM's model_prices_and_context_window.json format)"),
        ("[1, 2]", "expected a JSON object of model name -> prices, got list"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": "cheap"}}',
         "reference entry 'gpt-4o': input_cost_per_token is not a price in USD per token: 'cheap'"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": -1e-06}}', "input_cost_per_token is not a price"),
        (b"\xff\xfe{}", "not a JSON price file"),
        ('{"gpt-4o": ' + "[" * 5000 + "]" * 5000 + "}", "not a JSON price file: nested too deeply to read"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 1e999999999}}',
         "input_cost_per_token is not a price in USD per token: 1E+999999999"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 1e-999999999}}', "input_cost_per_token is not a price"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": ' + "9" * 5001 + "}}", "not a JSON price file"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token_above_' + "9" * 5000 + 'k_tokens": 1e-06}}',
         "a token threshold past 10^12 is not one"),
        ('{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 2.5e-06, "input_cost_per_token": 9e-06}}',
         "the key 'input_cost_per_token' is given twice in one object"),
    ],
    ids=["truncated", "not-an-object", "text-price", "negative", "not-utf8", "nested-too-deep", "overflowing-price",
         "vanishing-price", "5001-digit-price", "5000-digit-threshold", "duplicate-key"],
)
def test_a_bad_reference_file_is_one_line_naming_it(tmp_path, capsys, text, message):
    reference = tmp_path / "prices.json"
    reference.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, lines, err = _run(capsys, "audit", "--reference", str(reference))
    assert code == 2 and lines == []
    assert err.count("\n") == 1 and str(reference) in err and message in err


def test_check_fails_when_a_dated_id_and_its_undated_name_disagree(tmp_path, capsys):
    book = tmp_path / "book"
    (book / "imported").mkdir(parents=True)
    (book / "acme.yaml").write_text(textwrap.dedent("""
        provider: acme
        currency: USD
        models:
          acme-1-20250101:
            - effective_from: 2025-01-01
              source: https://acme.example/pricing
              standard: {input: 1.00, output: 4.00}
              batch: {input: 0.50, output: 2.00}
    """))
    (book / "imported" / "acme.yaml").write_text(textwrap.dedent("""
        provider: acme
        currency: USD
        models:
          acme-1:
            - effective_from: unknown
              source: https://acme.example/pricing
              standard: {input: 1.00, output: 5.00}
    """))
    code, lines, _ = _run(capsys, "check", "--book", str(book))
    assert code == 1
    assert lines == [
        "acme/acme-1-20250101 and its undated name acme/acme-1 disagree on standard output on 2025-01-01: 4 and 5 "
        "(acme/acme-1-20250101@2025-01-01/standard, acme/acme-1@undated/standard)",
        "acme/acme-1-20250101 and its undated name acme/acme-1 disagree on standard reasoning on 2025-01-01: 4 and 5 "
        "(acme/acme-1-20250101@2025-01-01/standard, acme/acme-1@undated/standard)",
        "acme/acme-1 has no batch price on 2025-01-01 but acme/acme-1-20250101 has",
        "3 problems in the price book",
    ]


def test_the_shipped_book_passes_its_own_check(capsys):
    code, lines, _ = _run(capsys, "check")
    assert code == 0 and lines[-1].startswith("price book OK")


def test_a_reference_that_is_not_a_regular_file_or_too_big_is_refused_at_once(tmp_path, capsys):
    """A FIFO blocked the audit for ever and /dev/zero read until memory ran out; a file past the size cap is refused
    before it is read (the real LiteLLM file is about 3.5 MB)."""
    import os

    from pipelines.pricing.audit import MAX_REFERENCE_BYTES

    fifo = tmp_path / "prices.fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.json"
    with open(big, "wb") as stream:
        stream.truncate(MAX_REFERENCE_BYTES + 1)
    for path, message in ((fifo, "not a regular file"), (Path("/dev/zero"), "not a regular file"), (big, "larger than 64 MiB")):
        code, lines, err = _run(capsys, "audit", "--reference", str(path))
        assert code == 2 and lines == [] and err.count("\n") == 1 and str(path) in err and message in err, err


def test_an_instant_past_what_utc_can_represent_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["prices", "audit", "--reference", str(REFERENCE), "--at", "9999-12-31T23:59:59-05:00"])
    assert exited.value.code == 2
    assert "outside the dates this can represent in UTC" in capsys.readouterr().err


def test_audit_compares_the_vertex_and_bedrock_mantle_entries_and_names_the_one_that_differs(tmp_path, capsys):
    """LiteLLM files Gemini on Vertex AI under `vertex_ai`, Claude on Vertex under `vertex_ai-anthropic_models` and
    Bedrock's OpenAI-compatible endpoint under `bedrock_mantle`: 156 entries the audit skipped as other providers'.
    Entries below as in LiteLLM 1.110.2 (prices in USD per token). Vertex AI lists Gemini 2.0 Flash at $0.15 / $0.60,
    the Gemini API (the book's price) at $0.10 / $0.40: the line names the Vertex entry."""
    reference = tmp_path / "prices.json"
    reference.write_text(json.dumps({
        "vertex_ai/gemini-2.0-flash": {"litellm_provider": "vertex_ai", "input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07},
        "gemini/gemini-2.0-flash": {"litellm_provider": "gemini", "input_cost_per_token": 1e-07, "output_cost_per_token": 4e-07},
        "vertex_ai/claude-sonnet-4-5@20250929": {"litellm_provider": "vertex_ai-anthropic_models", "input_cost_per_token": 3e-06,
                                                 "output_cost_per_token": 1.5e-05},
        "bedrock_mantle/openai.gpt-oss-120b": {"litellm_provider": "bedrock_mantle", "input_cost_per_token": 1.5e-07,
                                               "output_cost_per_token": 6e-07},
    }))
    code, lines, _ = _run(capsys, "audit", "--reference", str(reference), "--at", "2026-11-02")
    assert code == 1
    assert lines == [
        "google/gemini-2.0-flash (as 'vertex_ai/gemini-2.0-flash') standard input: book 0.1, reference 0.15",
        "google/gemini-2.0-flash (as 'vertex_ai/gemini-2.0-flash') standard output: book 0.4, reference 0.6",
        "2 disagreements on 1 of 4 models compared at 2026-11-02T00:00:00+00:00; 0 reference models of our providers not in "
        "the book (--missing lists them); 0 entries of other providers skipped",
    ]
