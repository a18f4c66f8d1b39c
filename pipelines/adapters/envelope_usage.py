"""The envelope's `usage` object as DuckDB reads it: every field the adapter looks at, in one struct for `from_json`,
and every token count in it (read as text, so a count that is not a whole number is named, not cast away).

The shapes are the providers' own (docs/formats/envelope.md, "Token mapping"): OpenAI Chat Completions, Responses and
Realtime, Anthropic Messages (also from Claude on Vertex AI and Bedrock's InvokeModel), Gemini (camelCase or
snake_case), Bedrock Converse, and the OpenAI-compatible shapes of Mistral, DeepSeek and xAI.
"""

import json

# Every token leaf the adapter reads, as (label users see, path inside the usage struct).
TOKEN_LEAVES = (
    ("prompt_tokens", "u.prompt_tokens"),
    ("completion_tokens", "u.completion_tokens"),
    ("input_tokens", "u.input_tokens"),
    ("output_tokens", "u.output_tokens"),
    ("prompt_tokens_details.cached_tokens", "u.prompt_tokens_details.cached_tokens"),
    ("prompt_tokens_details.cache_write_tokens", "u.prompt_tokens_details.cache_write_tokens"),
    ("prompt_tokens_details.audio_tokens", "u.prompt_tokens_details.audio_tokens"),
    ("completion_tokens_details.reasoning_tokens", "u.completion_tokens_details.reasoning_tokens"),
    ("prompt_cache_hit_tokens", "u.prompt_cache_hit_tokens"),
    ("num_cached_tokens", "u.num_cached_tokens"),
    ("cached_prompt_text_tokens", "u.cached_prompt_text_tokens"),
    ("reasoning_tokens", "u.reasoning_tokens"),
    ("completion_tokens_details.audio_tokens", "u.completion_tokens_details.audio_tokens"),
    ("input_tokens_details.cached_tokens", "u.input_tokens_details.cached_tokens"),
    ("input_tokens_details.cache_write_tokens", "u.input_tokens_details.cache_write_tokens"),
    ("input_token_details.cached_tokens", "u.input_token_details.cached_tokens"),
    ("input_token_details.audio_tokens", "u.input_token_details.audio_tokens"),
    ("input_token_details.cached_tokens_details.audio_tokens", "u.input_token_details.cached_tokens_details.audio_tokens"),
    ("input_token_details.image_tokens", "u.input_token_details.image_tokens"),
    ("input_token_details.cached_tokens_details.image_tokens", "u.input_token_details.cached_tokens_details.image_tokens"),
    ("output_token_details.audio_tokens", "u.output_token_details.audio_tokens"),
    ("output_tokens_details.reasoning_tokens", "u.output_tokens_details.reasoning_tokens"),
    ("output_tokens_details.thinking_tokens", "u.output_tokens_details.thinking_tokens"),
    ("prompt_tokens_details.image_tokens", "u.prompt_tokens_details.image_tokens"),
    ("completion_tokens_details.image_tokens", "u.completion_tokens_details.image_tokens"),
    ("input_tokens_details.image_tokens", "u.input_tokens_details.image_tokens"),
    ("output_tokens_details.image_tokens", "u.output_tokens_details.image_tokens"),
    ("cache_creation_input_tokens", "u.cache_creation_input_tokens"),
    ("cache_read_input_tokens", "u.cache_read_input_tokens"),
    ("cache_creation.ephemeral_5m_input_tokens", "u.cache_creation.ephemeral_5m_input_tokens"),
    ("cache_creation.ephemeral_1h_input_tokens", "u.cache_creation.ephemeral_1h_input_tokens"),
    ("server_tool_use.web_search_requests", "u.server_tool_use.web_search_requests"),
    ("promptTokenCount", "coalesce(u.promptTokenCount, u.prompt_token_count)"),
    ("cachedContentTokenCount", "coalesce(u.cachedContentTokenCount, u.cached_content_token_count)"),
    ("candidatesTokenCount", "coalesce(u.candidatesTokenCount, u.candidates_token_count)"),
    ("responseTokenCount", "coalesce(u.responseTokenCount, u.response_token_count)"),
    ("thoughtsTokenCount", "coalesce(u.thoughtsTokenCount, u.thoughts_token_count)"),
    ("toolUsePromptTokenCount", "coalesce(u.toolUsePromptTokenCount, u.tool_use_prompt_token_count)"),
    ("inputTokens", "u.inputTokens"),
    ("outputTokens", "u.outputTokens"),
    ("cacheReadInputTokens", "u.cacheReadInputTokens"),
    ("cacheWriteInputTokens", "u.cacheWriteInputTokens"),
)

