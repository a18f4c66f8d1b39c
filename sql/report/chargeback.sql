-- The chargeback statements of the periods $start_month .. $end_month (marts.chargeback_statements), each with the
-- decimals of its currency's minor unit (marts.chargeback_lines.currency_places) to show its money in and whether its
-- period is the latest of those with requests or a charge (is_latest; the latest with statements when none has any:
-- a month holding only outcomes that charge nothing, say the day after a demo's last, has empty statements); the
-- latest period first, then by payer.
with statements as (
    select *
    from marts.chargeback_statements
    where period >= $start_month and period <= $end_month
),

places as (
    select
        statement_id,
        any_value(currency_places) as currency_places,
    from marts.chargeback_lines
    where line_type in ('usage', 'unpriced')
    group by statement_id
)

select
    statements.statement_id,
    statements.payer,
    statements.period,
    statements.period = coalesce(
        max(statements.period) filter (where statements.requests > 0 or statements.charge <> 0) over (), max(statements.period) over ()
    ) as is_latest,
    statements.status,
    statements.closed_at,
    statements.currency,
    coalesce(places.currency_places, 2) as currency_places,
    statements.rule,
    statements.requests,
    statements.unpriced_requests,
    statements.tokens,
    statements.outcomes,
    statements.cost_usd,
    statements.cost,
    statements.gross_charge,
    statements.allowance_unit,
    statements.allowance,
    statements.allowance_used,
    statements.overage,
    statements.charge,
    statements.margin,
    statements.adjustment_lines,
    statements.adjustments,
    statements.blocked_reason,
from statements
left join places
    on places.statement_id = statements.statement_id
order by statements.period desc, statements.payer
