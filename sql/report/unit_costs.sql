-- Unit costs per feature over the months $start_month .. $end_month (priced requests only): requests, priced
-- requests and tokens, spend, cost per priced request and per 1M priced tokens (every token bucket).
-- money_muldiv is an exact DECIMAL division macro (pipelines/storage/money.py).
with by_feature as (
    select
        feature,
        sum(requests) as requests,
        sum(priced_requests) as priced_requests,
        cast(sum(priced_tokens) as bigint) as priced_tokens,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
    from marts.unit_economics_by_feature
    where month >= $start_month and month <= $end_month
    group by feature
)

select
    *,
    money_muldiv(cost_usd, 1, priced_requests) as cost_per_request_usd,
    money_muldiv(cost_usd, 1000000, priced_tokens) as cost_per_1m_tokens_usd,
from by_feature
order by cost_usd desc, feature
