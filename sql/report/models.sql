-- Spend per provider and model in the window [$start, $end), with its share of the window's spend (percent). A model
-- none of whose requests is priced has a null cost and share (shown n/a, never $0 or 0%).
-- exact_ratio is an exact DECIMAL division macro (pipelines/storage/money.py).
with by_model as (
    select
        provider,
        model,
        sum(requests) as requests,
        cast(sum(
            input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens
            + output_tokens + reasoning_tokens + audio_input_tokens + audio_output_tokens
            + coalesce(image_input_tokens, 0) + coalesce(image_output_tokens, 0)  -- null on days built before images
        ) as bigint) as tokens,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        sum(unpriced_requests) as unpriced_requests,
    from marts.daily_spend
    where event_date >= $start and event_date < $end
    group by provider, model
)

select
    *,
    exact_ratio(cost_usd * 100, sum(cost_usd) over ()) as share_pct,
from by_model
order by cost_usd desc nulls last, requests desc, provider, model
