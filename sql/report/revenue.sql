-- Cost to revenue per customer over the months $start_month .. $end_month (marts.revenue_ratio), most expensive
-- first: revenue, inference cost, cost as a percent of revenue, gross margin. exact_ratio: pipelines/storage/money.py.
with by_customer as (
    select
        customer_id,
        any_value(user_segment) as user_segment,
        cast(sum(revenue_usd) as decimal(38, 15)) as revenue_usd,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        cast(sum(gross_margin_usd) as decimal(38, 15)) as gross_margin_usd,
    from marts.revenue_ratio
    where month >= $start_month and month <= $end_month
    group by customer_id
)

select
    *,
    exact_ratio(cost_usd * 100, revenue_usd) as cost_to_revenue_pct,
from by_customer
order by cost_usd desc nulls last, customer_id
limit 20
