-- One self-hosted cluster and day with the tokens its requests used, from the temp table requests (demo_requests.sql).
with self_hosted as (
    select
        substr(lower(provider), length('self_hosted:') + 1) as cluster,
        cast(occurred_at as date) as day,
        tokens,
    from requests
    where lower(provider) like 'self\_hosted:%' escape '\'
)

select cluster, day, sum(tokens) as tokens
from self_hosted
group by cluster, day
order by cluster, day
