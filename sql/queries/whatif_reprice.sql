-- `tokenledger whatif`: a feature's requests of one month re-priced at another model's list prices.
-- Each request's own buckets at the target's price in effect at its time: the same service tier when the target
-- has it (else standard), the target's band for the request's input size. A bucket the target does not price
-- separately is billed as it would be there (cache reads and writes as input, reasoning as output); a request
-- the target cannot price (no price at its time, audio or web search it does not sell) is not re-priceable.
-- reprice(requests, with_overrides) is a table macro (sql/marts/_reprice.sql); list prices here (false).
with requests as (
    select
        *,
        cast($provider as varchar) as to_provider,
        cast($model as varchar) as to_model,
    from core.request_costs
    where feature = $feature and event_date >= $month_start and event_date < $month_end
),

repriced as (
    select *
    from reprice('requests', false)
)

select
    count(*) as requests,
    count(*) filter (where not is_priced) as unpriced_requests,
    count(*) filter (where is_priced and repriceable) as repriced_requests,
    count(*) filter (where is_priced and not repriceable) as kept_requests,
    cast(coalesce(sum(cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as actual_usd,
    cast(coalesce(sum(cost_usd) filter (where is_priced and repriceable), 0) as decimal(38, 15)) as repriced_actual_usd,
    cast(coalesce(sum(target_cost_usd) filter (where is_priced and repriceable), 0) as decimal(38, 15)) as target_usd,
    count(*) filter (where is_priced and repriceable and tier_fallback) as tier_fallback_requests,
    coalesce(list(distinct target_price_id order by target_price_id) filter (where is_priced and repriceable), []) as target_price_ids,
from repriced
