-- Estimate against bill per reconciliation status for charge dates in [$start, $end).
select
    status,
    count(*) as rows,
    cast(coalesce(sum(estimated_cost_usd), 0) as decimal(38, 15)) as estimated_cost_usd,
    cast(coalesce(sum(billed_cost_usd), 0) as decimal(38, 15)) as billed_cost_usd,
    cast(coalesce(sum(variance_usd), 0) as decimal(38, 15)) as variance_usd,
from marts.billing_reconciliation
where charge_date >= $start and charge_date < $end
group by status
order by status
