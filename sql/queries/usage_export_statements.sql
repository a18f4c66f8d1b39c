-- One row per chargeback statement of $month (YYYY-MM), payer order: what `tokenledger export usage` checks before it
-- writes anything (blocked_reason; the payer's charge, for a Stripe customer id) and the totals its file must add up to.
-- currency_places: the currency's minor unit, from the statement's lines. status 'final': the month is closed.
with statements as (
    select *
    from marts.chargeback_statements
    where period = $month
),

places as (
    select
        statement_id,
        any_value(currency_places) as currency_places,
    from marts.chargeback_lines
    where period = $month
    group by statement_id
)

select
    statements.statement_id,
    statements.payer,
    statements.status,
    statements.currency,
    coalesce(places.currency_places, statements.currency_places) as currency_places,
    statements.charge,
    statements.adjustment_lines,
    statements.adjustments,
    statements.blocked_reason,
from statements
left join places
    on places.statement_id = statements.statement_id
order by statements.payer, statements.statement_id
