-- One row per request (source, request_id, event_date) of the window: the lake record that counts by the identity rule
-- (staging/_duplicate_records.sql: the final record of each request, one source per provider call), typed, with
-- total input and output tokens. The records that do not count are in audit.duplicate_requests.
with source as (
    select lake.*
    from lake_gateway_requests as lake
    anti join duplicate_records($window_start, $window_end) as duplicates
        using (source_file, source_row)
    where lake.event_date >= $window_start and lake.event_date < $window_end
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
        -- a blank dimension is a missing one (attributed to 'unattributed' downstream), not a segment or customer ''
        case when trim(user_segment) <> '' then user_segment end as user_segment,
        case when trim(customer_id) <> '' then customer_id end as customer_id,
        case when trim(conversation_id) <> '' then conversation_id end as conversation_id,
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
        -- lake files written before the image buckets read them as null
        coalesce(image_input_tokens, 0) as image_input_tokens,
        coalesce(image_output_tokens, 0) as image_output_tokens,
        web_search_requests,
        input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens
            + audio_input_tokens + coalesce(image_input_tokens, 0) as total_input_tokens,
        output_tokens + reasoning_tokens + audio_output_tokens + coalesce(image_output_tokens, 0) as total_output_tokens,
    from source
)

select * from renamed
