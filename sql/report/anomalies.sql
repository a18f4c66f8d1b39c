-- The flagged days of the window [$start, $end), newest first, the strongest first within a day.
select event_date, dimension, subject, provider, cost_usd, baseline_median_usd, robust_score, direction, cause, requests
from marts.spend_anomalies
where is_anomaly and event_date >= $start and event_date < $end
order by event_date desc, abs(robust_score) desc, dimension, subject
