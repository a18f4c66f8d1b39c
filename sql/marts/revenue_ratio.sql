-- One row per month (YYYY-MM) x customer_id with revenue or inference cost: revenue prorated by days, cost,
-- cost_to_revenue_ratio, gross_margin_usd, and cost as a share of the plan price.
-- Revenue: a record's amount_usd is split over the months its [period_start, period_end) touches in proportion to
-- days, with cumulative rounding so the months add up to the record exactly. A customer-month with a record that
-- has no USD rate has revenue_usd null. Cost: the customer's priced requests that month (requests without a
-- customer_id under 'unattributed'); idle self-hosted capacity belongs to no customer.
-- plan_price_usd: for each plan of the customer, the amount of its latest period overlapping the month, summed.
-- user_segment: from the customer's latest revenue record overlapping the month, else its most frequent request segment.
-- money_muldiv and exact_ratio are exact DECIMAL division macros (pipelines/storage/money.py); a ratio over 0 is null.
with periods as (
    select *
    from core.revenue
),

months as (
    select
        periods.*,
        cast(unnest(generate_series(
            date_trunc('month', period_start), date_trunc('month', period_end - 1), interval 1 month
        )) as date) as month_start,
    from periods
),

overlapping as (
    select
        *,
        cast(least(period_end, cast(month_start + interval 1 month as date)) - greatest(period_start, month_start) as bigint)
            as overlap_days,
    from months
),

prorated as (
    select
        *,
        sum(overlap_days) over (
            partition by source_file, source_row order by month_start rows between unbounded preceding and current row
        ) as days_through,
    from overlapping
),

revenue_parts as (
    select
        strftime(month_start, '%Y-%m') as month,
        customer_id,
        user_segment,
        plan,
        period_start,
        amount_usd,
        source_file,
        source_row,
        money_muldiv(amount_usd, days_through, period_days)
            - money_muldiv(amount_usd, days_through - overlap_days, period_days) as revenue_usd,
    from prorated
),

revenue as (
    select
        month,
        customer_id,
        case when count(*) = count(revenue_usd) then sum(revenue_usd) end as revenue_usd,
        count(*) as revenue_records,
        count(*) filter (where revenue_usd is null) as unconverted_revenue_records,
        string_agg(distinct plan, ', ' order by plan) as plans,
        arg_max(user_segment, [epoch_ms(period_start), source_row]) as user_segment,
    from revenue_parts
    group by month, customer_id
),

plan_prices as (
    select month, customer_id, sum(amount_usd) as plan_price_usd
    from (
        select *
        from revenue_parts
        where plan is not null
        qualify row_number() over (
            partition by month, customer_id, plan order by period_start desc, source_file desc, source_row desc
        ) = 1
    )
    group by month, customer_id
),

request_segments as (
    select month, customer_id, user_segment
    from (
        select
            strftime(event_date, '%Y-%m') as month,
            coalesce(customer_id, 'unattributed') as customer_id,
            coalesce(user_segment, 'unattributed') as user_segment,
            count(*) as requests,
        from core.request_costs
        group by all
    )
    qualify row_number() over (partition by month, customer_id order by requests desc, user_segment) = 1
),

cost as (
    select
        strftime(event_date, '%Y-%m') as month,
        coalesce(customer_id, 'unattributed') as customer_id,
        count(*) as requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        coalesce(sum(cost_usd), 0) as cost_usd,
    from core.request_costs
    group by all
),

combined as (
    select
        coalesce(revenue.month, cost.month) as month,
        coalesce(revenue.customer_id, cost.customer_id) as customer_id,
        coalesce(revenue.user_segment, request_segments.user_segment, 'unattributed') as user_segment,
        revenue.plans,
        case when revenue.month is null then 0 else revenue.revenue_usd end as revenue_usd,
        coalesce(cost.cost_usd, 0) as cost_usd,
        coalesce(cost.requests, 0) as requests,
        coalesce(cost.unpriced_requests, 0) as unpriced_requests,
        plan_prices.plan_price_usd,
        coalesce(revenue.revenue_records, 0) as revenue_records,
        coalesce(revenue.unconverted_revenue_records, 0) as unconverted_revenue_records,
    from revenue
    full outer join cost
        on cost.month = revenue.month
        and cost.customer_id = revenue.customer_id
    left join request_segments
        on request_segments.month = coalesce(revenue.month, cost.month)
        and request_segments.customer_id = coalesce(revenue.customer_id, cost.customer_id)
    left join plan_prices
        on plan_prices.month = revenue.month
        and plan_prices.customer_id = revenue.customer_id
)

select
    month,
    customer_id,
    user_segment,
    plans,
    cast(revenue_usd as decimal(38, 15)) as revenue_usd,
    cast(cost_usd as decimal(38, 15)) as cost_usd,
    requests,
    unpriced_requests,
    exact_ratio(cost_usd, revenue_usd) as cost_to_revenue_ratio,
    cast(revenue_usd - cost_usd as decimal(38, 15)) as gross_margin_usd,
    cast(plan_price_usd as decimal(38, 15)) as plan_price_usd,
    exact_ratio(cost_usd, plan_price_usd) as cost_share_of_plan_price,
    revenue_records,
    unconverted_revenue_records,
from combined
