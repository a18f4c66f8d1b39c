-- Month-to-date spend per feature and per user segment, the spend side of marts.budget_status:
-- pipelines/insights/budgets.py joins it to <home>/budgets.yaml and adds the burn rate and month-end projection.
-- Unpriced requests add no cost; they are counted so the report can say the spend is a floor.
with month_spend as (
    select *
    from marts.daily_spend
    where event_date >= $month_start and event_date < $month_end
),

by_feature as (
    select
        'feature' as scope,
        feature as name,
        cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as spent_usd,
        cast(sum(unpriced_requests) as bigint) as unpriced_requests,
    from month_spend
    group by feature
),

by_segment as (
    select
        'segment' as scope,
        user_segment as name,
        cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as spent_usd,
        cast(sum(unpriced_requests) as bigint) as unpriced_requests,
    from month_spend
    group by user_segment
)

select scope, name, spent_usd, unpriced_requests from by_feature
union all
select scope, name, spent_usd, unpriced_requests from by_segment
