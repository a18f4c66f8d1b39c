-- Spend per feature and model in the window [$start, $end), with the model's share of the feature's spend
-- (percent; null for a feature with no priced spend). exact_ratio is a macro (pipelines/storage/money.py).
with by_feature_model as (
    select
        feature,
        provider || '/' || model as model,
        cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd,
    from marts.daily_spend
    where event_date >= $start and event_date < $end
    group by feature, provider, model
)

select
    *,
    exact_ratio(cost_usd * 100, sum(cost_usd) over (partition by feature)) as share_pct,
from by_feature_model
order by feature, cost_usd desc, model
