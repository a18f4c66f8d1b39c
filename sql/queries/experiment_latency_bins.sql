-- Request latencies (core.experiment_units.latencies_ms) of each experiment x feature x variant x resampling bucket
-- (the buckets of queries/experiment_buckets.sql) as a histogram: bin = floor(ln(1 + latency_ms) / ln($bin_ratio)),
-- bins $bin_ratio apart, for the bootstrap of p95 latency in marts.experiment_results.
with units as (
    select
        experiment, feature, variant, unit_type, unit_id, latencies_ms,
        count(*) over (partition by experiment, feature, variant) as variant_units,
        row_number() over (partition by experiment, feature, variant order by unit_type, unit_id) as unit_number,
    from core.experiment_units
    where not conflict
),

buckets as (
    select
        experiment, feature, variant, unit_type, unit_id, latencies_ms,
        case
            when variant_units <= $max_buckets then unit_number - 1
            else cast(hash(experiment, unit_type, unit_id) % $max_buckets as bigint)
        end as bucket,
    from units
)

select
    experiment,
    feature,
    variant,
    bucket,
    cast(floor(ln(1 + latency_ms) / ln($bin_ratio)) as integer) as bin,
    count(*) as requests,
from (
    select experiment, feature, variant, bucket, unnest(latencies_ms) as latency_ms,
    from buckets
)
where latency_ms >= 0
group by all
order by all
