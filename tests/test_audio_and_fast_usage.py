"""Usage shapes that carry audio tokens outside Chat Completions' fields, and Anthropic's fast mode and compaction.

Sources: openai/openai-python src/openai/types/realtime/realtime_response_usage.py (+ _input_token_details.py,
_output_token_details.py: a Realtime `response.done` usage, "this will correspond to billing") and
src/openai/types/audio/transcription.py (`UsageTokens.input_token_details.audio_tokens`);
googleapis/python-genai google/genai/types.py (`GenerateContentResponseUsageMetadata.prompt_tokens_details`,
`cache_tokens_details`, `candidates_tokens_details`: lists of `ModalityTokenCount` {modality, token_count}; the REST
API writes them camelCase); anthropics/anthropic-sdk-python src/anthropic/types/beta/beta_usage.py (`speed`: fast
mode, priced at a premium: platform.claude.com/docs/en/build-with-claude/fast-mode). Audio was priced at the text
rate (a Realtime call at $0.0528 instead of $0.3448), a fast request at the standard price and a compacting request
without its compaction ($0.036410 instead of $0.353135).
"""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb

from pipelines.adapters.envelope import parse_envelope
from pipelines.runner import run_pipeline

AT = "2026-11-20T10:00:00Z"


def _line(request_id: str, provider: str, model: str, usage: dict) -> str:
    return json.dumps({"request_id": request_id, "timestamp": AT, "provider": provider, "model": model, "feature": "voice", "usage": usage})


LINES = [
    # gpt-realtime: text in 4.00, cached 0.40, audio in 32.00, text out 16.00, audio out 64.00 per 1M.
    # 2000 x 4 + 10000 x 32 + 50 x 16 + 250 x 64 = 344,800 per 1M
    _line("realtime", "openai", "gpt-realtime", {
        "total_tokens": 12300, "input_tokens": 12000, "output_tokens": 300,
        "input_token_details": {"text_tokens": 2000, "audio_tokens": 10000, "image_tokens": 0, "cached_tokens": 0,
                                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0}},
        "output_token_details": {"text_tokens": 50, "audio_tokens": 250}}),
    # the same call with 3000 of its audio read from the cache (cached audio 0.40, as cached text):
    # 2000 x 4 + 3000 x 0.40 + 7000 x 32 + 50 x 16 + 250 x 64 = 250,000 per 1M
    _line("realtime-cached", "openai", "gpt-realtime", {
        "total_tokens": 12300, "input_tokens": 12000, "output_tokens": 300,
        "input_token_details": {"text_tokens": 2000, "audio_tokens": 10000, "cached_tokens": 3000,
                                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 3000}},
        "output_token_details": {"text_tokens": 50, "audio_tokens": 250}}),
    # a Realtime call with an image (image input 5.00 per 1M; 500 of its image tokens cached, at the cached 0.40):
    # 1000 x 4 + 500 x 0.40 + 1500 x 5 + 100 x 16 = 13,300 per 1M (read as text input: 11,800)
    _line("realtime-image", "openai", "gpt-realtime", {
        "total_tokens": 3100, "input_tokens": 3000, "output_tokens": 100,
        "input_token_details": {"text_tokens": 1000, "audio_tokens": 0, "image_tokens": 2000, "cached_tokens": 500,
                                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 500}},
        "output_token_details": {"text_tokens": 100, "audio_tokens": 0}}),
    # gpt-4o-mini-transcribe: audio in 3.00, text out 5.00 per 1M: 14 x 3 + 45 x 5 = 267 per 1M
    _line("transcribe", "openai", "gpt-4o-mini-transcribe", {
        "type": "tokens", "input_tokens": 14, "input_token_details": {"text_tokens": 0, "audio_tokens": 14}, "output_tokens": 45, "total_tokens": 59}),
    # gemini-2.5-flash: text in 0.30, audio in 1.00, cached 0.03, out 2.50 per 1M: 20 x 0.30 + 10000 x 1 + 200 x 2.50
    _line("gemini", "google", "gemini-2.5-flash", {
        "promptTokenCount": 10020, "candidatesTokenCount": 200, "totalTokenCount": 10220,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 20}, {"modality": "AUDIO", "tokenCount": 10000}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 200}]}),
    # snake_case (python-genai's model_dump), 4000 of the audio cached: 20 x 0.30 + 4000 x 0.03 + 6000 x 1 + 200 x 2.50
    _line("gemini-snake", "google", "gemini-2.5-flash", {
        "prompt_token_count": 10020, "candidates_token_count": 200, "cached_content_token_count": 4000,
        "prompt_tokens_details": [{"modality": "TEXT", "token_count": 20}, {"modality": "AUDIO", "token_count": 10000}],
        "cache_tokens_details": [{"modality": "AUDIO", "token_count": 4000}]}),
    # The Live API names the output `response` (responseTokenCount, responseTokensDetails): the recorded session
    # pydantic/pydantic-ai tests/realtime/cassettes/test_parity_ws/test_history_seeding_parity[google-previous].yaml
    # (models/gemini-2.5-flash-native-audio-latest; the same names in a capture at discuss.ai.google.dev/t/188765).
    # gemini-live-2.5-flash: text in 0.50, audio out 12, thoughts at 2 per 1M: 417 x 0.50 + 74 x 12 + 77 x 2 = 1,250.5
    # per 1M (the 74 audio tokens were dropped: $0.0003625)
    _line("gemini-live", "google", "gemini-2.5-flash-native-audio-latest", {
        "promptTokenCount": 417, "responseTokenCount": 74, "totalTokenCount": 491,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 417}], "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 74}],
        "thoughtsTokenCount": 77}),
    # fast mode has no price in the book: unpriced (unknown_tier), never the standard price
    _line("fast", "anthropic", "claude-opus-4-6", {"input_tokens": 1200, "output_tokens": 800, "speed": "fast"}),
    _line("standard", "anthropic", "claude-opus-4-6", {"input_tokens": 1200, "output_tokens": 800, "speed": "standard"}),
    # A compacting request: the recorded response vercel/ai packages/anthropic/src/__fixtures__/anthropic-compaction.1.json.
    # The top-level counts leave the compaction iteration out (its convert-anthropic-usage.ts); it is billed too:
    # (60385 + 682) x 5 + (592 + 1320) x 25 per 1M = 353,135 per 1M at Opus 4.6's $5 / $25
    _line("compaction", "anthropic", "claude-opus-4-6", {
        "input_tokens": 682, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "iterations": [
            {"input_tokens": 60385, "output_tokens": 592, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0,
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}, "type": "compaction"},
            {"input_tokens": 682, "output_tokens": 1320, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0,
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}, "type": "message"}],
        "output_tokens": 1320, "service_tier": "standard", "inference_geo": "global", "server_tool_use": {"web_search_requests": 0}}),
    # Chat Completions audio output (the usage OpenAI returns with modalities ["text", "audio"]): gpt-4o-audio-preview's
    # dated snapshots, text $2.50 / $10 and audio out $80 (2024-12-17) or $200 (2024-10-01) per 1M:
    # 17 x 2.50 + 56 x 10 + 175 x 80 = 14,602.5 per 1M; with 175 x 200: 35,602.5. The undated name stays text-only.
    *[_line(f"chat-audio-{snapshot}", "openai", f"gpt-4o-audio-preview{snapshot}", {
        "prompt_tokens": 17, "completion_tokens": 231, "total_tokens": 248,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0, "text_tokens": 17, "image_tokens": 0},
        "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 175, "reasoning_tokens": 0,
                                      "rejected_prediction_tokens": 0, "text_tokens": 56}})
      for snapshot in ("-2024-12-17", "-2024-10-01", "")],
]

