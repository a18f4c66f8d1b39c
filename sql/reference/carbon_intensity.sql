-- One row per region x day from landing/carbon: the grid's carbon intensity in grams CO2e per kWh.
-- marts.energy_carbon uses the latest intensity on or before a day for the cluster's region (settings.yaml
-- clusters: <name>: region), and says which day's figure it used.
select
    region,
    event_date,
    cast(gco2e_per_kwh as decimal(38, 9)) as gco2e_per_kwh,
    source_file,
    source_row,
from lake_carbon_intensity
