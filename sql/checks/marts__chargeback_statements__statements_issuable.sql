-- Statements that cannot be issued, with the reason: unpriced requests under `unpriced: block`, a missing exchange
-- rate or a model tier without a price (a warning on marts.chargeback_statements; `tokenledger close` and
-- `tokenledger export usage` refuse them).
select statement_id, blocked_reason
from marts.chargeback_statements
where blocked_reason is not null
order by statement_id
