-- GPU records whose cost has no USD rate (their cluster-days stay unpriced): cluster, day, currency, why.
select cluster, event_date, currency, unconverted_reason
from reference.gpu_capacity
where unconverted_reason is not null
order by all
