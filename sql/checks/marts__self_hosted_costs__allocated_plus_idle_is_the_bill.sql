-- Cluster-days where allocated + idle is not the GPU bill exactly, idle is negative, or marts.daily_spend's
-- idle_capacity rows disagree with the mart (days whose GPU bill has no USD rate are left out).
with bills as (
    select provider, event_date, sum(cost_usd) as bill_usd
    from reference.gpu_capacity
    group by provider, event_date
    having count(*) = count(cost_usd)
),

idle_rows as (
    select provider, event_date, sum(cost_usd) as idle_usd
    from marts.daily_spend
    where feature = 'idle_capacity' and requests = 0
    group by provider, event_date
)

select mart.event_date, mart.cluster, bills.bill_usd, mart.allocated_cost_usd, mart.idle_cost_usd, idle_rows.idle_usd
from marts.self_hosted_costs as mart
inner join bills
    on bills.provider = mart.provider
    and bills.event_date = mart.event_date
left join idle_rows
    on idle_rows.provider = mart.provider
    and idle_rows.event_date = mart.event_date
where mart.allocated_cost_usd + mart.idle_cost_usd <> bills.bill_usd
    or mart.idle_cost_usd < 0
    or coalesce(idle_rows.idle_usd, 0) <> mart.idle_cost_usd
order by 1, 2
limit 10
