-- One row per chargeback statement of the month closed last (what `tokenledger close` prints): id, currency, charge,
-- and the currency's minor-unit places the charge is rounded to (0 for JPY, 3 for KWD).
select statement_id, currency, charge, currency_places
from marts.chargeback_statements
where period = (select month from finance.closed_periods order by closed_at desc limit 1)
order by statement_id
