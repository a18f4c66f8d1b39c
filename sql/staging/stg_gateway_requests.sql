-- One row per request from the lake for the window: typed, with total input and output tokens.
with source as (
    select *
    from lake_gateway_requests
),

renamed as (
    select
        source,
        source_file,
        source_row,
        request_id,
        occurred_at,
        event_date,
        provider,
        model,
        service_tier,
        feature,
        user_id,
        user_segment,
        customer_id,
        conversation_id,
        latency_ms,
        status,
        tags,
        input_tokens,
        cache_read_tokens,
        cache_write_5m_tokens,
        cache_write_1h_tokens,
        output_tokens,
        reasoning_tokens,
        audio_input_tokens,
        audio_output_tokens,
        web_search_requests,
        input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens
            + audio_input_tokens as total_input_tokens,
        output_tokens + reasoning_tokens + audio_output_tokens as total_output_tokens,
    from source
    where event_date >= $window_start and event_date < $window_end
)

select * from renamed
