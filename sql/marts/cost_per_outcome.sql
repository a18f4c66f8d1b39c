-- One row per event_date x feature x outcome_type: outcomes, the feature's requests and spend that day, cost per outcome.
-- cost_usd is ALL of the feature's priced spend that day, requests that led to no outcome included (the honest
-- unit cost). A feature-day with two outcome types repeats that spend on both rows: do not sum cost_usd across
-- outcome types. Idle self-hosted capacity belongs to no feature and is not included.
-- money_muldiv is an exact DECIMAL division macro (pipelines/storage/money.py); null when there is no outcome.
with outcomes as (
    select
        event_date,
        feature,
        outcome_type,
        count(*) as outcomes,
        sum(value_usd) as value_usd,
    from core.outcomes
    group by event_date, feature, outcome_type
),

feature_days as (
    select distinct event_date, feature
    from outcomes
),

spend as (
    select
        requests.event_date,
        requests.feature,
        count(*) as requests,
        count(*) filter (where not requests.is_priced) as unpriced_requests,
        coalesce(sum(requests.cost_usd), 0) as cost_usd,
    from core.request_costs as requests
    semi join feature_days
        on feature_days.event_date = requests.event_date
        and feature_days.feature = requests.feature
    group by requests.event_date, requests.feature
)

select
    outcomes.event_date,
    outcomes.feature,
    outcomes.outcome_type,
    outcomes.outcomes,
    coalesce(spend.requests, 0) as requests,
    coalesce(spend.unpriced_requests, 0) as unpriced_requests,
    cast(coalesce(spend.cost_usd, 0) as decimal(38, 15)) as cost_usd,
    money_muldiv(coalesce(spend.cost_usd, 0), 1, outcomes.outcomes) as cost_per_outcome_usd,
    cast(outcomes.value_usd as decimal(38, 15)) as value_usd,
from outcomes
left join spend
    on spend.event_date = outcomes.event_date
    and spend.feature = outcomes.feature
