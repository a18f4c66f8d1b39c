"""The shapes of what the lake holds: canonical gateway requests, rejected rows, and the first partition day.

Adapters produce rows of CANONICAL_SCHEMA and rejections of REJECTED_SCHEMA; the lake stores them with the
landed file named (`storage.lake`). Every request is split into the exclusive TOKEN_BUCKETS, so billed
tokens are their sum and cached or reasoning tokens are never counted twice.
"""

from __future__ import annotations

import pyarrow as pa

EARLIEST_DATE = "2020-01-01"
"""Requests before this UTC date are rejected; the daily partitions start on it."""

TOKEN_BUCKETS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "image_input_tokens",
    "image_output_tokens",
)

CANONICAL_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_row", pa.int64()),
        ("request_id", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("service_tier", pa.string()),
        ("feature", pa.string()),
        ("user_id", pa.string()),
        ("user_segment", pa.string()),
        ("customer_id", pa.string()),
        ("conversation_id", pa.string()),
        ("latency_ms", pa.int64()),
        ("status", pa.string()),
        ("tags", pa.string()),
        *[(bucket, pa.int64()) for bucket in TOKEN_BUCKETS],
        ("web_search_requests", pa.int64()),
    ]
)
CANONICAL_COLUMNS = tuple(CANONICAL_SCHEMA.names)

REJECTED_SCHEMA = pa.schema(
    [
        ("row_number", pa.int64()),
        ("byte_offset", pa.int64()),
        ("byte_length", pa.int64()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("request_id", pa.string()),
        ("user_id", pa.string()),
        ("record", pa.string()),
        ("record_sha256", pa.string()),
    ]
)
