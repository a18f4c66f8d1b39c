-- `tokenledger breakeven`: rows of marts.self_host_breakeven ($relation: the table, or the same select computed now
-- for the API models given with --compare-with), for one cluster and one month when given, cheapest break-even first.
select
    cluster,
    month,
    compare_provider || '/' || compare_model as compare_with,
    self_hosted_models,
    requests,
    tokens_served,
    capacity_tokens,
    utilization,
    gpu_cost_usd,
    cost_per_1m_tokens_usd,
    cost_per_1m_tokens_full_utilization_usd,
    compared_requests,
    api_priced_requests,
    api_unpriceable_requests,
    api_cost_usd,
    api_cost_per_1m_tokens_usd,
    breakeven_utilization,
    self_hosted_cheaper,
    api_price_ids,
    api_override_ids,
from query_table($relation)
where (cast($cluster as varchar) is null or cluster = cast($cluster as varchar))
    and (cast($month as varchar) is null or month = cast($month as varchar))
order by cluster, month, breakeven_utilization nulls last, compare_with
