-- Days of the window whose spend has no rate for the reporting currency on or before them (their cost_reporting
-- stays null, and so does every reported amount built on it): the day and the currency.
select distinct event_date, reporting_currency
from marts.daily_spend
where event_date >= $window_start and event_date < $window_end
    and cost_usd is not null and cost_reporting is null
order by all
