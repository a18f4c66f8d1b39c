-- Estimate against bill per reconciliation status for charge dates in [$start, $end). A row whose requests are all
-- unpriced has no estimate (null, never $0): it is counted in unknown_estimates, and its status's variance is then
-- unknown (null) rather than the sum of the rows that have one.
select
    status,
    count(*) as rows,
    count(*) filter (where estimated_cost_usd is null) as unknown_estimates,
    cast(coalesce(sum(estimated_cost_usd), 0) as decimal(38, 15)) as estimated_cost_usd,
    case when count(*) filter (where billed_cost_usd is null) = 0 then cast(coalesce(sum(billed_cost_usd), 0) as decimal(38, 15)) end
        as billed_cost_usd,  -- unknown when a row's bill has a line without an exchange rate (status no_fx_rate)
    case when count(*) filter (where variance_usd is null) = 0 then cast(sum(variance_usd) as decimal(38, 15)) end as variance_usd,
from marts.billing_reconciliation
where charge_date >= $start and charge_date < $end
group by status
order by status
