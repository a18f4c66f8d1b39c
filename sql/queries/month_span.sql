-- The month $month (YYYY-MM; null: the latest month with spend) and the days of it marts.daily_spend has seen:
-- from the month's first day or the first day with data, whichever is later, to its last day with data.
-- No row when the month has no spend. Budgets, what-ifs and growth scenarios project from this span.
with bounds as (
    select min(event_date) as first_ever, max(event_date) as last_ever
    from marts.daily_spend
),

chosen as (
    select
        coalesce(cast($month as varchar), strftime(last_ever, '%Y-%m')) as month,
        first_ever,
    from bounds
    where last_ever is not null
),

span as (
    select
        chosen.month,
        greatest(cast(strptime(chosen.month, '%Y-%m') as date), chosen.first_ever) as first_day,
        max(spend.event_date) as last_day,
    from chosen
    inner join marts.daily_spend as spend
        on strftime(spend.event_date, '%Y-%m') = chosen.month
    group by all
)

select month, first_day, last_day
from span
