-- Spend per feature and model in the window [$start, $end), with the model's share of the feature's spend
-- (percent; null for a feature with no priced spend). A model none of whose requests is priced has a null cost
-- (shown n/a, never $0) and a null share; unpriced_requests counts the model's requests without a price.
-- exact_ratio is a macro (pipelines/storage/money.py).
with by_feature_model as (
    select
        feature,
        provider || '/' || model as model,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        sum(unpriced_requests) as unpriced_requests,
    from marts.daily_spend
    where event_date >= $start and event_date < $end
    group by feature, provider, model
)

select
    *,
    exact_ratio(cost_usd * 100, sum(cost_usd) over (partition by feature)) as share_pct,
from by_feature_model
order by feature, cost_usd desc nulls last, model
