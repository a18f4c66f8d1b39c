-- One row per payer x period ('YYYY-MM'): the statement of <home>/chargeback.yaml's rules over marts.chargeback_lines.
-- status: 'draft' while the month is open, 'final' once `tokenledger close` froze it (its totals never change
-- after that; what changed since shows in `adjustments`, the sum of its credit, debit and adjustment lines, statement
-- '<statement_id>-ADJ'). charge: what the payer is billed in `currency` (after the allowance, rounded to the
-- currency's minor unit, currency_places decimals: the sum of its usage lines); cost: the priced requests' cost in that currency;
-- margin = charge - cost. allowance / units / allowance_used / overage are in allowance_unit (tokens, requests, outcomes, or
-- amount: charge in the payer's currency); overage = units beyond the allowance (for an amount, gross_charge -
-- allowance_used); allowance_used never exceeds the allowance and is whole for tokens, requests and outcomes.
-- unpriced_requests are never charged;
-- blocked_reason says why the statement cannot be issued (unpriced requests under `unpriced: block`, a missing
-- exchange rate, a tier without a price; for a final statement, an adjustment line since the close that cannot be
-- charged for one of these, and `adjustments` is then null): `tokenledger close` and `tokenledger export usage` refuse it.
with lines as (
    select *
    from marts.chargeback_lines
),

statements as (
    select
        statement_id,
        payer,
        period,
        any_value(status) as status,
        any_value(currency) as currency,
        any_value(currency_places) as currency_places,
        any_value(rule) as rule,
        cast(coalesce(sum(requests) filter (where line_type = 'usage'), 0) as bigint) as requests,
        cast(coalesce(sum(requests) filter (where line_type = 'unpriced'), 0) as bigint) as unpriced_requests,
        cast(sum(tokens) filter (where line_type = 'usage') as bigint) as tokens,
        cast(sum(outcomes) filter (where line_type = 'usage') as bigint) as outcomes,
        cast(coalesce(sum(cost_usd) filter (where line_type = 'usage'), 0) as decimal(38, 15)) as cost_usd,
        case when count(*) filter (where line_type = 'usage' and cost is null) = 0
            then cast(coalesce(sum(cost) filter (where line_type = 'usage'), 0) as decimal(38, 15)) end as cost,
        case when count(*) filter (where line_type = 'usage' and gross_charge is null) = 0
            then cast(coalesce(sum(gross_charge) filter (where line_type = 'usage'), 0) as decimal(38, 15)) end as gross_charge,
        any_value(allowance_unit) as allowance_unit,
        any_value(allowance) as allowance,
        cast(sum(units) filter (where line_type = 'usage') as decimal(38, 15)) as units,
        cast(sum(included_units) filter (where line_type = 'usage') as decimal(38, 15)) as allowance_used,
        case when count(*) filter (where line_type = 'usage' and charge is null) = 0
            then cast(coalesce(sum(charge) filter (where line_type = 'usage'), 0) as decimal(38, 15)) end as charge,
        string_agg(distinct problem, '; ' order by problem) as blocked_reason,
    from lines
    where line_type in ('usage', 'unpriced')
    group by statement_id, payer, period
),

adjusted_only as (
    -- a payer first charged after its month was closed (a new `each` value, a payer added to chargeback.yaml): the
    -- frozen month has no statement for it, so its final statement is empty and its lines since the close are its
    -- adjustments (they were in marts.chargeback_lines alone, so in no statement, report or export summary)
    select
        left(statement_id, length(statement_id) - 4) as statement_id,
        payer,
        period,
        'final' as status,
        any_value(currency) as currency,
        any_value(currency_places) as currency_places,
        any_value(rule) as rule,
        cast(0 as bigint) as requests,
        cast(0 as bigint) as unpriced_requests,
        cast(0 as bigint) as tokens,
        cast(0 as bigint) as outcomes,
        cast(0 as decimal(38, 15)) as cost_usd,
        cast(0 as decimal(38, 15)) as cost,
        cast(0 as decimal(38, 15)) as gross_charge,
        any_value(allowance_unit) as allowance_unit,
        any_value(allowance) as allowance,
        cast(0 as decimal(38, 15)) as units,
        cast(0 as decimal(38, 15)) as allowance_used,
        cast(0 as decimal(38, 15)) as charge,
        cast(null as varchar) as blocked_reason,
    from lines
    where line_type in ('credit', 'debit', 'adjustment')
        and left(statement_id, length(statement_id) - 4) not in (select statement_id from statements)
    group by all
),

every_statement as (
    select * from statements
    union all by name
    select * from adjusted_only
),

adjustments as (
    -- a priced line whose charge cannot be computed now (a missing rate, a tier without a price) makes the sum unknown
    -- and blocks the final statement's export until it can
    select
        left(statement_id, length(statement_id) - 4) as statement_id,
        count(*) as adjustment_lines,
        case when count(*) filter (where cost_usd is not null and problem is not null) = 0
            then cast(coalesce(sum(charge), 0) as decimal(38, 15)) end as adjustments,  -- unpriced lines: no charge
        'adjustments since the close: ' || string_agg(distinct problem, '; ' order by problem)
            filter (where cost_usd is not null and problem is not null) as blocked_reason,
    from lines
    where line_type in ('credit', 'debit', 'adjustment')
    group by all
)

select
    statements.statement_id,
    statements.payer,
    statements.period,
    statements.status,
    closed.closed_at,
    statements.currency,
    statements.currency_places,
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
    statements.units,
    statements.allowance_used,
    case
        when statements.allowance_unit = 'amount' then cast(statements.gross_charge - statements.allowance_used as decimal(38, 15))
        when statements.allowance_unit is not null then cast(statements.units - statements.allowance_used as decimal(38, 15))
    end as overage,
    statements.charge,
    cast(statements.charge - statements.cost as decimal(38, 15)) as margin,
    coalesce(adjustments.adjustment_lines, 0) as adjustment_lines,
    case when adjustments.statement_id is null then 0 else adjustments.adjustments end as adjustments,
    coalesce(statements.blocked_reason, adjustments.blocked_reason) as blocked_reason,
from every_statement as statements
left join adjustments
    on adjustments.statement_id = statements.statement_id
left join finance.closed_periods as closed
    on closed.month = statements.period