USAGE_STRUCTURE = """{
  "prompt_tokens": "VARCHAR", "completion_tokens": "VARCHAR", "total_tokens": "VARCHAR", "prompt_cache_hit_tokens": "VARCHAR",
  "num_cached_tokens": "VARCHAR", "cached_prompt_text_tokens": "VARCHAR", "reasoning_tokens": "VARCHAR",
  "input_tokens": "VARCHAR", "output_tokens": "VARCHAR",
  "prompt_tokens_details": {"cached_tokens": "VARCHAR", "cache_write_tokens": "VARCHAR", "audio_tokens": "VARCHAR", "image_tokens": "VARCHAR"},
  "completion_tokens_details": {"reasoning_tokens": "VARCHAR", "audio_tokens": "VARCHAR", "image_tokens": "VARCHAR"},
  "input_tokens_details": {"cached_tokens": "VARCHAR", "cache_write_tokens": "VARCHAR", "image_tokens": "VARCHAR"},
  "output_tokens_details": {"reasoning_tokens": "VARCHAR", "thinking_tokens": "VARCHAR", "image_tokens": "VARCHAR"},
  "input_token_details": {"cached_tokens": "VARCHAR", "audio_tokens": "VARCHAR", "image_tokens": "VARCHAR",
                          "cached_tokens_details": {"audio_tokens": "VARCHAR", "image_tokens": "VARCHAR"}},
  "output_token_details": {"audio_tokens": "VARCHAR"}, "speed": "VARCHAR", "iterations": "JSON",
  "cache_creation_input_tokens": "VARCHAR", "cache_read_input_tokens": "VARCHAR",
  "cache_creation": {"ephemeral_5m_input_tokens": "VARCHAR", "ephemeral_1h_input_tokens": "VARCHAR"},
  "server_tool_use": {"web_search_requests": "VARCHAR"},
  "service_tier": "VARCHAR",
  "promptTokenCount": "VARCHAR", "cachedContentTokenCount": "VARCHAR", "candidatesTokenCount": "VARCHAR",
  "thoughtsTokenCount": "VARCHAR", "toolUsePromptTokenCount": "VARCHAR", "trafficType": "VARCHAR", "serviceTier": "VARCHAR",
  "responseTokenCount": "VARCHAR", "response_token_count": "VARCHAR",
  "prompt_token_count": "VARCHAR", "cached_content_token_count": "VARCHAR", "candidates_token_count": "VARCHAR",
  "thoughts_token_count": "VARCHAR", "tool_use_prompt_token_count": "VARCHAR", "traffic_type": "VARCHAR",
  "inputTokens": "VARCHAR", "outputTokens": "VARCHAR", "cacheReadInputTokens": "VARCHAR", "cacheWriteInputTokens": "VARCHAR",
  "cacheDetails": "JSON"
}"""


def _objects(structure: dict, prefix: str) -> list[str]:
    nested = [(f"{prefix}.{name}", inner) for name, inner in structure.items() if isinstance(inner, dict)]
    return [found for path, inner in nested for found in (path, *_objects(inner, path))]


OBJECTS = ("", "tags", "usage", *_objects(json.loads(USAGE_STRUCTURE), "usage"))
"""The envelope's objects as dotted paths: the record (`""`), `tags`, `usage` and every object in the usage the adapter
reads (`usage.cache_creation`, ...); a key given twice in any of them rejects the line (`sql.key_given_twice`)."""


XAI_REASONING_APART = (
    "(provider = 'xai' and reasoning_tokens > 0 and (try_cast(u.total_tokens as bigint) = reported_input + reported_output + reasoning_tokens"
    " or (u.total_tokens is null and reasoning_tokens > reported_output)))"
)
"""SQL: an xAI usage whose `completion_tokens` leaves the reasoning tokens out. xAI's own API has reported them
apart (`total_tokens` = prompt + completion + reasoning), unlike OpenAI, while relays such as OpenRouter count
them inside; the total says which, and reasoning above the completion count can only be apart."""


_GEMINI_LISTS = (
    ("promptTokensDetails", "prompt_tokens_details"),
    ("cacheTokensDetails", "cache_tokens_details"),
    # the Live API's usage names the output `response` (responseTokenCount, responseTokensDetails)
    ("candidatesTokensDetails", "candidates_tokens_details", "responseTokensDetails", "response_tokens_details"),
)
GEMINI_DETAILS = "json_extract({usage}, [" + ", ".join(f"'$.{name}'" for names in _GEMINI_LISTS for name in names) + "])"
"""SQL: Gemini's per-modality token lists in the usage JSON text `usage` (camelCase, then snake_case: prompt, cached,
candidates or the Live API's response), as one list of JSON values; `gemini_parts` reads them."""


