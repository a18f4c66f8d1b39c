-- One row per scenario x growth factor, all estimates (is_estimate, and description says what each assumes).
-- The table accumulates: the asset replaces the `growth` rows (the latest month's projections at 1x, 2x, 3x and
-- 10x the volume) and `tokenledger whatif` adds `model_switch` rows, both through scenario_rows
-- (pipelines/insights/whatif.py); a scenario saved again replaces its rows (same scenario_id).
select
    scenario_id,
    kind,
    month,
    feature,
    to_model,
    share,
    growth_factor,
    requests,
    repriced_requests,
    first_day,
    last_day,
    days_observed,
    days_in_month,
    actual_usd,
    scenario_usd,
    baseline_month_end_usd,
    scenario_month_end_usd,
    delta_month_end_usd,
    is_estimate,
    description,
    built_at,
from scenario_rows
