"""Adapter for the `helicone` gateway format: rows of Helicone's ClickHouse `request_response_rmt` in, canonical rows out.

Accepted files are JSON Lines (`.jsonl`, `.jsonl.gz`), one table row per line, as ClickHouse writes them
with `FORMAT JSONEachRow` (64-bit integers may come quoted, "350", or bare, 350: both are read). Each line is
read into text columns and judged by the JSON Lines gateway query (`pipelines.adapters.jsonl`); no Python
runs per row. This module declares the format: columns, tokens, providers, keys, reasons.

Token semantics (docs/formats/token-semantics.md §3 and §4.2; docs/formats/helicone.md): Helicone's
`prompt_tokens` is the uncached input only. Cache reads and cache writes are in their own columns and are
not part of it (Helicone's own cost function prices `prompt_tokens` as "fresh, uncached tokens" and adds the
cache columns on top; with Anthropic's usage `prompt_tokens` is Anthropic's `input_tokens`). So

    input_tokens          = prompt_tokens
    cache_read_tokens     = prompt_cache_read_tokens
    cache_write_5m_tokens = prompt_cache_write_tokens     (the table has no TTL split)
    output_tokens         = completion_tokens
    reasoning_tokens      = reasoning_tokens              (newer tables; apart from completion_tokens, else 0)
    audio_input_tokens    = prompt_audio_tokens           (apart from prompt_tokens, as Helicone's cost adds them)
    audio_output_tokens   = completion_audio_tokens       (apart from completion_tokens)

`cost` (Helicone's estimate, USD × 1e9) is never read, and `request_body` / `response_body` (or any
`request` / `response` object) are never read into any column, so they cannot reach rows or rejected
records. `request_created_at` is a ClickHouse DateTime64(3) stored in UTC, written without an offset:
a naive time is read as UTC; one with an offset is converted (`sql.NAIVE_IS_UTC`).
"""

from __future__ import annotations

from pipelines.adapters import AdapterResult
from pipelines.adapters.attribution import HELICONE_COLUMNS, HELICONE_DEFAULTS, KEY_SYNTAX, AttributionConfig, keys_for, user_keys
from pipelines.adapters.jsonl import Format, JsonColumn, column_token, parse, required
from pipelines.adapters.sql import NAIVE_IS_UTC, blank_null, latency_ms

SOURCE = "helicone"
SUFFIXES = (".jsonl", ".jsonl.gz")
DEFAULT_KEYS = HELICONE_DEFAULTS
"""Where the attribution dimensions are found without an attribution.yaml `helicone` section."""


# Columns read, as text. `cost`, `request_body`, `response_body` are deliberately not among them.
COLUMNS = (
    "request_id", "request_created_at", "status", "provider", "model", "latency",
    "prompt_tokens", "prompt_cache_write_tokens", "prompt_cache_read_tokens", "completion_tokens", "reasoning_tokens",
    "prompt_audio_tokens", "completion_audio_tokens",
    *HELICONE_COLUMNS,
)

FORMAT = Format(
    source=SOURCE,
    columns=COLUMNS,
    # `properties` holds the custom properties (`Helicone-Property-<Name>` headers), a flat map.
    json_columns=(JsonColumn("properties", "OBJECT", "props"),),
    request_id=required("request_id"),
    timestamp=required("request_created_at"),
    provider=required("provider"),
    model=required("model"),
    timestamp_rule=NAIVE_IS_UTC,
    tokens=(
        column_token("prompt_tokens", required=True),
        column_token("prompt_cache_write_tokens"),
        column_token("prompt_cache_read_tokens"),
        column_token("completion_tokens", required=True),
        column_token("reasoning_tokens"),
        column_token("prompt_audio_tokens"),
        column_token("completion_audio_tokens"),
    ),
    # a request that failed (a status outside 2xx) may have no token counts (the columns are Nullable): 0, loaded
    failed="coalesce(try_cast(trim(status) as integer) not between 200 and 299, false)",
    keys=KEY_SYNTAX[SOURCE],
    key_objects={"properties.": "props"},
    tags_from="properties.",
    outputs={
        "service_tier": "'standard'",
        "latency_ms": latency_ms("latency"),
        "status": blank_null("status"),
        "input_tokens": "coalesce(t_prompt_tokens, 0)",
        "cache_read_tokens": "coalesce(t_prompt_cache_read_tokens, 0)",
        "cache_write_5m_tokens": "coalesce(t_prompt_cache_write_tokens, 0)",
        "cache_write_1h_tokens": "0",
        "output_tokens": "coalesce(t_completion_tokens, 0)",
        "reasoning_tokens": "coalesce(t_reasoning_tokens, 0)",
        "audio_input_tokens": "coalesce(t_prompt_audio_tokens, 0)",
        "audio_output_tokens": "coalesce(t_completion_audio_tokens, 0)",
        "image_input_tokens": "0",
        "image_output_tokens": "0",
        "web_search_requests": "0",
    },
    # What a rejected record keeps: no user ids, no properties (they may carry them), no content, no cost.
    record_columns=(
        "request_id", "request_created_at", "status", "provider", "model", "latency",
        "prompt_tokens", "prompt_cache_write_tokens", "prompt_cache_read_tokens", "completion_tokens", "reasoning_tokens",
        "prompt_audio_tokens", "completion_audio_tokens",
    ),
)


def parse_helicone(data: bytes, file_name: str, attribution: AttributionConfig | None = None) -> AdapterResult:
    """Parse one landed `request_response_rmt` export (JSON Lines, gzip or not) into canonical rows and rejections.

    Attribution keys are `attribution.helicone` when it has them, else DEFAULT_KEYS.
    """
    return parse(FORMAT, data, file_name, keys_for(SOURCE, attribution), tags_without=user_keys(attribution),
                 providers=getattr(attribution, "providers", ()))
