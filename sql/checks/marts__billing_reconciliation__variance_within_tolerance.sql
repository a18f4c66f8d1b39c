-- Provider-day rows whose bill is outside the tolerance (over or under billed), that only a bill shows, or whose bill
-- has a line in a currency without an exchange rate (no_fx_rate), largest difference first.
select charge_date, provider, coalesce(model, '(all models)') as model, status, estimated_cost_usd, billed_cost_usd, variance_usd
from marts.billing_reconciliation
where status in ('over_billed', 'under_billed', 'billed_only', 'no_fx_rate')
order by abs(variance_usd) desc, charge_date, provider
