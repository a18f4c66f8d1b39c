-- One row per chargeback statement of the month closed last (what `tokenledger close` prints): id, currency, charge.
select statement_id, currency, charge
from marts.chargeback_statements
where period = (select month from finance.closed_periods order by closed_at desc limit 1)
order by statement_id
