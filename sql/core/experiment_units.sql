-- One row per experiment x variant x feature x unit (a user, conversation, customer or request; see
-- core.experiment_requests): the unit's requests in that feature, its errors (status other than 'ok'), its
-- priced cost and its outcomes. An outcome counts for a unit when it links (core.outcomes.linked_by) to one of
-- the unit's requests of the outcome's feature: by request_id, or by conversation_id; each outcome once.
-- Units in two variants (conflict) are not here. The statistics of marts.experiment_results resample these rows.
with members as (
    select *
    from core.experiment_requests
    where variant is not null
),

unit_requests as (
    select
        experiment,
        variant,
        feature,
        unit_type,
        unit_id,
        count(*) as requests,
        count(*) filter (where coalesce(status, 'ok') <> 'ok') as errors,
        count(*) filter (where not is_priced) as unpriced_requests,
        coalesce(sum(cost_usd), 0) as cost_usd,
        min(occurred_at) as first_request_at,
    from members
    group by experiment, variant, feature, unit_type, unit_id
),

linked as (
    select members.experiment, members.variant, members.feature, members.unit_type, members.unit_id, outcomes.outcome_id,
    from members
    join core.outcomes as outcomes
        on outcomes.linked_by = 'request_id'
        and outcomes.request_id = members.request_id
        and outcomes.feature = members.feature
    union
    select members.experiment, members.variant, members.feature, members.unit_type, members.unit_id, outcomes.outcome_id,
    from members
    join core.outcomes as outcomes
        on outcomes.linked_by = 'conversation_id'
        and outcomes.conversation_id = members.conversation_id
        and outcomes.feature = members.feature
),

unit_outcomes as (
    select experiment, variant, feature, unit_type, unit_id, count(distinct outcome_id) as outcomes,
    from linked
    group by experiment, variant, feature, unit_type, unit_id
)

select
    unit_requests.experiment,
    unit_requests.variant,
    unit_requests.feature,
    unit_requests.unit_type,
    unit_requests.unit_id,
    unit_requests.requests,
    unit_requests.errors,
    unit_requests.unpriced_requests,
    cast(unit_requests.cost_usd as decimal(38, 15)) as cost_usd,
    coalesce(unit_outcomes.outcomes, 0) as outcomes,
    unit_requests.first_request_at,
from unit_requests
left join unit_outcomes using (experiment, variant, feature, unit_type, unit_id)
