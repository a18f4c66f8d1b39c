-- Daily spend per feature in the window [$start, $end); null (shown n/a, never $0) where none of a day's requests of
-- the feature is priced.
select
    event_date,
    feature,
    cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
    sum(requests) as requests,
from marts.daily_spend
where event_date >= $start and event_date < $end
group by event_date, feature
order by event_date, feature
