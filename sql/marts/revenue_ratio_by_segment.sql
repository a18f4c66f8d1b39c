-- One row per month (YYYY-MM) x user_segment: marts.revenue_ratio rolled up over the segment's customers.
-- revenue_usd is null when any customer's revenue could not be converted to USD. cost_share_of_plan_price
-- compares the cost of customers with a plan price to the sum of those plan prices.
-- exact_ratio is an exact DECIMAL division macro (pipelines/storage/money.py); a ratio over 0 is null.
with customers as (
    select *
    from marts.revenue_ratio
),

segments as (
    select
        month,
        user_segment,
        count(*) as customers,
        count(*) filter (where revenue_usd > 0) as paying_customers,
        case when count(*) = count(revenue_usd) then sum(revenue_usd) end as revenue_usd,
        sum(cost_usd) as cost_usd,
        sum(requests) as requests,
        sum(unpriced_requests) as unpriced_requests,
        sum(plan_price_usd) as plan_price_usd,
        sum(cost_usd) filter (where plan_price_usd is not null) as plan_customers_cost_usd,
    from customers
    group by month, user_segment
)

select
    month,
    user_segment,
    customers,
    paying_customers,
    cast(revenue_usd as decimal(38, 15)) as revenue_usd,
    cast(cost_usd as decimal(38, 15)) as cost_usd,
    cast(requests as bigint) as requests,
    cast(unpriced_requests as bigint) as unpriced_requests,
    exact_ratio(cost_usd, revenue_usd) as cost_to_revenue_ratio,
    cast(revenue_usd - cost_usd as decimal(38, 15)) as gross_margin_usd,
    cast(plan_price_usd as decimal(38, 15)) as plan_price_usd,
    exact_ratio(plan_customers_cost_usd, plan_price_usd) as cost_share_of_plan_price,
from segments
