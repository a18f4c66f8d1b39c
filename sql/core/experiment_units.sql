-- One row per experiment x variant x feature x unit: the unit (unit_type user_id, conversation_id, customer_id or
-- request_id; user ids are pseudonyms), its requests in that feature, its errors (status other than 'ok'), unpriced
-- requests, priced cost, outcomes and the latencies of its requests (latencies_ms, for the exact quantiles and the
-- bootstrap of marts.experiment_results). A request is in an experiment when
-- - its tags carry `experiment` and `variant` (attribution.yaml maps other keys there): its unit is the one
--   experiments.yaml names for the experiment (`unit:`, read as experiment_designs), else its user (unless a user
--   of the experiment ran under two variants: it was randomized finer), else its conversation, else the request
--   itself; or
-- - its user, conversation or customer was assigned through landing/experiments at or before the request
--   (core.experiment_assignments), unless its tags already place it in that experiment; a request the feed reaches
--   through two units of one experiment counts once, by its user, then its conversation.
-- A unit found in two or more variants of one experiment (by tags, by the feed or both) belongs to none: its rows
-- have variant null and conflict true, and the results leave them out and count them. An outcome counts for a unit
-- when it links (core.outcomes.linked_by) to one of the unit's requests of the outcome's feature, by request_id (the
-- request of that id nearest before the outcome, as marts.outcome_costs links it) or by conversation_id; each outcome
-- once. Request-level rows are not stored: they are core.request_costs' rows.
with requests as not materialized (
    -- read by each join with the assignments (cheap when there are none), not stored
    select
        source, request_id, occurred_at, event_date, feature, model,
        user_id, customer_id, conversation_id, latency_ms, status, is_priced, cost_usd,
    from core.request_costs
),

designs as (
    select experiment, unit,
    from experiment_designs
),

tagged_names as materialized (
    -- the two tags read with one parse of the JSON, after a cheap text test (most requests carry no experiment);
    -- stored so the parse is not repeated for each condition on it
    select
        trim(names[1]) as experiment,
        trim(names[2]) as variant,
        * exclude (names),
    from (
        select
            json_extract_string(tags, ['$.experiment', '$.variant']) as names,
            source, request_id, occurred_at, event_date, feature, model,
            user_id, customer_id, conversation_id, latency_ms, status, is_priced, cost_usd,
        from core.request_costs
        where contains(tags, '"experiment"')
    )
),

tagged_requests as (
    select *
    from tagged_names
    where experiment <> '' and variant <> ''
),

users_split as (
    -- experiments where some user's requests ran under two variants: randomized finer than the user
    select experiment,
    from tagged_requests
    where user_id is not null
    group by experiment, user_id
    having min(variant) <> max(variant)
),

tagged as (
    -- the unit experiments.yaml names (when the request has it); else the user, unless some user of the experiment
    -- ran under two variants (then it was randomized per conversation or request); else the conversation; else the
    -- request
    select
        'tags' as assigned_by,
        unit_type,
        case unit_type
            when 'user_id' then user_id
            when 'conversation_id' then conversation_id
            when 'customer_id' then customer_id
            else request_id
        end as unit_id,
        * exclude (unit_type),
    from (
        select
            tagged_requests.*,
            coalesce(
                case designs.unit
                    when 'user_id' then case when user_id is not null then 'user_id' end
                    when 'conversation_id' then case when conversation_id is not null then 'conversation_id' end
                    when 'customer_id' then case when customer_id is not null then 'customer_id' end
                    when 'request_id' then 'request_id'
                end,
                case
                    when user_id is not null and split_experiments.experiment is null then 'user_id'
                    when conversation_id is not null then 'conversation_id'
                    else 'request_id'
                end
            ) as unit_type,
        from tagged_requests
        left join designs using (experiment)
        left join (select distinct experiment from users_split) as split_experiments using (experiment)
    )
),

assignments as (
    select experiment, unit_type, unit_id, variant, assigned_at, conflict,
    from core.experiment_assignments
),

