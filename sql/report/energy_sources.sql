-- Where the energy figures of the window [$start, $end) come from (marts.energy_carbon): per basis, source of the
-- figures (pricing/energy.yaml entries, avg_power_watts of the GPU records) and grid region, the requests and kWh,
-- and the range of grid carbon intensity applied.
select
    basis,
    energy_source,
    grid_region,
    cast(sum(requests) as bigint) as requests,
    cast(sum(kwh) as decimal(38, 9)) as kwh,
    min(gco2e_per_kwh) as min_gco2e_per_kwh,
    max(gco2e_per_kwh) as max_gco2e_per_kwh,
from marts.energy_carbon
where event_date >= $start and event_date < $end
group by basis, energy_source, grid_region
order by basis, energy_source, grid_region nulls last
