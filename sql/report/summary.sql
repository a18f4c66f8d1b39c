-- The report's headline numbers for the window [$start, $end): dates covered, requests, unpriced requests, billed
-- tokens, spend (marts.daily_spend, idle GPU capacity included), cost per priced request and per 1M priced tokens
-- (marts.unit_economics_by_feature's priced tokens, months $start_month .. $end_month), net cache savings.
-- money_muldiv and exact_ratio are exact DECIMAL division macros (pipelines/storage/money.py).
with spend as (
    select
        min(event_date) as first_day,
        max(event_date) as last_day,
        coalesce(sum(requests), 0) as requests,
        coalesce(sum(unpriced_requests), 0) as unpriced_requests,
        coalesce(sum(
            input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens
            + output_tokens + reasoning_tokens + audio_input_tokens + audio_output_tokens
            + coalesce(image_input_tokens, 0) + coalesce(image_output_tokens, 0)  -- null on days built before images
        ), 0) as tokens,
        cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd,
    from marts.daily_spend
    where event_date >= $start and event_date < $end
),

priced as (
    select coalesce(sum(priced_tokens), 0) as priced_tokens
    from marts.unit_economics_by_feature
    where month >= $start_month and month <= $end_month
),

cache as (
    select cast(sum(net_saved_usd) as decimal(38, 15)) as net_saved_usd
    from marts.cache_savings
    where event_date >= $start and event_date < $end
)

select
    spend.*,
    money_muldiv(spend.cost_usd, 1, spend.requests - spend.unpriced_requests) as cost_per_request_usd,
    money_muldiv(spend.cost_usd, 1000000, priced.priced_tokens) as cost_per_1m_tokens_usd,
    coalesce(cache.net_saved_usd, 0) as net_saved_usd,
    exact_ratio(spend.unpriced_requests * 100, spend.requests) as unpriced_pct,
from spend, priced, cache
