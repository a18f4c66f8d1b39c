-- One row per provider x model seen without a price, or priced by a price-book entry whose start was never
-- published (core.request_costs.price_confidence = 'undated', reference.prices.effective_from null).
-- requests, tokens, unpriced_reasons, service_tiers, first_seen and last_seen describe the unpriced requests
-- (0 and nulls when every request of the model was priced); undated_requests and undated_cost_usd the requests
-- priced by an undated entry.
with seen as (
    select *
    from core.request_costs
    where not is_priced or price_confidence = 'undated'
),

coverage as (
    select
        provider,
        model,
        string_agg(distinct unpriced_reason, ', ' order by unpriced_reason) as unpriced_reasons,
        string_agg(distinct service_tier, ', ' order by service_tier) filter (where not is_priced) as service_tiers,
        count(*) filter (where not is_priced) as requests,
        cast(coalesce(sum(total_input_tokens + total_output_tokens) filter (where not is_priced), 0) as bigint) as tokens,
        min(occurred_at) filter (where not is_priced) as first_seen,
        max(occurred_at) filter (where not is_priced) as last_seen,
        count(*) filter (where price_confidence = 'undated') as undated_requests,
        cast(coalesce(sum(cost_usd) filter (where price_confidence = 'undated'), 0) as decimal(38, 15)) as undated_cost_usd,
    from seen
    group by provider, model
)

select * from coverage
