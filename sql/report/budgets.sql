-- The budget lines of $month (marts.budget_status holds the latest month with spend).
select *
from marts.budget_status
where month = $month
