-- One row per event_date x feature x user_segment x provider x model x service_tier.
with requests as (
    select *
    from core.request_costs
    where event_date >= $window_start and event_date < $window_end
),

daily as (
    select
        event_date,
        feature,
        coalesce(user_segment, 'unattributed') as user_segment,
        provider,
        model,
        service_tier,
        count(*) as requests,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(cache_read_tokens) as bigint) as cache_read_tokens,
        cast(sum(cache_write_5m_tokens) as bigint) as cache_write_5m_tokens,
        cast(sum(cache_write_1h_tokens) as bigint) as cache_write_1h_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(reasoning_tokens) as bigint) as reasoning_tokens,
        cast(sum(audio_input_tokens) as bigint) as audio_input_tokens,
        cast(sum(audio_output_tokens) as bigint) as audio_output_tokens,
        cast(sum(web_search_requests) as bigint) as web_search_requests,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        count(*) filter (where not is_priced) as unpriced_requests,
    from requests
    group by all
)

select * from daily
