-- One row per request x experiment it takes part in, with the variant it ran under and the unit that is
-- independent in the statistics. A request is in an experiment when
-- - its tags carry `experiment` and `variant` (assigned_by 'tags'; attribution.yaml maps other keys there): its
--   unit is the one experiments.yaml names for the experiment (`unit:`, read as experiment_designs), else its user,
--   else its conversation, else the request itself; or
-- - its user, conversation or customer was assigned through landing/experiments at or before the request
--   (assigned_by 'assignment'; core.experiment_assignments), unless its tags already place it in that experiment.
-- A unit found in two or more variants of one experiment (by tags, by assignment or both) belongs to none:
-- its requests are kept here with variant null and conflict true, and left out of the results.
with requests as (
    select
        source, request_id, occurred_at, event_date, feature, provider, model, service_tier,
        user_id, customer_id, conversation_id, latency_ms, status, is_priced, cost_usd, tags,
    from core.request_costs
),

designs as (
    select experiment, unit,
    from experiment_designs
),

tagged_requests as (
    select
        tags ->> 'experiment' as experiment,
        tags ->> 'variant' as variant,
        requests.* exclude (tags),
    from requests
    where contains(tags, '"experiment"')
        and nullif(trim(tags ->> 'experiment'), '') is not null
        and nullif(trim(tags ->> 'variant'), '') is not null
),

tagged_units as (
    -- the unit experiments.yaml names (when the request has it), else the user, else the conversation, else the request
    select
        tagged_requests.*,
        coalesce(
            case designs.unit
                when 'user_id' then case when user_id is not null then 'user_id' end
                when 'conversation_id' then case when conversation_id is not null then 'conversation_id' end
                when 'customer_id' then case when customer_id is not null then 'customer_id' end
                when 'request_id' then 'request_id'
            end,
            case when user_id is not null then 'user_id' when conversation_id is not null then 'conversation_id' else 'request_id' end
        ) as unit_type,
    from tagged_requests
    left join designs using (experiment)
),

tagged as (
    select
        'tags' as assigned_by,
        case unit_type
            when 'user_id' then user_id
            when 'conversation_id' then conversation_id
            when 'customer_id' then customer_id
            else request_id
        end as unit_id,
        *,
    from tagged_units
),

assignments as (
    select experiment, unit_type, unit_id, variant, assigned_at, conflict, conflicting_variants,
    from core.experiment_assignments
),

assigned_matches as (
    select assignments.experiment, assignments.variant, assignments.conflict, assignments.unit_type, assignments.unit_id,
        requests.* exclude (tags),
    from requests
    join assignments
        on assignments.unit_type = 'user_id' and requests.user_id = assignments.unit_id
    where requests.occurred_at >= assignments.assigned_at
    union all by name
    select assignments.experiment, assignments.variant, assignments.conflict, assignments.unit_type, assignments.unit_id,
        requests.* exclude (tags),
    from requests
    join assignments
        on assignments.unit_type = 'conversation_id' and requests.conversation_id = assignments.unit_id
    where requests.occurred_at >= assignments.assigned_at
    union all by name
    select assignments.experiment, assignments.variant, assignments.conflict, assignments.unit_type, assignments.unit_id,
        requests.* exclude (tags),
    from requests
    join assignments
        on assignments.unit_type = 'customer_id' and requests.customer_id = assignments.unit_id
    where requests.occurred_at >= assignments.assigned_at
),

assigned as (
    -- a request the feed reaches through two units of one experiment counts once, by its user, then conversation
    select * exclude (conflict), 'assignment' as assigned_by, conflict as assignment_conflict,
    from assigned_matches
    anti join tagged using (experiment, source, request_id)
    qualify row_number() over (
        partition by experiment, source, request_id
        order by case unit_type when 'user_id' then 1 when 'conversation_id' then 2 else 3 end
    ) = 1
),

members as (
    select * , false as assignment_conflict from tagged
    union all by name
    select * from assigned
),

units as (
    select experiment, unit_type, unit_id,
        count(distinct variant) filter (where not assignment_conflict) > 1 or bool_or(assignment_conflict) as conflict,
    from members
    group by experiment, unit_type, unit_id
)

select
    members.experiment,
    case when not units.conflict then members.variant end as variant,
    units.conflict,
    members.assigned_by,
    members.unit_type,
    members.unit_id,
    members.source,
    members.request_id,
    members.occurred_at,
    members.event_date,
    members.feature,
    members.provider,
    members.model,
    members.service_tier,
    members.conversation_id,
    members.latency_ms,
    members.status,
    members.is_priced,
    members.cost_usd,
from members
join units using (experiment, unit_type, unit_id)
