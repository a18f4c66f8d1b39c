-- One row per event_date x feature x outcome_type: outcomes, the feature's requests and spend that day, cost per outcome.
-- cost_usd is ALL of the feature's priced spend that day, requests that led to no outcome included (the honest
-- unit cost). A feature-day with two outcome types repeats that spend on both rows: do not sum cost_usd across
-- outcome types. cost_usd is inference only (idle self-hosted capacity belongs to no feature there);
-- full_cost_usd is the feature-day's total_usd in marts.full_cost (its idle GPU share and overhead included).
-- Energy per outcome beside cost, from marts.energy_carbon: kwh_measured and kwh_estimated apart, wh_per_outcome
-- over their sum with energy_basis saying what was summed ('measured', 'estimated', 'measured+estimated', with
-- '+unknown' when some of the feature's requests that day have no figure, or 'unknown').
-- money_muldiv is an exact DECIMAL division macro (null when there is no outcome), basis_label a macro too
-- (pipelines/storage/money.py).
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
),

full_cost as (
    select event_date, feature, sum(total_usd) as full_cost_usd
    from marts.full_cost
    group by event_date, feature
),

energy as (
    select
        event_date,
        feature,
        sum(kwh) filter (where basis = 'measured') as kwh_measured,
        sum(kwh) filter (where basis = 'estimated') as kwh_estimated,
        sum(requests) filter (where basis = 'unknown') as unknown_energy_requests,
        sum(requests) filter (where basis <> 'unknown') as energy_requests,
    from marts.energy_carbon
    group by event_date, feature
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
    cast(coalesce(full_cost.full_cost_usd, 0) as decimal(38, 15)) as full_cost_usd,
    money_muldiv(coalesce(full_cost.full_cost_usd, 0), 1, outcomes.outcomes) as full_cost_per_outcome_usd,
    energy.kwh_measured,
    energy.kwh_estimated,
    case when coalesce(energy.kwh_measured, energy.kwh_estimated) is not null then  -- null, never 0, when no energy is known
        cast((coalesce(energy.kwh_measured, 0) + coalesce(energy.kwh_estimated, 0)) * 1000 / outcomes.outcomes as double) end as wh_per_outcome,
    basis_label(energy.kwh_measured, energy.kwh_estimated, energy.unknown_energy_requests, energy.energy_requests) as energy_basis,
from outcomes
left join spend
    on spend.event_date = outcomes.event_date
    and spend.feature = outcomes.feature
left join full_cost
    on full_cost.event_date = outcomes.event_date
    and full_cost.feature = outcomes.feature
left join energy
    on energy.event_date = outcomes.event_date
    and energy.feature = outcomes.feature
