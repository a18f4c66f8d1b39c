-- Self-hosted versus API per cluster (marts.self_host_breakeven): each cluster's latest month in
-- $start_month .. $end_month, one row per compared API model, the cheapest API model first.
select
    cluster,
    month,
    compare_provider,
    compare_model,
    self_hosted_models,
    requests,
    tokens_served,
    capacity_tokens,
    gpu_cost_usd,
    utilization,
    cost_per_1m_tokens_usd,
    cost_per_1m_tokens_full_utilization_usd,
    api_priced_requests,
    api_unpriceable_requests,
    api_priced_tokens,
    api_cost_usd,
    api_cost_per_1m_tokens_usd,
    breakeven_utilization,
    self_hosted_cheaper,
from marts.self_host_breakeven
where month >= $start_month and month <= $end_month
qualify month = max(month) over (partition by cluster)
order by cluster, api_cost_per_1m_tokens_usd nulls last, compare_provider, compare_model
