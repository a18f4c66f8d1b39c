-- One subscription period of a paying demo customer that overlaps [$start, $end], from an anchor day drawn by $seed;
-- reads the temp table requests (demo_requests.sql) and plans (registered from demo.business.PLANS).
with customers as (
    select customer_id, arg_max(user_segment, occurred_at) as user_segment,
    from requests
    where customer_id is not null
    group by customer_id
),

drawn as (
    select
        customer_id,
        user_segment,
        (hash(customer_id, $seed, 'yearly') % 1000000) / 1000000.0 as yearly_draw,
        (hash(customer_id, $seed, 'anchor') % 1000000) / 1000000.0 as anchor_draw,
        (hash(customer_id, $seed, 'since') % 1000000) / 1000000.0 as since_draw,
    from customers
),

billed as (
    select
        drawn.customer_id,
        drawn.user_segment,
        plans.plan,
        plans.monthly_price,
        drawn.yearly_draw < plans.yearly_share as yearly,
        1 + cast(floor(drawn.anchor_draw * 28) as bigint) as anchor_day,
        1 + cast(floor(drawn.since_draw * 11) as bigint) as months_since_renewal,
    from drawn
    inner join plans on plans.user_segment = drawn.user_segment
),

monthly as (
    select
        billed.*,
        cast(unnest(generate_series(
            date_trunc('month', $start) - interval 1 month, date_trunc('month', $end), interval 1 month
        )) as date) + cast(anchor_day - 1 as integer) as period_start,
    from billed
    where not yearly
),

yearly as (
    select
        billed.*,
        cast(date_trunc('month', $start) - to_months(months_since_renewal) as date)
            + cast(anchor_day - 1 as integer) as period_start,
    from billed
    where yearly
),

periods as (
    select *, cast(period_start + interval 1 month as date) as period_end, monthly_price as amount,
    from monthly
    union all
    select *, cast(period_start + interval 1 year as date) as period_end, monthly_price * 10 as amount,
    from yearly
)

select customer_id, user_segment, period_start, period_end, amount, 'USD' as currency, plan,
from periods
where period_start <= $end and period_end > $start
