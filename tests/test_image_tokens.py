"""Image tokens are their own buckets, priced at the model's image rates (they were billed as text output or input).

Real usage objects:
- Gemini 3 Pro Image (pydantic/pydantic-ai 4fda38988f2939fa6ea9cdefcf120693e10ef491,
  tests/models/cassettes/test_google/test_google_image_generation_with_web_search.yaml): candidatesTokenCount 1780,
  of which IMAGE 1120 (candidatesTokensDetails), thoughts 529, prompt 33 TEXT. It cost $0.027774 as text output;
  Google bills image output at $120 per 1M against $12 for text (the book's gemini-3-pro-image-preview).
- OpenAI's Images API usage (openai/openai-python src/openai/types/images_response.py `Usage`): input_tokens with
  input_tokens_details {image_tokens, text_tokens}, output_tokens with optional output_tokens_details
  {image_tokens, text_tokens}.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
from helpers import envelope, land

from pipelines.adapters import TOKEN_BUCKETS
from pipelines.adapters.envelope import parse_envelope
from pipelines.runner import run_pipeline

GEMINI_IMAGE = {
    "candidatesTokenCount": 1780, "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
    "promptTokenCount": 33, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 33}],
    "thoughtsTokenCount": 529, "totalTokenCount": 2342,
}
# An edit: a prompt with an image (258 IMAGE tokens, 100 of them from the cache) and an image out
GEMINI_EDIT = {
    "promptTokenCount": 300, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 42}, {"modality": "IMAGE", "tokenCount": 258}],
    "cachedContentTokenCount": 100, "cacheTokensDetails": [{"modality": "IMAGE", "tokenCount": 100}],
    "candidatesTokenCount": 1290, "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}], "totalTokenCount": 1590,
}
GPT_IMAGE = {"input_tokens": 50, "input_tokens_details": {"image_tokens": 40, "text_tokens": 10}, "output_tokens": 4160,
             "output_tokens_details": {"image_tokens": 4160, "text_tokens": 0}, "total_tokens": 4210}
GPT_IMAGE_NO_SPLIT = {"input_tokens": 50, "input_tokens_details": {"image_tokens": 40, "text_tokens": 10}, "output_tokens": 4160,
                      "total_tokens": 4210}


def _buckets(result, row: int) -> dict:
    record = result.rows.slice(row, 1).to_pylist()[0]
    return {bucket: record[bucket] for bucket in TOKEN_BUCKETS if record[bucket]}


def test_image_tokens_are_split_out_of_input_and_output():
    lines = [envelope("gem", "google", "gemini-3-pro-image-preview", GEMINI_IMAGE),
             envelope("edit", "google", "gemini-2.5-flash-image", GEMINI_EDIT),
             envelope("img", "openai", "gpt-image-1.5", GPT_IMAGE),
             envelope("img1", "openai", "gpt-image-1", GPT_IMAGE_NO_SPLIT)]
    result = parse_envelope(("\n".join(lines) + "\n").encode(), "f.jsonl")
    assert result.rejected.num_rows == 0
    assert _buckets(result, 0) == {"input_tokens": 33, "output_tokens": 660, "reasoning_tokens": 529, "image_output_tokens": 1120}
    # the cached image tokens stay in the cache read, as cached audio does
    assert _buckets(result, 1) == {"input_tokens": 42, "cache_read_tokens": 100, "image_input_tokens": 158, "image_output_tokens": 1290}
    assert _buckets(result, 2) == {"input_tokens": 10, "image_input_tokens": 40, "image_output_tokens": 4160}
    # gpt-image-1 without output details: all output stays output, which the book prices at the image rate
    assert _buckets(result, 3) == {"input_tokens": 10, "image_input_tokens": 40, "output_tokens": 4160}


def test_image_tokens_are_priced_at_the_image_rates(home):
    land(home, "images.jsonl", [
        envelope("gem", "google", "gemini-3-pro-image-preview", GEMINI_IMAGE),
        envelope("edit", "google", "gemini-2.5-flash-image", GEMINI_EDIT),
        envelope("img", "openai", "gpt-image-1.5", GPT_IMAGE),
        envelope("img1", "openai", "gpt-image-1", GPT_IMAGE_NO_SPLIT),
        envelope("img1-split", "openai", "gpt-image-1", GPT_IMAGE),
        # a text model's image output has no price: flagged, never priced as text
        envelope("text-model", "google", "gemini-2.5-flash", GEMINI_IMAGE),
        # a chat model's image input is input (OpenAI and Google bill it so): at its input rate
        envelope("vision", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 10,
                                                           "prompt_tokens_details": {"image_tokens": 765}}),
    ])
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "select request_id, cost_usd, image_cost_usd, list_cost_usd, unpriced_reason, total_output_tokens from core.request_costs").fetchall()}
        daily = con.execute("select sum(image_input_tokens), sum(image_output_tokens) from marts.daily_spend").fetchall()[0]
    # 33 x $2 + 660 x $12 + 529 x $12 + 1120 x $120 per 1M = 66 + 7,920 + 6,348 + 134,400 = 148,734
    assert rows["gem"][:3] == (Decimal("0.148734"), Decimal("0.1344"), Decimal("0.148734"))
    assert rows["gem"][4] == 1780 + 529
    # 42 x $0.30 + 100 x $0.03 + 158 x $0.30 (image input as input) + 1290 x $30 = 12.6 + 3 + 47.4 + 38,700 = 38,763
    assert rows["edit"][:2] == (Decimal("0.038763"), Decimal("0.0387474"))
    # gpt-image-1.5: 10 x $5 + 40 x $8 + 4160 x $32 = 50 + 320 + 133,120 = 133,490
    assert rows["img"][:2] == (Decimal("0.13349"), Decimal("0.13344"))
    # gpt-image-1: 10 x $5 + 40 x $10 + 4160 x $40 = 50 + 400 + 166,400, with or without the output split
    assert rows["img1"][0] == rows["img1-split"][0] == Decimal("0.16685")
    assert rows["text-model"][0] is None and rows["text-model"][3] == "no_price_for_bucket:image_output"
    # 235 x $2.50 + 765 x $2.50 + 10 x $10 = 2,500 + 100
    assert rows["vision"][:2] == (Decimal("0.0026"), Decimal("0.0019125"))
    assert daily == (158 + 40 + 40 + 40 + 765, 1120 + 1290 + 4160 + 4160 + 1120)


def test_a_negotiated_image_rate_applies_and_image_input_gets_the_input_discount(home):
    (home.root / "price_overrides.yaml").write_text(
        "overrides:\n  - id: img\n    provider: google\n    effective_from: 2026-01-01\n    discount_pct: 12.5\n"
        "    rates: {image_output: 100}\n"
    )
    land(home, "images.jsonl", [envelope("gem", "google", "gemini-3-pro-image-preview", GEMINI_IMAGE),
                                envelope("edit", "google", "gemini-2.5-flash-image", GEMINI_EDIT)])
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "select request_id, image_cost_usd, cost_usd, list_cost_usd, override_id from core.request_costs").fetchall()}
    # image output at the negotiated $100 (list $120); text at 87.5% of list: 33 x $1.75 + 1,189 x $10.50 = 12,542.25
    assert rows["gem"] == (Decimal("0.112"), Decimal("0.12454225"), Decimal("0.148734"), "img")
    # image input has no price of its own: input's discounted $0.2625; 158 x 0.2625 + 1,290 x $100 = 41.475 + 129,000
    assert rows["edit"][0] == Decimal("0.129041475")
