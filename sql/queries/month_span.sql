-- The month $month (YYYY-MM; null: the latest month with spend) and the days of it the warehouse has seen: from the
-- month's first day or the first day with data, whichever is later, to the warehouse's last day with data (of any
-- month), at most the month's last day. A day of the month after its last spend that the warehouse has passed had no
-- spend: a month the data has moved past is finished, and its projection is its spend (a feature that stopped on the
-- 21st is not projected to the month end). No row when the month has no spend. Budgets, what-ifs and growth
-- scenarios project from this span.
with bounds as (
    select min(event_date) as first_ever, max(event_date) as last_ever
    from marts.daily_spend
),

chosen as (
    select
        coalesce(cast($month as varchar), strftime(last_ever, '%Y-%m')) as month,
        first_ever,
        last_ever,
    from bounds
    where last_ever is not null
),

span as (
    select
        chosen.month,
        greatest(cast(strptime(chosen.month, '%Y-%m') as date), chosen.first_ever) as first_day,
        least(
            greatest(max(spend.event_date), chosen.last_ever),
            cast(strptime(chosen.month, '%Y-%m') as date) + interval 1 month - interval 1 day
        ) as last_day,
    from chosen
    inner join marts.daily_spend as spend
        on strftime(spend.event_date, '%Y-%m') = chosen.month
    group by chosen.month, chosen.first_ever, chosen.last_ever
)

select month, first_day, cast(last_day as date) as last_day
from span
