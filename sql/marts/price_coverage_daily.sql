-- One row per event_date x provider x model x service_tier x unpriced_reason: the requests the price book could
-- not price that day and their tokens (every bucket). marts.price_coverage sums the same over all dates.
select
    event_date,
    provider,
    model,
    service_tier,
    unpriced_reason,
    count(*) as requests,
    cast(sum(total_input_tokens + total_output_tokens) as bigint) as tokens,
from core.request_costs
where not is_priced
group by event_date, provider, model, service_tier, unpriced_reason
