-- `tokenledger whatif --move-feature`: a feature's requests of one month, split into the priced API requests that
-- move to a self-hosted cluster and the rest, and the cluster's month (GPU bill, idle included, and capacity; each
-- null when a GPU record lacks it). cluster_usd = the moved tokens (every bucket) at the cluster's cost per token at
-- 100% utilization divided by the utilization assumed (numerator / denominator):
-- gpu_month_usd x moved_tokens x denominator / (capacity_tokens x numerator), rounded once.
-- money_muldiv is an exact DECIMAL division macro (pipelines/storage/money.py).
with requests as (
    select
        *,
        provider like 'self\_hosted:%' escape '\' as self_hosted,
    from core.request_costs
    where feature = $feature and event_date >= $month_start and event_date < $month_end
),

traffic as (
    select
        count(*) as requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        count(*) filter (where is_priced and not self_hosted) as moved_requests,
        count(*) filter (where is_priced and self_hosted) as kept_requests,
        cast(coalesce(sum(total_input_tokens + total_output_tokens) filter (where is_priced and not self_hosted), 0) as bigint)
            as moved_tokens,
        cast(coalesce(sum(cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as actual_usd,
        cast(coalesce(sum(cost_usd) filter (where is_priced and not self_hosted), 0) as decimal(38, 15)) as moved_actual_usd,
    from requests
),

cluster_month as (
    select
        count(*) as gpu_records,
        case when count(*) = count(cost_usd) then cast(sum(cost_usd) as decimal(38, 15)) end as gpu_month_usd,
        case when count(*) = count(capacity_tokens) then cast(sum(capacity_tokens) as bigint) end as capacity_tokens,
    from reference.gpu_capacity
    where provider = $provider and event_date >= $month_start and event_date < $month_end
)

select
    traffic.*,
    cluster_month.*,
    money_muldiv(
        cluster_month.gpu_month_usd,
        cast(traffic.moved_tokens as hugeint) * $utilization_denominator,
        cast(cluster_month.capacity_tokens as hugeint) * $utilization_numerator
    ) as cluster_usd,
from traffic
cross join cluster_month