BUCKETS = {  # request: (service_tier, input, cache_read, audio_input, output, audio_output)
    "realtime": ("standard", 2000, 0, 10000, 50, 250),
    "realtime-cached": ("standard", 2000, 3000, 7000, 50, 250),
    "realtime-image": ("standard", 1000, 500, 0, 100, 0),  # and 1,500 image input tokens
    "transcribe": ("standard", 0, 0, 14, 45, 0),
    "gemini": ("standard", 20, 0, 10000, 200, 0),
    "gemini-snake": ("standard", 20, 4000, 6000, 200, 0),
    "gemini-live": ("standard", 417, 0, 0, 0, 74),
    "fast": ("fast", 1200, 0, 0, 800, 0),
    "standard": ("standard", 1200, 0, 0, 800, 0),
    "compaction": ("standard", 61067, 0, 0, 1912, 0),
    "chat-audio--2024-12-17": ("standard", 17, 0, 0, 56, 175),
    "chat-audio--2024-10-01": ("standard", 17, 0, 0, 56, 175),
    "chat-audio-": ("standard", 17, 0, 0, 56, 175),
}


def test_the_line_by_line_reader_splits_audio_and_fast_mode():
    result = parse_envelope(("\n".join(LINES) + "\n").encode(), "voice.jsonl")
    assert result.rejected.num_rows == 0
    got = {r["request_id"]: (r["service_tier"], r["input_tokens"], r["cache_read_tokens"], r["audio_input_tokens"], r["output_tokens"],
                             r["audio_output_tokens"]) for r in result.rows.to_pylist()}
    assert got == BUCKETS


def test_audio_is_priced_at_the_audio_rates_and_fast_mode_is_flagged(home):
    path = home.gateway_landing("envelope") / "voice.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(LINES) + "\n")
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "select request_id, service_tier, input_tokens, cache_read_tokens, audio_input_tokens, output_tokens, audio_output_tokens, "
            "cost_usd, unpriced_reason from core.request_costs").fetchall()}
    assert {k: v[:6] for k, v in rows.items()} == BUCKETS
    assert {k: v[6:] for k, v in rows.items()} == {
        "realtime": (Decimal("0.3448"), None),
        "realtime-cached": (Decimal("0.25"), None),
        "realtime-image": (Decimal("0.0133"), None),
        "transcribe": (Decimal("0.000267"), None),
        "gemini": (Decimal("0.010506"), None),
        "gemini-snake": (Decimal("0.006626"), None),
        "gemini-live": (Decimal("0.0012505"), None),
        "fast": (None, "unknown_tier"),
        "standard": (Decimal("0.026"), None),  # Opus 4.6: 1200 x 5 + 800 x 25 per 1M
        "compaction": (Decimal("0.353135"), None),
        "chat-audio--2024-12-17": (Decimal("0.0146025"), None),
        "chat-audio--2024-10-01": (Decimal("0.0356025"), None),
        "chat-audio-": (None, "no_price_for_bucket:audio_output"),  # flagged, never text's price
    }


def test_cached_audio_above_the_audio_input_is_inconsistent():
    gemini = {"promptTokenCount": 100, "candidatesTokenCount": 1, "cachedContentTokenCount": 50,
              "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 10}], "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 40}]}
    realtime = {"input_tokens": 100, "output_tokens": 1, "input_token_details": {"audio_tokens": 10, "cached_tokens": 40,
                                                                                 "cached_tokens_details": {"audio_tokens": 40}}}
    result = parse_envelope((_line("g", "google", "gemini-2.5-flash", gemini) + "\n" + _line("r", "openai", "gpt-realtime", realtime) + "\n").encode(), "v.jsonl")
    assert result.rows.num_rows == 0
    assert [(r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        ("usage", "inconsistent usage: cached audio tokens exceed the audio input tokens")] * 2
