-- One row per outcome with the direct cost of the requests behind it: every request of its conversation when
-- the outcome names a conversation_id, else the request it names (core.outcomes.linked_by says which).
-- Two outcomes of one conversation each show the whole conversation's cost. When no request is found,
-- linked_requests is 0 and direct_cost_usd is null (unknown, not free). user_segment is the segment of the first
-- request behind it ('unattributed' when that request names none; null when no request is found), and
-- first_request_id and first_request_source that request's id and source (the earliest; on a tie, the smallest id,
-- then source): a request is (source, request_id) on its UTC date, and one id can be a request of two sources (an
-- outcome naming it links both) or, from a gateway that numbers its requests per day, of two dates: the outcome links,
-- of each source, the request of that id at or before it (the latest), else the first after it.
with outcomes as (
    select *
    from core.outcomes
),

requests as (
    select
        source,
        request_id,
        event_date,
        conversation_id,
        occurred_at,
        is_priced,
        cost_usd,
        coalesce(user_segment, 'unattributed') as user_segment,
        total_input_tokens + total_output_tokens as tokens,
    from core.request_costs
),

request_links as (
    select * from outcome_requests()  -- core/_outcome_requests.sql
),

linked as (
    select outcomes.outcome_id, requests.*
    from outcomes
    inner join requests
        on requests.conversation_id = outcomes.conversation_id
    where outcomes.linked_by = 'conversation_id'
    union all
    select request_links.outcome_id, requests.*
    from request_links
    inner join requests using (source, request_id, event_date)
),

direct as (
    select
        outcome_id,
        count(*) as linked_requests,
        count(*) filter (where not is_priced) as unpriced_linked_requests,
        cast(sum(tokens) as bigint) as linked_tokens,
        cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as direct_cost_usd,
        min(occurred_at) as first_request_at,
        max(occurred_at) as last_request_at,
        arg_min(user_segment, (occurred_at, request_id, source)) as user_segment,
        arg_min(request_id, (occurred_at, request_id, source)) as first_request_id,
        arg_min(source, (occurred_at, request_id, source)) as first_request_source,
    from linked
    group by outcome_id
)

select
    outcomes.outcome_id,
    outcomes.occurred_at,
    outcomes.event_date,
    outcomes.outcome_type,
    outcomes.feature,
    outcomes.linked_by,
    outcomes.request_id,
    outcomes.conversation_id,
    coalesce(direct.linked_requests, 0) as linked_requests,
    coalesce(direct.unpriced_linked_requests, 0) as unpriced_linked_requests,
    coalesce(direct.linked_tokens, 0) as linked_tokens,
    direct.direct_cost_usd,
    outcomes.value_usd,
    direct.first_request_at,
    direct.last_request_at,
    direct.user_segment,
    direct.first_request_id,
    direct.first_request_source,
from outcomes
left join direct
    on direct.outcome_id = outcomes.outcome_id
