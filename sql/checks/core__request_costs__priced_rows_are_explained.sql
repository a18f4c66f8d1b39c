-- Rows of the window that break the rule: a priced request has a price_id and a non-negative cost; an unpriced
-- one has a reason and no cost. The first 5 (blocking check on core.request_costs).
select request_id, price_id, cost_usd, unpriced_reason
from core.request_costs
where event_date >= $window_start and event_date < $window_end
    and (
        (is_priced and (price_id is null or cost_usd is null or cost_usd < 0))
        or (not is_priced and (cost_usd is not null or unpriced_reason is null))
    )
limit 5
