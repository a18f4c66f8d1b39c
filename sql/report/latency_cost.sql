-- Per feature x provider x model in the window [$start, $end): requests, cost per request, outcomes per request and
-- p95 latency as the request-weighted mean of the days' p95 (marts.latency_cost keeps exact quantiles per day; a
-- window's quantile cannot be rebuilt from them). Models none of whose requests are priced are left out (their cost
-- is unknown, not zero: marts.price_coverage lists them). `is_reference`: the feature's most-used model; `is_best`:
-- the cheapest model per request, all its requests priced, whose outcome rate and p95 are at least as good as the
-- reference's.
with models as (
    select
        feature,
        provider,
        model,
        sum(requests) as requests,
        sum(unpriced_requests) as unpriced_requests,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        sum(outcomes) as outcomes,
        sum(p95_latency_ms * requests) filter (where p95_latency_ms is not null)
            / nullif(sum(requests) filter (where p95_latency_ms is not null), 0) as p95_latency_ms,
    from marts.latency_cost
    where event_date >= $start and event_date < $end
    group by feature, provider, model
    having sum(unpriced_requests) < sum(requests)
),

rated as (
    select
        *,
        money_muldiv(cost_usd, 1, requests - unpriced_requests) as cost_per_request,  -- over the priced requests
        outcomes / requests as outcome_rate,
        row_number() over (partition by feature order by requests desc, provider, model) = 1 as is_reference,
    from models
),

reference as (
    select feature, outcome_rate as reference_rate, p95_latency_ms as reference_p95,
    from rated
    where is_reference
),

candidates as (
    select rated.*,
        rated.unpriced_requests = 0
            and rated.outcome_rate >= reference.reference_rate
            and rated.p95_latency_ms <= reference.reference_p95 as qualifies,
    from rated
    join reference using (feature)
)

select
    feature,
    provider,
    model,
    requests,
    unpriced_requests,
    cost_usd,
    cost_per_request,
    outcomes,
    outcome_rate,
    p95_latency_ms,
    is_reference,
    coalesce(qualifies and row_number() over (
        partition by feature, qualifies order by cost_per_request, provider, model
    ) = 1, false) as is_best,
from candidates
order by feature, requests desc, provider, model
