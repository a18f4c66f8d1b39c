"""Adapter for the `portkey` gateway format: Portkey log exports in, canonical request rows out.

Accepted files are JSON Lines (`.jsonl`, `.jsonl.gz`), one exported log object per line (fields as in
`requested_data`: id, trace_id, created_at, ai_org, ai_model, req_units, res_units, metadata, …). Each line
is read into text columns and judged by the JSON Lines gateway query (`pipelines.adapters.jsonl`); no Python
runs per row. This module declares the format: columns, tokens, providers, keys, reasons.

Token semantics (docs/formats/token-semantics.md §3; docs/formats/portkey.md): the export carries one input
count and one output count and no cache, cache-write or reasoning split, so

    input_tokens  = req_units        (cached input is priced as uncached input)
    output_tokens = res_units        (reasoning, where any, is priced as output — the same rate)
    reasoning_tokens = a Gemini row's total_units - req_units - res_units (thoughts Portkey leaves out of res_units)

Portkey's own `cost` is never read, and `request` / `response` (the bodies) are never read into any column,
so they cannot reach rows or rejected records. `created_at` must carry a UTC offset (`Z` or `+hh:mm`); a
time without one is rejected, not guessed (`sql.OFFSET_REQUIRED`).
"""

from __future__ import annotations

from pipelines.adapters import AdapterResult
from pipelines.adapters.attribution import KEY_SYNTAX, PORTKEY_COLUMNS, PORTKEY_DEFAULTS, AttributionConfig, keys_for, user_keys
from pipelines.adapters.jsonl import Format, JsonColumn, column_token, parse, required
from pipelines.adapters.sql import OFFSET_REQUIRED, blank_null, latency_ms

SOURCE = "portkey"
SUFFIXES = (".jsonl", ".jsonl.gz")
DEFAULT_KEYS = PORTKEY_DEFAULTS
"""Where the attribution dimensions are found without an attribution.yaml `portkey` section."""


# Fields read, as text. `cost`, `request`, `response` are deliberately not among them.
COLUMNS = (
    "id", "created_at", "ai_org", "ai_model", "req_units", "res_units", "total_units",
    "response_time", "response_status_code", "is_success", "mode", "cache_status", *PORTKEY_COLUMNS,
)

FORMAT = Format(
    source=SOURCE,
    columns=COLUMNS,
    # `metadata` is the `x-portkey-metadata` header, a flat object.
    json_columns=(JsonColumn("metadata", "OBJECT", "meta"),),
    request_id=required("id"),
    timestamp=required("created_at"),
    provider=required("ai_org"),
    model=required("ai_model"),
    timestamp_rule=OFFSET_REQUIRED,
    tokens=(column_token("req_units", required=True), column_token("res_units", required=True)),
    # a failed request (a status outside 2xx, or is_success false) may carry no units: 0, loaded with its status
    failed="coalesce(try_cast(trim(response_status_code) as integer) not between 200 and 299, lower(trim(is_success)) in ('false', '0'), false)",
    keys=KEY_SYNTAX[SOURCE],
    key_objects={"metadata.": "meta"},
    tags_from="metadata.",
    outputs={
        "service_tier": "'standard'",
        "latency_ms": latency_ms("response_time"),
        "status": f"""case when is_cache_hit then 'cache_hit' else coalesce({blank_null('response_status_code')},
        case lower(trim(is_success)) when 'true' then 'success' when '1' then 'success' when 'false' then 'failure' when '0' then 'failure' end)
        end""",
        # a response served from Portkey's cache (cache_status HIT or SEMANTIC HIT) called no provider: no tokens billed
        "input_tokens": "case when is_cache_hit then 0 else coalesce(t_req_units, 0) end",
        "cache_read_tokens": "0",
        "cache_write_5m_tokens": "0",
        "cache_write_1h_tokens": "0",
        "output_tokens": "case when is_cache_hit then 0 else coalesce(t_res_units, 0) end",
        # Gemini's thinking tokens: Portkey's gateway writes candidatesTokenCount as completion_tokens and the
        # thoughts in the total only (src/providers/google/chatComplete.ts): the total's excess, billed as output
        "reasoning_tokens": "case when not is_cache_hit and provider_ours = 'google' and contains(lower(served_model), 'gemini') "
        "and try_cast(trim(total_units) as bigint) > coalesce(t_req_units, 0) + coalesce(t_res_units, 0) "
        "then try_cast(trim(total_units) as bigint) - coalesce(t_req_units, 0) - coalesce(t_res_units, 0) else 0 end",
        "audio_input_tokens": "0",
        "audio_output_tokens": "0",
        "image_input_tokens": "0",
        "image_output_tokens": "0",
        "web_search_requests": "0",
    },
    # What a rejected record keeps: no metadata (it carries `_user`), no content, no cost.
    record_columns=(
        "id", "trace_id", "created_at", "ai_org", "ai_model", "req_units", "res_units", "total_units",
        "response_status_code", "is_success", "mode", "cache_status",
    ),
    steps=(("details", ("coalesce(upper(trim(cache_status)) in ('HIT', 'SEMANTIC HIT', 'SEMANTIC_HIT'), false) as is_cache_hit",)),),
)


def parse_portkey(data: bytes, file_name: str, attribution: AttributionConfig | None = None) -> AdapterResult:
    """Parse one landed Portkey log export (JSON Lines, gzip or not) into canonical rows and rejections.

    Attribution keys are `attribution.portkey` when it has them, else DEFAULT_KEYS.
    """
    return parse(FORMAT, data, file_name, keys_for(SOURCE, attribution), tags_without=user_keys(attribution),
                 providers=getattr(attribution, "providers", ()))
