-- `tokenledger demo`: the latest month's break-even line per cluster and compared API model (marts.self_host_breakeven).
select
    cluster,
    month,
    compare_provider || '/' || compare_model as compare_with,
    utilization,
    cost_per_1m_tokens_usd,
    api_cost_per_1m_tokens_usd,
    breakeven_utilization,
from marts.self_host_breakeven
where month = (select max(month) from marts.self_host_breakeven)
order by cluster, compare_with
