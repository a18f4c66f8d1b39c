-- What `tokenledger experiments` prints: each experiment x feature's variants (the control first) with the cost
-- per outcome against the control; $experiment null for all experiments.
select
    experiment,
    feature,
    variant,
    is_control,
    units,
    requests,
    cost_usd,
    outcomes,
    outcome_rate,
    cost_per_outcome,
    p95_latency_ms,
    error_rate,
    cost_per_outcome_ratio,
    cost_per_outcome_ratio_low,
    cost_per_outcome_ratio_high,
    outcome_rate_verdict,
    p95_latency_verdict,
    verdict,
    conflicting_units,
    sample_ratio_mismatch,
from marts.experiment_results
where $experiment is null or experiment = $experiment
order by experiment, feature, not is_control, variant
