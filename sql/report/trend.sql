-- Daily spend per feature in the window [$start, $end).
select
    event_date,
    feature,
    cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd,
    sum(requests) as requests,
from marts.daily_spend
where event_date >= $start and event_date < $end
group by event_date, feature
order by event_date, feature
