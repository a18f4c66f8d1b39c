-- Full cost per outcome per feature and outcome type in the window [$start, $end): the feature-days' marts.full_cost
-- total (overhead and idle GPU share included) over the outcomes, beside report/outcomes' inference-only cost.
-- money_muldiv is a macro (pipelines/storage/money.py).
with by_type as (
    select
        feature,
        outcome_type,
        sum(outcomes) as outcomes,
        cast(sum(full_cost_usd) as decimal(38, 15)) as full_cost_usd,
    from marts.cost_per_outcome
    where event_date >= $start and event_date < $end
    group by feature, outcome_type
)

select
    feature,
    outcome_type,
    full_cost_usd,
    money_muldiv(full_cost_usd, 1, outcomes) as full_cost_per_outcome_usd,
from by_type
order by feature, outcome_type
