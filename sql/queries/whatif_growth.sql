-- marts.scenarios growth rows: one month's requests and priced spend per feature, then the total (feature null).
select feature, count(*) as requests, cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as actual_usd,
from core.request_costs
where event_date >= $month_start and event_date < $month_end
group by rollup (feature)
order by feature nulls first
