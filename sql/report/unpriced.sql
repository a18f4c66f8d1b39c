-- Requests without a price in the window [$start, $end), per provider, model and reason, most first; first and
-- last seen are event dates (marts.price_coverage_daily).
select
    provider,
    model,
    unpriced_reason,
    sum(requests) as requests,
    cast(sum(tokens) as bigint) as tokens,
    min(event_date) as first_seen,
    max(event_date) as last_seen,
from marts.price_coverage_daily
where event_date >= $start and event_date < $end
group by provider, model, unpriced_reason
order by requests desc, provider, model
