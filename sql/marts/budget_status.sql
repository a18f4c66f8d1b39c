-- One row per budget line of <home>/budgets.yaml for the latest month with spend: month-to-date spend, burn
-- rate, month-end projection and status (on_track, projected_over, over_budget).
-- budget_status_rows: pipelines/insights/budgets.py joins the budgets to the month's spend
-- (sql/queries/budget_month_spend.sql) and projects the month end in exact decimals:
-- projected = spent + spent / days observed x days remaining, rounded to 15 decimals.
select
    month,
    scope,
    name,
    budget_usd,
    spent_usd,
    first_day,
    last_day,
    days_observed,
    days_remaining,
    days_in_month,
    burn_rate_usd_per_day,
    projected_usd,
    projected_pct_of_budget,
    unpriced_requests,
    status,
from budget_status_rows
