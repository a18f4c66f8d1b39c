-- One row per closed month: when it was closed and the requests and cost it was closed with.
-- `tokenledger close YYYY-MM` appends this select's row for $month in the same transaction as finance.daily_spend.
select
    cast($month as varchar) as month,
    now() as closed_at,
    cast(coalesce(sum(requests), 0) as bigint) as requests,
    cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as cost_usd,
from marts.daily_spend
where event_date >= $month_start and event_date < $month_end
