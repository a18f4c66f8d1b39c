-- One row per self-hosted cluster x day x GPU type from landing/gpu: GPU-hours, capacity, the day's cost in USD and
-- the average power per GPU when the record gives it (marts.energy_carbon).
-- cost = gpu_count x hours x hourly_rate in the record's currency; cost_usd converts it at the latest
-- reference.fx_rates rate on or before the day (usd_rate = units of the currency per 1 USD).
-- A non-USD row without any rate keeps cost_usd null and says why in unconverted_reason.
-- money_divide is an exact DECIMAL division macro (pipelines/storage/money.py).
with source as (
    select *
    from lake_gpu_capacity
),

rates as (
    select rate_date, currency, usd_rate
    from reference.fx_rates
),

converted as (
    select
        source.*,
        rates.usd_rate,
        rates.rate_date,
    from source
    asof left join rates
        on rates.currency = source.currency
        and source.event_date >= rates.rate_date
),

costed as (
    select
        *,
        cast(gpu_count * hours * hourly_rate as decimal(38, 15)) as cost,
    from converted
)

select
    cluster,
    'self_hosted:' || cluster as provider,
    event_date,
    gpu_type,
    gpu_count,
    hours,
    cast(gpu_count * hours as decimal(38, 6)) as gpu_hours,
    hourly_rate,
    currency,
    capacity_tokens_per_hour,
    cast(round(gpu_count * hours * capacity_tokens_per_hour) as bigint) as capacity_tokens,
    avg_power_watts,
    cost,
    case when currency = 'USD' then cast(1 as decimal(38, 12)) else usd_rate end as fx_rate,
    case when currency <> 'USD' then rate_date end as fx_rate_date,
    case
        when currency = 'USD' then cost
        when usd_rate is not null then money_divide(cost, usd_rate)
    end as cost_usd,
    case when currency <> 'USD' and usd_rate is null then 'no_fx_rate:' || currency end as unconverted_reason,
    'gpu:' || cluster || ':' || strftime(event_date, '%Y-%m-%d') as price_id,
    source_file,
    source_row,
from costed