def gemini_parts(details: str, part: int) -> str:
    """SQL: part 0 (prompt), 1 (cached) or 2 (candidates) of `GEMINI_DETAILS` parsed once, as a list of
    {modality, tokenCount, token_count} (null when the usage has no such list): `[{"modality": "AUDIO", "tokenCount":
    120}, ...]` (`token_count` in snake_case); `gemini_modality` sums one modality of it."""
    first = sum(len(names) for names in _GEMINI_LISTS[:part]) + 1
    one = ", ".join(
        f"case when json_type({details}[{first + k}]) = 'ARRAY' then from_json({details}[{first + k}], "
        "'[{\"modality\": \"VARCHAR\", \"tokenCount\": \"VARCHAR\", \"token_count\": \"VARCHAR\"}]') end"
        for k in range(len(_GEMINI_LISTS[part]))
    )
    return f"coalesce({one})"


def gemini_modality(parts: str, modality: str) -> str:
    """SQL: the tokens of `modality` (AUDIO, IMAGE) in a list `gemini_parts` parsed (null when there is no list)."""
    return (f"list_sum(list_transform({parts}, lambda d: case when upper(d.modality) = '{modality}' "
            "then try_cast(coalesce(d.tokenCount, d.token_count) as bigint) else 0 end))")


_GEMINI_PARTS = (("prompt", "in"), ("cached", "cached"), ("candidates", "out"))
GEMINI_MODALITIES = ",\n        ".join(
    [f"{gemini_parts('gemini_details', n)} as gemini_{part}_parts" for n, (part, _) in enumerate(_GEMINI_PARTS)]
    + [f"{gemini_modality(f'gemini_{part}_parts', modality.upper())} as gemini_{modality}_{name}"
       for modality in ("audio", "image") for part, name in _GEMINI_PARTS]
)
"""SQL select items over `gemini_details` (`GEMINI_DETAILS`): Gemini's three modality lists, each parsed once
(gemini_prompt_parts, ..._cached_..., ..._candidates_...), and the AUDIO and IMAGE tokens of each (gemini_audio_in,
gemini_audio_cached, gemini_audio_out; gemini_image_in, ...)."""


_ITERATIONS = (
    '[{"type": "VARCHAR", "input_tokens": "VARCHAR", "output_tokens": "VARCHAR", "cache_read_input_tokens": "VARCHAR", '
    '"cache_creation_input_tokens": "VARCHAR", "cache_creation": {"ephemeral_5m_input_tokens": "VARCHAR", "ephemeral_1h_input_tokens": "VARCHAR"}}]'
)
COMPACTION_PARTS = {
    "input": "try_cast(i.input_tokens as bigint)",
    "output": "try_cast(i.output_tokens as bigint)",
    "cache_read": "try_cast(i.cache_read_input_tokens as bigint)",
    "write_5m": "coalesce(try_cast(i.cache_creation.ephemeral_5m_input_tokens as bigint), "
    "case when i.cache_creation.ephemeral_1h_input_tokens is null then try_cast(i.cache_creation_input_tokens as bigint) end)",
    "write_1h": "try_cast(i.cache_creation.ephemeral_1h_input_tokens as bigint)",
}
"""Each bucket of an Anthropic usage iteration (`usage.iterations[]`), as SQL over the iteration `i`."""


def compaction(iterations: str) -> str:
    """SQL: the token counts of the `compaction` entries of Anthropic's `usage.iterations` (the JSON `iterations`), as a
    struct of COMPACTION_PARTS (all 0 without any). The top-level counts leave compaction out ("The top-level
    input_tokens and output_tokens exclude compaction usage": vercel/ai packages/anthropic/src/
    convert-anthropic-usage.ts), and it is billed at the request's model's rates, so it adds to the request's buckets."""
    its = f"list_filter(from_json({iterations}, '{_ITERATIONS}'), lambda i: i.type = 'compaction')"
    parts = ", ".join(f"'{name}': coalesce(list_sum(list_transform({its}, lambda i: {sql})), 0)" for name, sql in COMPACTION_PARTS.items())
    zeros = ", ".join(f"'{name}': 0" for name in COMPACTION_PARTS)
    return f"case when json_type({iterations}) = 'ARRAY' then {{{parts}}} else {{{zeros}}} end"
