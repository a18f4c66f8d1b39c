-- outcome_requests(): the request each outcome that names a request_id (core.outcomes.linked_by = 'request_id')
-- links to: of each source, the request of that id at or before the outcome (the latest), else the first after it.
-- A request is its id on its UTC date, and a gateway that numbers its requests per day reuses an id on other dates.
-- A table macro (pipelines/warehouse/tables.py), read by marts.outcome_costs, marts.latency_cost and
-- core.experiment_units, so the three link an outcome to the same request.
select outcomes.outcome_id, named.source, named.request_id, named.event_date,
from core.outcomes as outcomes
inner join core.request_costs as named
    on named.request_id = outcomes.request_id
where outcomes.linked_by = 'request_id'
qualify row_number() over (
    partition by outcomes.outcome_id, named.source
    order by named.occurred_at > outcomes.occurred_at, abs(epoch_us(named.occurred_at) - epoch_us(outcomes.occurred_at)), named.event_date
) = 1
