-- Spend per user segment in the window [$start, $end), with its share of the window's spend (percent). A segment none
-- of whose requests is priced has a null cost and share (shown n/a, never $0 or 0%).
-- exact_ratio is an exact DECIMAL division macro (pipelines/storage/money.py).
with by_segment as (
    select
        user_segment,
        sum(requests) as requests,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        sum(unpriced_requests) as unpriced_requests,
    from marts.daily_spend
    where event_date >= $start and event_date < $end
    group by user_segment
)

select
    *,
    exact_ratio(cost_usd * 100, sum(cost_usd) over ()) as share_pct,
from by_segment
order by cost_usd desc nulls last, user_segment
