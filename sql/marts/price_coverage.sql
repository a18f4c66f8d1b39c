-- One row per provider x model seen without a price: how much usage is unpriced, and why.
with unpriced as (
    select *
    from core.request_costs
    where not is_priced
),

coverage as (
    select
        provider,
        model,
        string_agg(distinct unpriced_reason, ', ' order by unpriced_reason) as unpriced_reasons,
        string_agg(distinct service_tier, ', ' order by service_tier) as service_tiers,
        count(*) as requests,
        cast(sum(total_input_tokens + total_output_tokens) as bigint) as tokens,
        min(occurred_at) as first_seen,
        max(occurred_at) as last_seen,
    from unpriced
    group by provider, model
)

select * from coverage
