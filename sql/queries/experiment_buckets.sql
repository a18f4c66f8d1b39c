-- The units of each experiment x feature x variant in resampling buckets, for the bootstrap of
-- marts.experiment_results (pipelines/insights/experiments.py): each unit is its own bucket up to $max_buckets
-- units; beyond that units are hashed into $max_buckets buckets (independent units make independent buckets).
-- One row per bucket with its sums; statistics are DOUBLE.
with units as (
    select
        *,
        count(*) over (partition by experiment, feature, variant) as variant_units,
        row_number() over (partition by experiment, feature, variant order by unit_type, unit_id) as unit_number,
    from core.experiment_units
    where not conflict
),

bucketed as (
    select
        *,
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
    count(*) as units,
    sum(requests) as requests,
    sum(errors) as errors,
    sum(outcomes) as outcomes,
    sum(cost_usd)::double as cost_usd,
from bucketed
group by experiment, feature, variant, bucket
order by experiment, feature, variant, bucket
