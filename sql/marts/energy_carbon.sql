-- One row per event_date x feature x provider x model: the energy (kwh) and emissions (kg_co2e) of the requests,
-- with basis in {measured, estimated, unknown} for kwh and carbon_basis for kg_co2e. Never summed across bases
-- without saying so; unknown is null, never zero.
-- Self-hosted (provider self_hosted:<cluster>): a cluster-day's energy is, per GPU record, gpu_count x hours x
-- watts x PUE / 1000, with watts the record's avg_power_watts (measured) or the default for its gpu_type from
-- pricing/energy.yaml (estimated; a board-power figure, an upper bound); a day with any GPU record of unknown
-- power is unknown. PUE is the cluster's from settings.yaml (clusters: <name>: pue), else settings' pue, else
-- 1.2. Like the GPU bill, energy x min(tokens served / capacity, 1) goes to the day's requests by tokens (exact
-- to 10^-9 kWh with cumulative rounding), the rest is feature 'idle_capacity', model '(idle)'. kg_co2e = kwh x
-- the grid intensity (gCO2e/kWh) of the cluster's region (settings.yaml clusters: <name>: region) on the latest
-- day of landing/carbon on or before the day / 1000; no region or no intensity: unknown.
-- API models: only where pricing/energy.yaml (or <home>/energy.yaml) cites a published per-request figure
-- (estimated: requests x wh_per_request / 1000, requests x gco2e_per_request / 1000); every other model unknown.
-- energy_source names the figures used. round_div and cumulative_share are exact macros (pipelines/storage/money.py).
with gpu_records as (
    select
        gpu.cluster,
        gpu.provider,
        gpu.event_date,
        gpu.gpu_type,
        gpu.gpu_count,
        gpu.hours,
        gpu.avg_power_watts,
        rules.watts as default_watts,
        rules.rule_source,
        coalesce(clusters.pue, cast($default_pue as decimal(38, 9))) as pue,
        clusters.region,
    from reference.gpu_capacity as gpu
    left join gpu_energy_rules as rules
        on lower(gpu.gpu_type) glob rules.pattern
    left join cluster_energy as clusters
        on clusters.cluster = gpu.cluster
    qualify row_number() over (partition by gpu.cluster, gpu.event_date, gpu.gpu_type order by rules.rule_order nulls last) = 1
),

cluster_days as (
    select
        provider,
        event_date,
        any_value(region) as region,
        any_value(pue) as pue,
        case
            when count(*) filter (where avg_power_watts is null and default_watts is null) > 0 then 'unknown'
            when count(*) filter (where avg_power_watts is null) > 0 then 'estimated'
            else 'measured'
        end as basis,
        cast(sum(
            cast(gpu_count * hours * coalesce(avg_power_watts, default_watts) as decimal(38, 9)) * pue * 0.001
        ) as decimal(38, 9)) as kwh,
        string_agg(distinct case
            when avg_power_watts is not null then 'avg_power_watts of the GPU records'
            else coalesce(rule_source, 'no power figure for ' || gpu_type)
        end, '; ') as energy_source,
    from gpu_records
    group by provider, event_date
),

carbon as (
    select region, event_date as intensity_date, gco2e_per_kwh
    from reference.carbon_intensity
),

cluster_energy_days as (
    select
        cluster_days.*,
        carbon.gco2e_per_kwh,
        carbon.intensity_date,
        cast(round(cluster_days.kwh * 1000000000) as hugeint) as kwh_units,
        costs.tokens_served,
        costs.capacity_tokens,
    from cluster_days
    asof left join carbon
        on carbon.region = cluster_days.region
        and cluster_days.event_date >= carbon.intensity_date
    left join marts.self_hosted_costs as costs
        on costs.provider = cluster_days.provider
        and costs.event_date = cluster_days.event_date
),

allocated as (
    select
        *,
        case
            when kwh_units is null then null
            when coalesce(tokens_served, 0) = 0 then cast(0 as hugeint)
            when capacity_tokens is null or capacity_tokens = 0 then kwh_units
            else round_div(kwh_units * least(tokens_served, capacity_tokens), capacity_tokens)
        end as allocated_units,
    from cluster_energy_days
),

