-- Budget lines whose month-end projection passes their budget, in budgets.yaml order (a warning on marts.budget_status).
select month, scope, name, budget_usd, projected_usd
from marts.budget_status
where projected_usd > budget_usd
