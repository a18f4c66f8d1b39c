-- Days whose GPU capacity or cost differs between reference.gpu_capacity and the rebuilt _gpu_capacity:
-- their self-hosted requests are re-priced (pipelines/warehouse/reference.py).
with compared as (
    (
        select cluster, event_date, gpu_type, cost_usd, capacity_tokens from reference.gpu_capacity
        except
        select cluster, event_date, gpu_type, cost_usd, capacity_tokens from _gpu_capacity
    )
    union all
    (
        select cluster, event_date, gpu_type, cost_usd, capacity_tokens from _gpu_capacity
        except
        select cluster, event_date, gpu_type, cost_usd, capacity_tokens from reference.gpu_capacity
    )
)

select distinct event_date
from compared
order by 1
