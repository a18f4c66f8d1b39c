-- One row per event_date x feature x provider x model x service_tier: requests, latency quantiles (quantile_disc
-- over the requests with a latency), error_rate (share of requests whose status is not 'ok'; DOUBLE), priced cost
-- per request and per successful request, and the outcomes linked to the group's requests (core.outcomes: by
-- request_id, to that id's request nearest before the outcome (marts.outcome_costs), or by conversation_id to a conversation with a request in the group, of the outcome's feature; an
-- outcome whose conversation spans several models counts for each) with cost_per_outcome. A model without a price is
-- never $0 here: cost_usd is the priced requests' cost (null when none is priced, unpriced_requests says how many are
-- not), cost per request and per successful request divide by the priced ones, and cost_per_outcome is null when any
-- request of the group is unpriced (what its outcomes cost is not known). Money is DECIMAL(38, 15); money_muldiv is an
-- exact DECIMAL division (storage/money.py).
with requests as (
    select
        event_date, feature, provider, model, service_tier, source, request_id, conversation_id, latency_ms, status, is_priced, cost_usd,
        coalesce(status, 'ok') = 'ok' as succeeded,
    from core.request_costs
),

groups as (
    select
        event_date,
        feature,
        provider,
        model,
        service_tier,
        count(*) as requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        count(*) filter (where succeeded) as successful_requests,
        count(*) filter (where is_priced) as priced_requests,
        count(*) filter (where is_priced and succeeded) as priced_successful_requests,
        quantile_disc(latency_ms, 0.5) as p50_latency_ms,
        quantile_disc(latency_ms, 0.95) as p95_latency_ms,
        quantile_disc(latency_ms, 0.99) as p99_latency_ms,
        sum(cost_usd) as cost_usd,
        sum(cost_usd) filter (where succeeded) as successful_cost_usd,
    from requests
    group by event_date, feature, provider, model, service_tier
),

request_links as (
    select * from outcome_requests()  -- core/_outcome_requests.sql
),

linked as (
    select requests.event_date, requests.feature, requests.provider, requests.model, requests.service_tier, outcomes.outcome_id,
    from requests
    join request_links using (source, request_id, event_date)
    join core.outcomes as outcomes
        on outcomes.outcome_id = request_links.outcome_id
        and outcomes.feature = requests.feature
    union
    select requests.event_date, requests.feature, requests.provider, requests.model, requests.service_tier, outcomes.outcome_id,
    from requests
    join core.outcomes as outcomes
        on outcomes.linked_by = 'conversation_id'
        and outcomes.conversation_id = requests.conversation_id
        and outcomes.feature = requests.feature
),

group_outcomes as (
    select event_date, feature, provider, model, service_tier, count(distinct outcome_id) as outcomes,
    from linked
    group by event_date, feature, provider, model, service_tier
)

select
    groups.event_date,
    groups.feature,
    groups.provider,
    groups.model,
    groups.service_tier,
    groups.requests,
    groups.unpriced_requests,
    groups.p50_latency_ms,
    groups.p95_latency_ms,
    groups.p99_latency_ms,
    (groups.requests - groups.successful_requests) / groups.requests as error_rate,
    cast(groups.cost_usd as decimal(38, 15)) as cost_usd,
    money_muldiv(groups.cost_usd, 1, nullif(groups.priced_requests, 0)) as cost_per_request,
    money_muldiv(groups.successful_cost_usd, 1, nullif(groups.priced_successful_requests, 0)) as cost_per_successful_request,
    coalesce(group_outcomes.outcomes, 0) as outcomes,
    case when groups.unpriced_requests = 0 then money_muldiv(groups.cost_usd, 1, nullif(group_outcomes.outcomes, 0)) end
        as cost_per_outcome,
from groups
left join group_outcomes
    on group_outcomes.event_date = groups.event_date
    and group_outcomes.feature = groups.feature
    and group_outcomes.provider = groups.provider
    and group_outcomes.model = groups.model
    and group_outcomes.service_tier is not distinct from groups.service_tier