assigned_matches as (
    select assignments.experiment, assignments.variant, assignments.conflict, assignments.unit_type, assignments.unit_id,
        requests.*,
    from requests
    join assignments
        on assignments.unit_type = 'user_id' and requests.user_id = assignments.unit_id
    where requests.occurred_at >= assignments.assigned_at
    union all by name
    select assignments.experiment, assignments.variant, assignments.conflict, assignments.unit_type, assignments.unit_id,
        requests.*,
    from requests
    join assignments
        on assignments.unit_type = 'conversation_id' and requests.conversation_id = assignments.unit_id
    where requests.occurred_at >= assignments.assigned_at
    union all by name
    select assignments.experiment, assignments.variant, assignments.conflict, assignments.unit_type, assignments.unit_id,
        requests.*,
    from requests
    join assignments
        on assignments.unit_type = 'customer_id' and requests.customer_id = assignments.unit_id
    where requests.occurred_at >= assignments.assigned_at
),

assigned as (
    -- a request the feed reaches through two units of one experiment counts once, by its user, then conversation
    select * exclude (conflict), 'assignment' as assigned_by, conflict as assignment_conflict,
    from assigned_matches
    anti join tagged_requests using (experiment, source, request_id, event_date)
    qualify row_number() over (
        partition by experiment, source, request_id, event_date
        order by case unit_type when 'user_id' then 1 when 'conversation_id' then 2 else 3 end
    ) = 1
),

members as (
    select *, false as assignment_conflict from tagged
    union all by name
    select * from assigned
),

units as (
    -- a unit is in conflict when its requests name two variants, or the feed assigned it to two
    select experiment, unit_type, unit_id,
        min(variant) is distinct from max(variant) or bool_or(assignment_conflict) as conflict,
    from members
    group by experiment, unit_type, unit_id
),

unit_requests as (
    select
        members.experiment,
        case when not units.conflict then members.variant end as variant,
        members.feature,
        members.unit_type,
        members.unit_id,
        units.conflict,
        count(*) as requests,
        count(*) filter (where coalesce(members.status, 'ok') <> 'ok') as errors,
        count(*) filter (where not members.is_priced) as unpriced_requests,
        coalesce(sum(members.cost_usd), 0) as cost_usd,
        list_sort(list(members.latency_ms) filter (where members.latency_ms is not null)) as latencies_ms,  -- sorted: the same list on every run
        min(members.occurred_at) as first_request_at,
    from members
    join units using (experiment, unit_type, unit_id)
    group by all
),

request_links as (
    select * from outcome_requests()  -- core/_outcome_requests.sql
),

linked as (
    select members.experiment, members.feature, members.unit_type, members.unit_id, outcomes.outcome_id,
    from members
    join request_links using (source, request_id, event_date)
    join core.outcomes as outcomes
        on outcomes.outcome_id = request_links.outcome_id
        and outcomes.feature = members.feature
    union
    select members.experiment, members.feature, members.unit_type, members.unit_id, outcomes.outcome_id,
    from members
    join core.outcomes as outcomes
        on outcomes.linked_by = 'conversation_id'
        and outcomes.conversation_id = members.conversation_id
        and outcomes.feature = members.feature
),

unit_outcomes as (
    select experiment, feature, unit_type, unit_id, count(distinct outcome_id) as outcomes,
    from linked
    group by experiment, feature, unit_type, unit_id
)

select
    unit_requests.experiment,
    unit_requests.variant,
    unit_requests.feature,
    unit_requests.unit_type,
    unit_requests.unit_id,
    unit_requests.conflict,
    unit_requests.requests,
    unit_requests.errors,
    unit_requests.unpriced_requests,
    cast(unit_requests.cost_usd as decimal(38, 15)) as cost_usd,
    coalesce(unit_outcomes.outcomes, 0) as outcomes,
    coalesce(unit_requests.latencies_ms, []) as latencies_ms,
    unit_requests.first_request_at,
from unit_requests
left join unit_outcomes using (experiment, feature, unit_type, unit_id)
