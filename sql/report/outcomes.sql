-- Outcomes per feature and outcome type in the window [$start, $end): outcomes, the feature's requests and spend
-- on days with that outcome, and cost per outcome. money_muldiv is a macro (pipelines/storage/money.py).
with by_type as (
    select
        feature,
        outcome_type,
        sum(outcomes) as outcomes,
        sum(requests) as requests,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
    from marts.cost_per_outcome
    where event_date >= $start and event_date < $end
    group by feature, outcome_type
)

select
    *,
    money_muldiv(cost_usd, 1, outcomes) as cost_per_outcome_usd,
from by_type
order by feature, outcome_type
