-- The scenarios of $month: growth projections and saved model-switch what-ifs, all estimates.
select
    scenario_id, kind, month, feature, to_model, share, growth_factor, requests, actual_usd, scenario_usd,
    baseline_month_end_usd, scenario_month_end_usd, delta_month_end_usd, first_day, last_day, description, built_at,
from marts.scenarios
where month = $month
order by kind, feature, scenario_id, growth_factor
