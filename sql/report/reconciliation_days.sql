-- The 20 provider-days (and models) of [$start, $end) whose bill differs most from the estimate.
select charge_date, provider, model, estimated_cost_usd, billed_cost_usd, variance_usd, variance_pct, status
from marts.billing_reconciliation
where charge_date >= $start and charge_date < $end and status <> 'matched'
order by abs(coalesce(variance_usd, billed_cost_usd, 0)) desc, charge_date, provider, model  -- an unknown estimate: its bill
limit 20
