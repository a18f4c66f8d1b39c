-- `tokenledger demo`: estimate against bill per reconciliation status, over every charge date.
select
    status,
    count(*) as rows,
    sum(estimated_cost_usd) as estimated_cost_usd,
    sum(billed_cost_usd) as billed_cost_usd,
    sum(variance_usd) as variance_usd,
    sum(credits_usd) as credits_usd,
from marts.billing_reconciliation
group by status
order by status
