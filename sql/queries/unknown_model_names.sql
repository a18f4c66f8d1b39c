-- Provider and model names of the window's requests that reference.model_aliases does not list: the names the
-- price book's match rules are asked to resolve (pipelines/pricing/names.py), once per distinct name.
select distinct requests.provider, requests.model
from staging.stg_gateway_requests as requests
anti join reference.model_aliases as aliases
    on aliases.provider = requests.provider
    and aliases.name = requests.model
where requests.event_date >= $window_start and requests.event_date < $window_end
