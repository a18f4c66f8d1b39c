-- Energy and emissions per feature in the window [$start, $end) (marts.energy_carbon), each basis apart: kWh measured
-- and estimated, the requests whose energy is unknown (counted, never taken as zero), and the same for kg CO2e.
-- 'idle_capacity' (GPU energy nobody's requests used) comes last.
select
    feature,
    cast(sum(requests) as bigint) as requests,
    cast(sum(kwh) filter (where basis = 'measured') as decimal(38, 9)) as kwh_measured,
    cast(sum(kwh) filter (where basis = 'estimated') as decimal(38, 9)) as kwh_estimated,
    cast(coalesce(sum(requests) filter (where basis = 'unknown'), 0) as bigint) as unknown_energy_requests,
    cast(sum(kg_co2e) filter (where carbon_basis = 'measured') as decimal(38, 9)) as kg_co2e_measured,
    cast(sum(kg_co2e) filter (where carbon_basis = 'estimated') as decimal(38, 9)) as kg_co2e_estimated,
    cast(coalesce(sum(requests) filter (where carbon_basis = 'unknown'), 0) as bigint) as unknown_carbon_requests,
from marts.energy_carbon
where event_date >= $start and event_date < $end
group by feature
order by feature = 'idle_capacity', feature
