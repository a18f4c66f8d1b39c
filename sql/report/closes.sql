-- Closed months of the window [$start_month, $end_month]: when each was closed and the requests and cost it was
-- closed with (finance.closed_periods), beside its requests and cost now (marts.daily_spend, which re-prices and late
-- or corrected usage restate; marts.restatements lists the rows that changed). The report's header says which
-- closed months its figures restate, so a closed month's page never shows restated numbers without saying so.
select
    closed.month,
    closed.closed_at,
    closed.requests as closed_requests,
    closed.cost_usd as closed_cost_usd,
    cast(coalesce(sum(spend.requests), 0) as bigint) as current_requests,
    cast(coalesce(sum(spend.cost_usd), 0) as decimal(38, 15)) as current_cost_usd,
from finance.closed_periods as closed
left join marts.daily_spend as spend
    on spend.event_date >= cast(closed.month || '-01' as date)
    and spend.event_date < cast(closed.month || '-01' as date) + interval 1 month
where closed.month >= $start_month and closed.month <= $end_month
group by all
order by closed.month
