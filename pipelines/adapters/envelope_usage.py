"""The envelope's `usage` object as DuckDB reads it: every field the adapter looks at, in one struct for `from_json`,
and every token count in it (read as text, so a count that is not a whole number is named, not cast away).

The shapes are the providers' own (docs/formats/envelope.md, "Token mapping"): OpenAI Chat Completions, Responses and
Realtime, Anthropic Messages (also from Claude on Vertex AI and Bedrock's InvokeModel), Gemini (camelCase or
snake_case), Bedrock Converse, and the OpenAI-compatible shapes of Mistral, DeepSeek and xAI.
"""

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
    ("completion_tokens_details.audio_tokens", "u.completion_tokens_details.audio_tokens"),
    ("input_tokens_details.cached_tokens", "u.input_tokens_details.cached_tokens"),
    ("input_tokens_details.cache_write_tokens", "u.input_tokens_details.cache_write_tokens"),
    ("output_tokens_details.reasoning_tokens", "u.output_tokens_details.reasoning_tokens"),
    ("output_tokens_details.thinking_tokens", "u.output_tokens_details.thinking_tokens"),
    ("cache_creation_input_tokens", "u.cache_creation_input_tokens"),
    ("cache_read_input_tokens", "u.cache_read_input_tokens"),
    ("cache_creation.ephemeral_5m_input_tokens", "u.cache_creation.ephemeral_5m_input_tokens"),
    ("cache_creation.ephemeral_1h_input_tokens", "u.cache_creation.ephemeral_1h_input_tokens"),
    ("server_tool_use.web_search_requests", "u.server_tool_use.web_search_requests"),
    ("promptTokenCount", "coalesce(u.promptTokenCount, u.prompt_token_count)"),
    ("cachedContentTokenCount", "coalesce(u.cachedContentTokenCount, u.cached_content_token_count)"),
    ("candidatesTokenCount", "coalesce(u.candidatesTokenCount, u.candidates_token_count)"),
    ("thoughtsTokenCount", "coalesce(u.thoughtsTokenCount, u.thoughts_token_count)"),
    ("toolUsePromptTokenCount", "coalesce(u.toolUsePromptTokenCount, u.tool_use_prompt_token_count)"),
    ("inputTokens", "u.inputTokens"),
    ("outputTokens", "u.outputTokens"),
    ("cacheReadInputTokens", "u.cacheReadInputTokens"),
    ("cacheWriteInputTokens", "u.cacheWriteInputTokens"),
)

USAGE_STRUCTURE = """{
  "prompt_tokens": "VARCHAR", "completion_tokens": "VARCHAR", "total_tokens": "VARCHAR", "prompt_cache_hit_tokens": "VARCHAR",
  "input_tokens": "VARCHAR", "output_tokens": "VARCHAR",
  "prompt_tokens_details": {"cached_tokens": "VARCHAR", "cache_write_tokens": "VARCHAR", "audio_tokens": "VARCHAR"},
  "completion_tokens_details": {"reasoning_tokens": "VARCHAR", "audio_tokens": "VARCHAR"},
  "input_tokens_details": {"cached_tokens": "VARCHAR", "cache_write_tokens": "VARCHAR"},
  "output_tokens_details": {"reasoning_tokens": "VARCHAR", "thinking_tokens": "VARCHAR"},
  "cache_creation_input_tokens": "VARCHAR", "cache_read_input_tokens": "VARCHAR",
  "cache_creation": {"ephemeral_5m_input_tokens": "VARCHAR", "ephemeral_1h_input_tokens": "VARCHAR"},
  "server_tool_use": {"web_search_requests": "VARCHAR"},
  "service_tier": "VARCHAR",
  "promptTokenCount": "VARCHAR", "cachedContentTokenCount": "VARCHAR", "candidatesTokenCount": "VARCHAR",
  "thoughtsTokenCount": "VARCHAR", "toolUsePromptTokenCount": "VARCHAR", "trafficType": "VARCHAR",
  "prompt_token_count": "VARCHAR", "cached_content_token_count": "VARCHAR", "candidates_token_count": "VARCHAR",
  "thoughts_token_count": "VARCHAR", "tool_use_prompt_token_count": "VARCHAR", "traffic_type": "VARCHAR",
  "inputTokens": "VARCHAR", "outputTokens": "VARCHAR", "cacheReadInputTokens": "VARCHAR", "cacheWriteInputTokens": "VARCHAR",
  "cacheDetails": "JSON"
}"""
