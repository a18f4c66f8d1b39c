-- Each feature's robust spend score per day in the window [$start, $end), and whether the day is flagged.
select event_date, subject as feature, robust_score, is_anomaly, cost_usd, baseline_median_usd
from marts.spend_anomalies
where dimension = 'feature' and event_date >= $start and event_date < $end
order by event_date, subject
