-- One row per month (YYYY-MM) x user_segment: active users, requests, tokens, cost and unit costs.
-- Unit costs are over priced usage: cost per 1k requests divides by priced_requests and cost per 1M tokens by
-- priced_tokens (every token bucket); unpriced_requests says how much usage has no cost yet. An active user is a
-- distinct (pseudonymized) user_id with at least one request. cost_usd is inference only (API and allocated GPU
-- cost); full_cost_usd adds the segment's idle GPU share and overhead from marts.full_cost (its total_usd).
-- Energy beside cost, from marts.energy_carbon (split over segments by tokens on a self-hosted cluster, by requests
-- on an API, so DOUBLE): kwh_measured and kwh_estimated are never added up silently; wh_per_request divides their
-- sum by the requests whose energy is known and energy_basis says what was summed ('measured', 'estimated',
-- 'measured+estimated', with '+unknown' when some requests have no figure, or 'unknown'). Same for carbon.
-- Each segment's share is summed as DECIMAL (DOUBLE sums differ in their last digits with the order threads add
-- them in) and shown as DOUBLE: a re-run gives identical marts. Idle capacity's energy is not attributed here.
-- Per outcome: outcomes of the month whose first linked request is in the segment (marts.outcome_costs.user_segment);
-- cost_per_outcome_usd, full_cost_per_outcome_usd and wh_per_outcome divide all of the segment's cost or known
-- energy by them (requests that led to no outcome included).
-- money_muldiv is an exact DECIMAL division macro, basis_label a macro too (pipelines/storage/money.py).
with requests as (
    select
        strftime(event_date, '%Y-%m') as month,
        coalesce(user_segment, 'unattributed') as user_segment,
        user_id,
        is_priced,
        cost_usd,
        total_input_tokens + total_output_tokens as tokens,
    from core.request_costs
),

totals as (
    select
        month,
        user_segment,
        count(distinct user_id) as active_users,
        count(*) as requests,
        count(*) filter (where is_priced) as priced_requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        cast(sum(tokens) as bigint) as tokens,
        cast(coalesce(sum(tokens) filter (where is_priced), 0) as bigint) as priced_tokens,
        cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd,
    from requests
    group by month, user_segment
),

-- idle_capacity and unallocated_overhead are rows without requests (segment 'unattributed'): no segment's cost
full_cost as (
    select strftime(event_date, '%Y-%m') as month, user_segment, sum(total_usd) as full_cost_usd
    from marts.full_cost
    where feature not in ('idle_capacity', 'unallocated_overhead')
    group by all
),

outcomes as (
    select strftime(event_date, '%Y-%m') as month, user_segment, count(*) as outcomes
    from marts.outcome_costs
    where user_segment is not null
    group by all
),

segment_groups as (
    select
        event_date,
        feature,
        provider,
        model,
        coalesce(user_segment, 'unattributed') as user_segment,
        count(*) as requests,
        sum(total_input_tokens + total_output_tokens) as tokens,
    from core.request_costs
    group by all
),

segment_energy as (
    select
        strftime(segment_groups.event_date, '%Y-%m') as month,
        segment_groups.user_segment,
        segment_groups.requests,
        energy.basis,
        energy.carbon_basis,
        case
            when starts_with(energy.provider, 'self_hosted:') and energy.tokens > 0 then segment_groups.tokens / energy.tokens
            else segment_groups.requests / energy.requests
        end as part,
        cast(cast(energy.kwh as double) * part as decimal(38, 15)) as kwh,  -- DECIMAL: summed exactly, in any order
        cast(cast(energy.kg_co2e as double) * part as decimal(38, 15)) as kg_co2e,
    from segment_groups
    inner join marts.energy_carbon as energy
        on energy.event_date = segment_groups.event_date
        and energy.feature = segment_groups.feature
        and energy.provider = segment_groups.provider
        and energy.model = segment_groups.model
),

energy as (
    select
        month,
        user_segment,
        cast(sum(kwh) filter (where basis = 'measured') as double) as kwh_measured,
        cast(sum(kwh) filter (where basis = 'estimated') as double) as kwh_estimated,
        sum(requests) filter (where basis <> 'unknown') as energy_requests,
        sum(requests) filter (where basis = 'unknown') as unknown_energy_requests,
        cast(sum(kg_co2e) filter (where carbon_basis = 'measured') as double) as kg_co2e_measured,
        cast(sum(kg_co2e) filter (where carbon_basis = 'estimated') as double) as kg_co2e_estimated,
        sum(requests) filter (where carbon_basis <> 'unknown') as carbon_requests,
        sum(requests) filter (where carbon_basis = 'unknown') as unknown_carbon_requests,
    from segment_energy
    group by month, user_segment
)

select
    month,
    user_segment,
    active_users,
    requests,
    priced_requests,
    unpriced_requests,
    tokens,
    priced_tokens,
    cost_usd,
    money_muldiv(cost_usd, 1, active_users) as cost_per_active_user_usd,
    money_muldiv(cost_usd, 1000, priced_requests) as cost_per_1k_requests_usd,
    money_muldiv(cost_usd, 1000000, priced_tokens) as cost_per_1m_tokens_usd,
    cast(coalesce(full_cost.full_cost_usd, 0) as decimal(38, 15)) as full_cost_usd,
    money_muldiv(coalesce(full_cost.full_cost_usd, 0), 1, active_users) as full_cost_per_active_user_usd,
    money_muldiv(coalesce(full_cost.full_cost_usd, 0), 1000, priced_requests) as full_cost_per_1k_requests_usd,
    energy.kwh_measured,
    energy.kwh_estimated,
    cast(coalesce(energy.unknown_energy_requests, 0) as bigint) as unknown_energy_requests,
    (coalesce(energy.kwh_measured, 0) + coalesce(energy.kwh_estimated, 0)) * 1000 / nullif(energy.energy_requests, 0) as wh_per_request,
    basis_label(energy.kwh_measured, energy.kwh_estimated, energy.unknown_energy_requests, energy.energy_requests) as energy_basis,
    energy.kg_co2e_measured,
    energy.kg_co2e_estimated,
    (coalesce(energy.kg_co2e_measured, 0) + coalesce(energy.kg_co2e_estimated, 0)) * 1000 / nullif(energy.carbon_requests, 0)
        as g_co2e_per_request,
    basis_label(energy.kg_co2e_measured, energy.kg_co2e_estimated, energy.unknown_carbon_requests, energy.carbon_requests)
        as carbon_basis,
    cast(coalesce(outcomes.outcomes, 0) as bigint) as outcomes,
    money_muldiv(cost_usd, 1, outcomes.outcomes) as cost_per_outcome_usd,
    money_muldiv(coalesce(full_cost.full_cost_usd, 0), 1, outcomes.outcomes) as full_cost_per_outcome_usd,
    -- null, never 0, when no request's energy (or carbon) is known
    case when coalesce(energy.kwh_measured, energy.kwh_estimated) is not null then
        (coalesce(energy.kwh_measured, 0) + coalesce(energy.kwh_estimated, 0)) * 1000 / nullif(outcomes.outcomes, 0) end as wh_per_outcome,
    case when coalesce(energy.kg_co2e_measured, energy.kg_co2e_estimated) is not null then
        (coalesce(energy.kg_co2e_measured, 0) + coalesce(energy.kg_co2e_estimated, 0)) * 1000 / nullif(outcomes.outcomes, 0) end
        as g_co2e_per_outcome,
from totals
left join full_cost using (month, user_segment)
left join energy using (month, user_segment)
left join outcomes using (month, user_segment)
