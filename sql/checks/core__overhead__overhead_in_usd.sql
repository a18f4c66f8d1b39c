-- Overhead records whose amount has no USD rate (not allocated until one lands): category, period, currency, why.
select category, period_start, currency, unconverted_reason
from core.overhead
where unconverted_reason is not null
order by all
