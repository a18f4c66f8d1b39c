-- `tokenledger run` and `demo`: spend per feature over every date in marts.daily_spend, most expensive first,
-- then one total row (feature null). cost_per_request_usd divides by all requests of the feature (unpriced ones
-- add no cost, so it is a floor where unpriced_requests > 0); null, like cost_usd, when none is priced. first_day
-- and last_day are the data's date span.
-- money_muldiv is an exact DECIMAL division macro (pipelines/storage/money.py).
with spend as (
    select
        feature,
        sum(requests) as requests,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        sum(unpriced_requests) as unpriced_requests,
    from marts.daily_spend
    group by rollup (feature)
),

span as (
    select min(event_date) as first_day, max(event_date) as last_day
    from marts.daily_spend
)

select
    feature,
    requests,
    cost_usd,
    money_muldiv(cost_usd, 1, requests) as cost_per_request_usd,
    unpriced_requests,
    span.first_day,
    span.last_day,
from spend
cross join span
where requests is not null
order by feature is null, cost_usd desc nulls last, feature
