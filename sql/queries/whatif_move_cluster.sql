-- `tokenledger whatif --move-cluster`: a self-hosted cluster's requests of [$window_start, $window_end) re-priced on an
-- API model, and the cluster's whole GPU bill of those days (idle included; null when a record has no USD rate).
-- Each request's own buckets at the API model's price in effect at its time, negotiated prices winning over list
-- prices: reprice(requests, with_overrides) is a table macro (sql/marts/_reprice.sql). A request the API model
-- cannot price is counted in unpriceable_requests and left out of target_usd.
with requests as (
    select
        *,
        cast($to_provider as varchar) as to_provider,
        cast($to_model as varchar) as to_model,
    from core.request_costs
    where provider = $provider and event_date >= $window_start and event_date < $window_end
),

traffic as (
    select
        count(*) as requests,
        count(*) filter (where repriceable) as repriced_requests,
        count(*) filter (where not repriceable) as unpriceable_requests,
        count(*) filter (where repriceable and tier_fallback) as tier_fallback_requests,
        cast(coalesce(sum(total_input_tokens + total_output_tokens), 0) as bigint) as tokens,
        cast(coalesce(sum(target_cost_usd) filter (where repriceable), 0) as decimal(38, 15)) as target_usd,
        coalesce(list(distinct target_price_id order by target_price_id) filter (where repriceable), []) as target_price_ids,
        coalesce(list(distinct target_override_id order by target_override_id) filter (where repriceable and target_override_id is not null), [])
            as target_override_ids,
    from reprice('requests', true)
),

bill as (
    select
        count(*) as gpu_records,
        case when count(*) = count(cost_usd) then cast(sum(cost_usd) as decimal(38, 15)) end as gpu_usd,
    from reference.gpu_capacity
    where provider = $provider and event_date >= $window_start and event_date < $window_end
)

select
    traffic.requests,
    traffic.repriced_requests,
    traffic.unpriceable_requests,
    traffic.tier_fallback_requests,
    traffic.tokens,
    bill.gpu_records,
    bill.gpu_usd,
    traffic.target_usd,
    traffic.target_price_ids,
    traffic.target_override_ids,
from traffic
cross join bill
