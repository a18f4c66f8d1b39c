-- One row per dated exchange rate from landing/fx/*.csv: usd_rate is units of `currency` per 1 USD on rate_date.
-- landed_fx_rates: the valid rows (pipelines/pricing/fx.py); the rejected ones are in audit.rejected_fx_rows.
-- A day without its own rate uses the latest earlier one (the marts join as of the date).
select
    rate_date,
    currency,
    usd_rate,
    source_file,
    source_row,
from landed_fx_rates
