"""Claude on Vertex AI: the model ids Vertex takes (`claude-sonnet-4-5@20250929`), under provider `google` (or any name
the provider table maps there: `vertex_ai`, `gcp.vertex_ai`, `google_vertex`), priced at Anthropic's list price.

Sources: the Vertex model ids are Google's "Request predictions with Claude models"
(cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/use-claude); a Vertex response carries the
Messages API's usage object (docs.anthropic.com/en/api/claude-on-vertex-ai: "the Vertex API for accessing Claude is
nearly identical to the Messages API"), as tests/fixtures/formats/anthropic_messages_usage.json; the global endpoint
costs what Anthropic charges and, from Sonnet 4.5 on, a regional endpoint 10% more (the same Anthropic page).
Bedrock's InvokeModel with a Messages body returns the same usage object: the two responses of the cassette
traceloop/openllmetry packages/opentelemetry-instrumentation-bedrock/tests/traces/cassettes/test_prompt_caching/
test_invoke_model_cache_tokens.yaml (a cache write, then a read of the same 18,131 tokens).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
from helpers import envelope, land, otel_line, sample_usage

from pipelines.pricing.book import load_price_book
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

VERTEX_IDS = (
    "claude-opus-4-5@20251101", "claude-opus-4-1@20250805", "claude-opus-4@20250514", "claude-sonnet-4-5@20250929",
    "claude-sonnet-4@20250514", "claude-3-7-sonnet@20250219", "claude-3-5-sonnet-v2@20241022", "claude-haiku-4-5@20251001",
    "claude-3-5-haiku@20241022", "claude-3-5-sonnet@20240620", "claude-3-opus@20240229", "claude-3-haiku@20240307",
)
BATCH_IDS = ("claude-opus-4-5@20251101", "claude-sonnet-4-5@20250929", "claude-haiku-4-5@20251001")
BUCKETS = ("input_per_mtok", "cache_read_per_mtok", "cache_write_5m_per_mtok", "cache_write_1h_per_mtok", "output_per_mtok", "reasoning_per_mtok")


def test_every_vertex_id_resolves_to_anthropics_prices_and_batch_where_vertex_lists_it():
    book = load_price_book()
    at = dt.datetime(2026, 11, 27, 10, tzinfo=dt.timezone.utc)
    for vertex_id in VERTEX_IDS:
        model = book.resolve("google", vertex_id)
        assert model is not None, vertex_id
        anthropic = book.resolve("anthropic", vertex_id.replace("@", "-").replace("-v2-", "-"))
        assert anthropic is not None, vertex_id
        for tokens in (1000, 250_000):
            ours, theirs = book.lookup("google", vertex_id, at, "standard", tokens), book.lookup("anthropic", anthropic, at, "standard", tokens)
            assert {b: ours[b] for b in BUCKETS} == {b: theirs[b] for b in BUCKETS}, (vertex_id, tokens)
            assert ours["source"] == "https://cloud.google.com/vertex-ai/generative-ai/pricing"
            assert f"same price as anthropic/{anthropic}" in ours["note"]
        batch = book.lookup("google", vertex_id, at, "batch", 1000)
        if vertex_id in BATCH_IDS:  # Vertex's batch price, as LiteLLM 1.110.2 transcribes it: Anthropic's Batch price
            assert {b: batch[b] for b in BUCKETS} == {b: book.lookup("anthropic", anthropic, at, "batch", 1000)[b] for b in BUCKETS}
        else:  # no Vertex batch price known: unpriced, never the standard price
            assert batch is None, vertex_id


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_claude_on_vertex_requests_are_read_with_anthropics_usage_and_priced_by_hand(home):
    usage = sample_usage("anthropic_messages_usage.json")  # 120 in, 8000 cache read, 1500 + 500 cache writes, 350 out
    lines = [
        # Sonnet 4.5 (from 2025-09-29): 120 x 3 + 8000 x 0.30 + 1500 x 3.75 + 500 x 6 + 350 x 15 = 16,635 per 1M
        envelope("v-sonnet", "google", "claude-sonnet-4-5@20250929", usage),
        # above 200K input tokens every token pays the long-context rate: 250,000 x 6 + 1,000 x 22.50 = 1,522,500 per 1M
        envelope("v-long", "google", "claude-sonnet-4-5@20250929", {"input_tokens": 250000, "output_tokens": 1000}),
        # a Gemini request under the same provider keeps Gemini's usage semantics: 1000 x 0.30 + 100 x 2.50 (2.5 Flash)
        envelope("v-gemini", "google", "gemini-2.5-flash", {"promptTokenCount": 1000, "candidatesTokenCount": 100, "totalTokenCount": 1100}),
        # a Vertex batch prediction of Claude Haiku 4.5, at Anthropic's Batch price: 100 x 0.50 + 10 x 2.50 = 75 per 1M;
        # of Claude 3 Haiku, which has no Vertex batch price in the book: unpriced (never $0, never the standard price)
        envelope("v-batch", "google", "claude-haiku-4-5@20251001", {"input_tokens": 100, "output_tokens": 10}, service_tier="batch"),
        envelope("v-batch-old", "google", "claude-3-haiku@20240307", {"input_tokens": 100, "output_tokens": 10}, service_tier="batch"),
        envelope("b-write", "aws_bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0",
                 {"input_tokens": 4, "cache_creation_input_tokens": 18131, "cache_read_input_tokens": 0, "output_tokens": 50}),
        envelope("b-read", "aws_bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0",
                 {"input_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 18131, "output_tokens": 50}),
    ]
    land(home, "vertex.jsonl", lines)
    # OTel's vertexai instrumentation names the system `vertex_ai`; Claude 3 Haiku, 2024-11-01: 1000 x 0.25 + 200 x 1.25
    span = otel_line({"gen_ai.provider.name": "vertex_ai", "gen_ai.response.model": "claude-3-haiku@20240307", "gen_ai.response.id": "msg_v1",
                      "gen_ai.usage.input_tokens": "1000", "gen_ai.usage.output_tokens": "200"}, {"service.name": "bot"})
    otel = home.gateway_landing("otel") / "vertex.jsonl"
    otel.parent.mkdir(parents=True, exist_ok=True)
    otel.write_text(span + "\n")
    run_pipeline(home, progress=lambda _: None)

    assert _query(home, "select reason from audit.rejected_rows") == []
    rows = {r[0]: r[1:] for r in _query(home, "select request_id, provider, input_tokens, cache_read_tokens, cache_write_5m_tokens, "
                                               "cache_write_1h_tokens, output_tokens, price_id, cost_usd, unpriced_reason from core.request_costs")}
    assert rows["v-sonnet"] == ("google", 120, 8000, 1500, 500, 350, "google/claude-sonnet-4-5@20250929@2025-09-29/standard/input<=200000",
                                Decimal("0.016635"), None)
    assert rows["v-long"][-3:] == ("google/claude-sonnet-4-5@20250929@2025-09-29/standard/input>200000", Decimal("1.5225"), None)
    assert (rows["v-gemini"][1], rows["v-gemini"][5], rows["v-gemini"][7]) == (1000, 100, Decimal("0.00055"))
    assert rows["v-batch"][-3:] == ("google/claude-haiku-4-5@20251001@2025-10-15/batch", Decimal("0.000075"), None)
    assert rows["v-batch-old"][-2:] == (None, "unknown_tier")
    assert rows["msg_v1"][0] == "google" and rows["msg_v1"][-2:] == (Decimal("0.0005"), None)
    # Bedrock's Claude 3.5 Haiku: input 0.80, cache read 0.08, 5-minute write 1.00, output 4.00 per 1M.
    # 4 x 0.80 + 18131 x 1.00 + 50 x 4 = 18,334.2 per 1M; 4 x 0.80 + 18131 x 0.08 + 50 x 4 = 1,653.68 per 1M
    assert rows["b-write"][1:5] + rows["b-write"][-2:] == (4, 0, 18131, 0, Decimal("0.0183342"), None)
    assert rows["b-read"][1:5] + rows["b-read"][-2:] == (4, 18131, 0, 0, Decimal("0.00165368"), None)
