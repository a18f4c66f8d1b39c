-- The self-hosted clusters the warehouse knows: those with a GPU record and those that served requests.
select cluster
from reference.gpu_capacity
union
select distinct substr(provider, length('self_hosted:') + 1) as cluster
from marts.daily_spend
where provider like 'self\_hosted:%' escape '\'
order by cluster
