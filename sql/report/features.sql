-- The features with spend rows in the window [$start, $end), by name.
select distinct feature
from marts.daily_spend
where event_date >= $start and event_date < $end
order by feature