request_groups as (
    select
        event_date,
        feature,
        provider,
        model,
        count(*) as requests,
        cast(sum(total_input_tokens + total_output_tokens) as hugeint) as tokens,
    from core.request_costs
    group by all
),

self_hosted_levels as (
    select
        request_groups.*,
        allocated.allocated_units,
        allocated.basis,
        allocated.energy_source,
        allocated.pue,
        allocated.region,
        allocated.gco2e_per_kwh,
        allocated.intensity_date,
        sum(request_groups.tokens) over (
            partition by request_groups.provider, request_groups.event_date order by request_groups.feature, request_groups.model
            rows between unbounded preceding and current row
        ) as tokens_through,
        sum(request_groups.tokens) over (partition by request_groups.provider, request_groups.event_date) as tokens_served,
    from request_groups
    left join allocated
        on allocated.provider = request_groups.provider
        and allocated.event_date = request_groups.event_date
    where starts_with(request_groups.provider, 'self_hosted:')
),

self_hosted as (
    select
        event_date,
        feature,
        provider,
        model,
        requests,
        tokens,
        case
            when allocated_units is null then null
            when tokens_served = 0 then cast(0 as hugeint)
            else cumulative_share(allocated_units, tokens_through, tokens, tokens_served)
        end as kwh_units,
        coalesce(basis, 'unknown') as basis,
        coalesce(energy_source, 'no GPU record for the cluster-day') as energy_source,
        pue,
        region,
        gco2e_per_kwh,
        intensity_date,
    from self_hosted_levels
    union all
    select
        event_date,
        'idle_capacity' as feature,
        provider,
        '(idle)' as model,
        0 as requests,
        cast(0 as hugeint) as tokens,
        kwh_units - allocated_units as kwh_units,
        basis,
        energy_source,
        pue,
        region,
        gco2e_per_kwh,
        intensity_date,
    from allocated
    where kwh_units is not null and kwh_units <> allocated_units
),

api_matched as (
    select
        request_groups.*,
        rules.wh_per_request,
        rules.gco2e_per_request,
        rules.rule_source || ' (' || rules.source || ', ' || rules.published || ')' as energy_source,
    from request_groups
    left join api_energy_rules as rules
        on lower(request_groups.provider || '/' || request_groups.model) glob rules.pattern
        or lower(request_groups.model) glob rules.pattern
    where not starts_with(request_groups.provider, 'self_hosted:')
    qualify row_number() over (
        partition by request_groups.event_date, request_groups.feature, request_groups.provider, request_groups.model
        order by rules.rule_order nulls last
    ) = 1
)

select
    event_date,
    feature,
    provider,
    model,
    cast(requests as bigint) as requests,
    cast(tokens as bigint) as tokens,
    cast(cast(kwh_units as decimal(38, 0)) * 0.000000001 as decimal(38, 9)) as kwh,
    case when kwh_units is null then 'unknown' else basis end as basis,
    cast(cast(kwh_units as decimal(38, 0)) * 0.000000001 * gco2e_per_kwh * 0.001 as decimal(38, 9)) as kg_co2e,
    case when kwh_units is null or gco2e_per_kwh is null then 'unknown' else basis end as carbon_basis,
    pue,
    region as grid_region,
    gco2e_per_kwh,
    intensity_date,
    energy_source,
from self_hosted
union all
select
    event_date,
    feature,
    provider,
    model,
    cast(requests as bigint) as requests,
    cast(tokens as bigint) as tokens,
    cast(requests * wh_per_request * 0.001 as decimal(38, 9)) as kwh,
    case when wh_per_request is null then 'unknown' else 'estimated' end as basis,
    cast(requests * gco2e_per_request * 0.001 as decimal(38, 9)) as kg_co2e,
    case when gco2e_per_request is null then 'unknown' else 'estimated' end as carbon_basis,
    cast(null as decimal(38, 9)) as pue,
    cast(null as varchar) as grid_region,
    cast(null as decimal(38, 9)) as gco2e_per_kwh,
    cast(null as date) as intensity_date,
    coalesce(energy_source, 'no published figure') as energy_source,
from api_matched
