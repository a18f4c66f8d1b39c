-- `tokenledger demo`: estimate against bill per reconciliation status, over every charge date. A row whose requests
-- are all unpriced has no estimate (counted in unknown_estimates); its status's variance is then unknown (null).
select
    status,
    count(*) as rows,
    count(*) filter (where estimated_cost_usd is null) as unknown_estimates,
    sum(estimated_cost_usd) as estimated_cost_usd,
    sum(billed_cost_usd) as billed_cost_usd,
    case when count(*) filter (where variance_usd is null) = 0 then sum(variance_usd) end as variance_usd,
    sum(credits_usd) as credits_usd,
from marts.billing_reconciliation
group by status
order by status
