-- marts.full_cost against what it allocates: overhead per category (every converted core.overhead record's cents)
-- and request plus idle GPU cost (marts.daily_spend's cost, idle rows included). Rows are the differences.
with expected as (
    select category as what, cast(cast(sum(amount_cents) as decimal(38, 0)) * 0.01 as decimal(38, 15)) as amount
    from core.overhead
    where amount_cents is not null
    group by category
    union all
    select 'requests + idle GPU' as what, cast(sum(cost_usd) as decimal(38, 15)) as amount
    from marts.daily_spend
),

allocated as (
    unpivot (
        select
            sum(egress_usd) as egress,
            sum(storage_usd) as storage,
            sum(observability_usd) as observability,
            sum(load_balancing_usd) as load_balancing,
            sum(engineering_usd) as engineering,
            sum(other_usd) as other,
            sum(inference_usd + self_hosted_usd + idle_capacity_usd) as "requests + idle GPU",
        from marts.full_cost
    ) on columns(*) into name what value amount
)

select
    coalesce(allocated.what, expected.what) as what,
    coalesce(allocated.amount, 0) as allocated,
    coalesce(expected.amount, 0) as expected,
from allocated
full outer join expected
    on expected.what = allocated.what
where coalesce(allocated.amount, 0) <> coalesce(expected.amount, 0)
order by 1
