-- Full cost per feature in the window [$start, $end): inference (API), self-hosted (GPU cost allocated to requests),
-- idle GPU capacity, each overhead category and their sum (marts.full_cost). The rows without requests,
-- 'unallocated_overhead' and 'idle_capacity', come last; the others most expensive first.
with by_feature as (
    select
        feature,
        cast(sum(requests) as bigint) as requests,
        cast(sum(inference_usd) as decimal(38, 15)) as inference_usd,
        cast(sum(self_hosted_usd) as decimal(38, 15)) as self_hosted_usd,
        cast(sum(idle_capacity_usd) as decimal(38, 15)) as idle_capacity_usd,
        cast(sum(egress_usd) as decimal(38, 15)) as egress_usd,
        cast(sum(storage_usd) as decimal(38, 15)) as storage_usd,
        cast(sum(observability_usd) as decimal(38, 15)) as observability_usd,
        cast(sum(load_balancing_usd) as decimal(38, 15)) as load_balancing_usd,
        cast(sum(engineering_usd) as decimal(38, 15)) as engineering_usd,
        cast(sum(other_usd) as decimal(38, 15)) as other_usd,
        cast(sum(overhead_usd) as decimal(38, 15)) as overhead_usd,
        cast(sum(total_usd) as decimal(38, 15)) as total_usd,
    from marts.full_cost
    where event_date >= $start and event_date < $end
    group by feature
)

select
    feature,
    requests,
    inference_usd,
    self_hosted_usd,
    idle_capacity_usd,
    egress_usd,
    storage_usd,
    observability_usd,
    load_balancing_usd,
    engineering_usd,
    other_usd,
    overhead_usd,
    total_usd,
from by_feature
order by feature in ('unallocated_overhead', 'idle_capacity'), total_usd desc, feature
