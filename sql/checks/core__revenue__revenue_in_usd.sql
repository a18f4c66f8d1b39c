-- Revenue records whose amount has no USD rate (their months' revenue stays null): customer, period, currency, why.
select customer_id, period_start, currency, unconverted_reason
from core.revenue
where unconverted_reason is not null
order by all
