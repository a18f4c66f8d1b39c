-- The 10 customers who cost the most over the months $start_month .. $end_month (marts.revenue_ratio: requests
-- without a customer_id under 'unattributed'), with their segment.
select
    customer_id,
    arg_max(user_segment, month) as user_segment,
    sum(requests) as requests,
    cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
from marts.revenue_ratio
where month >= $start_month and month <= $end_month and requests > 0
group by customer_id
order by cost_usd desc, customer_id
limit 10
