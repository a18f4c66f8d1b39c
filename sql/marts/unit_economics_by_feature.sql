-- One row per month (YYYY-MM) x user_segment x feature: active users, requests, tokens, cost and unit costs.
-- Active users overlap between features: do not add them up across features (marts.unit_economics has the segment's).
-- Unit costs are over priced usage: cost per 1k requests divides by priced_requests and cost per 1M tokens by
-- priced_tokens (every token bucket); unpriced_requests says how much usage has no cost yet. An active user is a
-- distinct (pseudonymized) user_id with at least one request. cost_usd is inference only; full_cost_usd adds the
-- feature's idle GPU share and overhead from marts.full_cost (its total_usd).
-- money_muldiv is an exact DECIMAL division macro (pipelines/storage/money.py); null when dividing by 0.
with requests as (
    select
        strftime(event_date, '%Y-%m') as month,
        coalesce(user_segment, 'unattributed') as user_segment,
        feature,
        user_id,
        is_priced,
        cost_usd,
        total_input_tokens + total_output_tokens as tokens,
    from core.request_costs
),

totals as (
    select
        month,
        user_segment,
        feature,
        count(distinct user_id) as active_users,
        count(*) as requests,
        count(*) filter (where is_priced) as priced_requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        cast(sum(tokens) as bigint) as tokens,
        cast(coalesce(sum(tokens) filter (where is_priced), 0) as bigint) as priced_tokens,
        cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd,
    from requests
    group by month, user_segment, feature
),

full_cost as (
    select strftime(event_date, '%Y-%m') as month, user_segment, feature, sum(total_usd) as full_cost_usd
    from marts.full_cost
    group by all
)

select
    month,
    user_segment,
    feature,
    active_users,
    requests,
    priced_requests,
    unpriced_requests,
    tokens,
    priced_tokens,
    cost_usd,
    money_muldiv(cost_usd, 1, active_users) as cost_per_active_user_usd,
    money_muldiv(cost_usd, 1000, priced_requests) as cost_per_1k_requests_usd,
    money_muldiv(cost_usd, 1000000, priced_tokens) as cost_per_1m_tokens_usd,
    cast(coalesce(full_cost.full_cost_usd, 0) as decimal(38, 15)) as full_cost_usd,
    money_muldiv(coalesce(full_cost.full_cost_usd, 0), 1000, priced_requests) as full_cost_per_1k_requests_usd,
from totals
left join full_cost using (month, user_segment, feature)
