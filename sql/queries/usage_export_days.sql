-- One row per payer x day of $month (YYYY-MM) with priced usage: the day's requests, tokens, outcomes and charge, what
-- `tokenledger export usage --format cloudevents|stripe` sends. The rows are those of the month's statements: the
-- frozen finance.chargeback_usage once `tokenledger close` closed the month, else marts.chargeback_usage as the last
-- run built it. charge_minor: the day's charge in the currency's minor unit (cents; yen), rounded cumulatively by day
-- within the statement: the running exact total rounded half away from zero, less the previous day's, so the days add
-- up to the statement's charge (marts.chargeback_statements.charge) exactly and an earlier day never changes when a
-- later one is added. minor_units: a money macro (pipelines/storage/money.py).
with closed as (
    select month
    from finance.closed_periods
    where month = $month
),

usage as (
    select * exclude (month, closed_at)
    from finance.chargeback_usage
    where month = $month
    union all by name
    select *
    from marts.chargeback_usage
    where period = $month
        and not exists (select 1 from closed)
),

days as (
    select
        statement_id,
        payer,
        period,
        event_date,
        any_value(currency) as currency,
        any_value(currency_places) as currency_places,
        cast(sum(requests) as bigint) as requests,
        cast(sum(tokens) as bigint) as tokens,
        cast(sum(outcomes) as bigint) as outcomes,
        cast(coalesce(sum(charge), 0) as decimal(38, 15)) as exact_charge,
    from usage
    where priced
    group by statement_id, payer, period, event_date
),

rounded as (
    select
        *,
        minor_units(sum(exact_charge) over running, currency_places) as through_minor,
    from days
    window running as (partition by statement_id order by event_date rows between unbounded preceding and current row)
)

select
    statement_id,
    payer,
    period,
    event_date,
    currency,
    currency_places,
    requests,
    tokens,
    outcomes,
    cast(through_minor - coalesce(lag(through_minor) over (partition by statement_id order by event_date), 0) as bigint)
        as charge_minor,
from rounded
order by payer, event_date
