-- `tokenledger demo` and the report: full cost per feature over every date in marts.full_cost, most expensive
-- first, then one total row (feature null): inference (API), self-hosted (GPU cost allocated to requests),
-- idle GPU capacity, overhead per category and their sum.
select
    feature,
    cast(sum(requests) as bigint) as requests,
    sum(inference_usd) as inference_usd,
    sum(self_hosted_usd) as self_hosted_usd,
    sum(idle_capacity_usd) as idle_capacity_usd,
    sum(egress_usd) as egress_usd,
    sum(storage_usd) as storage_usd,
    sum(observability_usd) as observability_usd,
    sum(load_balancing_usd) as load_balancing_usd,
    sum(engineering_usd) as engineering_usd,
    sum(other_usd) as other_usd,
    sum(overhead_usd) as overhead_usd,
    sum(total_usd) as total_usd,
from marts.full_cost
group by rollup (feature)
order by feature is null, total_usd desc, feature
