-- One row per experiment x variant x feature: the variant's units (users, conversations, customers or requests:
-- core.experiment_units says which), requests, priced cost, outcomes, outcome_rate (outcomes per unit),
-- cost_per_outcome, cost_per_unit, p50/p95 latency (quantile_disc over its requests with a latency),
-- error_rate (share of requests whose status is not 'ok'), and for each variant that is not the control, the
-- difference (variant - control) and ratio (variant / control) of cost per outcome, outcome rate and p95 latency,
-- each with its interval (*_low, *_high) and verdict; `verdict` in better, worse, no_difference, too_few_units.
-- How the intervals and verdicts are made is in pipelines/insights/experiments.py (a cluster bootstrap over units,
-- 95% simultaneous intervals over the three metrics) and interval_method; conflicting_units counts the
-- experiment's units found in two or more variants, left out of every row. Money is DECIMAL(38, 15); rates,
-- ratios and intervals are DOUBLE (statistics). money_muldiv is an exact DECIMAL division (storage/money.py).
with units as (
    select
        experiment,
        variant,
        feature,
        count(*) as units,
        sum(requests) as requests,
        sum(errors) as errors,
        sum(unpriced_requests) as unpriced_requests,
        sum(cost_usd) as cost_usd,
        sum(outcomes) as outcomes,
    from core.experiment_units
    where not conflict
    group by experiment, variant, feature
),

latency as (
    select
        experiment,
        variant,
        feature,
        quantile_disc(latency_ms, 0.5) as p50_latency_ms,
        quantile_disc(latency_ms, 0.95) as p95_latency_ms,
    from (
        select experiment, variant, feature, unnest(latencies_ms) as latency_ms,
        from core.experiment_units
        where not conflict
    )
    group by experiment, variant, feature
),

conflicts as (
    select experiment, count(*) as conflicting_units,
    from (
        select distinct experiment, unit_type, unit_id from core.experiment_units where conflict
        union
        select distinct experiment, unit_type, unit_id from core.experiment_assignments where conflict
    )
    group by experiment
),

points as (
    select
        units.experiment,
        units.variant,
        units.feature,
        units.units,
        units.requests,
        units.unpriced_requests,
        cast(units.cost_usd as decimal(38, 15)) as cost_usd,
        units.outcomes,
        units.outcomes / units.units as outcome_rate,
        money_muldiv(units.cost_usd, 1, nullif(units.outcomes, 0)) as cost_per_outcome,
        money_muldiv(units.cost_usd, 1, units.units) as cost_per_unit,
        latency.p50_latency_ms,
        latency.p95_latency_ms,
        units.errors / units.requests as error_rate,
    from units
    left join latency using (experiment, variant, feature)
),

stats as (
    select *
    from experiment_stats
),

controls as (
    select points.*
    from points
    join stats using (experiment, variant, feature)
    where stats.is_control
)

select
    points.experiment,
    points.variant,
    points.feature,
    stats.is_control,
    stats.control_variant,
    points.units,
    points.requests,
    points.unpriced_requests,
    points.cost_usd,
    points.outcomes,
    points.outcome_rate,
    points.cost_per_outcome,
    points.cost_per_unit,
    points.p50_latency_ms,
    points.p95_latency_ms,
    points.error_rate,
    case when not stats.is_control then points.cost_per_outcome - controls.cost_per_outcome end as cost_per_outcome_diff,
    stats.cost_per_outcome_diff_low,
    stats.cost_per_outcome_diff_high,
    case when not stats.is_control then points.cost_per_outcome::double / nullif(controls.cost_per_outcome, 0)::double end
        as cost_per_outcome_ratio,
    stats.cost_per_outcome_ratio_low,
    stats.cost_per_outcome_ratio_high,
    stats.cost_per_outcome_verdict,
    case when not stats.is_control then points.outcome_rate - controls.outcome_rate end as outcome_rate_diff,
    stats.outcome_rate_diff_low,
    stats.outcome_rate_diff_high,
    case when not stats.is_control then points.outcome_rate / nullif(controls.outcome_rate, 0) end as outcome_rate_ratio,
    stats.outcome_rate_ratio_low,
    stats.outcome_rate_ratio_high,
    stats.outcome_rate_verdict,
    case when not stats.is_control then points.p95_latency_ms - controls.p95_latency_ms end as p95_latency_diff_ms,
    stats.p95_latency_diff_low as p95_latency_diff_low_ms,
    stats.p95_latency_diff_high as p95_latency_diff_high_ms,
    case when not stats.is_control then points.p95_latency_ms / nullif(controls.p95_latency_ms, 0) end as p95_latency_ratio,
    stats.p95_latency_ratio_low,
    stats.p95_latency_ratio_high,
    stats.p95_latency_verdict,
    stats.verdict,
    stats.min_units,
    coalesce(conflicts.conflicting_units, 0) as conflicting_units,
    stats.expected_share,
    stats.observed_share,
    stats.srm_p_value,
    stats.sample_ratio_mismatch,
    stats.interval_method,
from points
join stats using (experiment, variant, feature)
left join controls
    on controls.experiment = points.experiment
    and controls.feature = points.feature
left join conflicts
    on conflicts.experiment = points.experiment
