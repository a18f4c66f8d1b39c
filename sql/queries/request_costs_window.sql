-- core.request_costs' materialization metadata: the window's unpriced requests and spend, and the provider,
-- model and reason of the most frequent unpriced requests (top 5; one row per group, with the totals repeated).
with window_rows as (
    select provider, model, is_priced, unpriced_reason, cost_usd
    from core.request_costs
    where event_date >= $window_start and event_date < $window_end
),

totals as (
    select count(*) filter (where not is_priced) as unpriced_requests, coalesce(sum(cost_usd), 0) as cost_usd
    from window_rows
),

top_unpriced as (
    select provider, model, unpriced_reason, count(*) as requests
    from window_rows
    where not is_priced
    group by all
    order by requests desc, provider, model
    limit 5
)

select totals.unpriced_requests, totals.cost_usd, top_unpriced.*
from totals
left join top_unpriced on true
order by top_unpriced.requests desc nulls last, top_unpriced.provider, top_unpriced.model
