-- One feature or user segment with spend in marts.daily_spend (idle capacity left out) and its cost over every
-- date there: scope 'feature' or 'segment', costliest first within each scope.
with spend as (
    select feature, user_segment, cost_usd
    from marts.daily_spend
    where feature <> 'idle_capacity'
),

by_feature as (
    select 'feature' as scope, feature as name, sum(cost_usd) as cost_usd
    from spend
    group by feature
),

by_segment as (
    select 'segment' as scope, user_segment as name, sum(cost_usd) as cost_usd
    from spend
    group by user_segment
),

scopes as (
    select scope, name, cost_usd
    from by_feature
    union all
    select scope, name, cost_usd
    from by_segment
)

select scope, name, cost_usd
from scopes
where cost_usd > 0
order by scope, cost_usd desc, name
