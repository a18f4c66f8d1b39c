-- One row per overhead record from landing/overhead (egress, storage, observability, load balancing, engineering,
-- other): its period (end exclusive), amount in USD at the latest reference.fx_rates rate on or before
-- period_start (usd_rate = units per 1 USD), the base it is spread over and the usage it is restricted to.
-- amount_cents is the USD amount rounded to the cent (half away from zero): marts.full_cost allocates exactly
-- that many cents. A non-USD record without any rate keeps amount_usd and amount_cents null, says why in
-- unconverted_reason and is not allocated until a rate lands.
-- money_divide and round_div are exact DECIMAL macros (pipelines/storage/money.py).
with source as (
    select *
    from lake_overhead
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
        and source.period_start >= rates.rate_date
),

in_usd as (
    select
        *,
        case
            when currency = 'USD' then cast(amount as decimal(38, 15))
            when usd_rate is not null then money_divide(amount, usd_rate)
        end as amount_usd,
    from converted
)

select
    category
        || ':' || strftime(period_start, '%Y-%m-%d') || '..' || strftime(period_end, '%Y-%m-%d')
        || ':' || allocate_by
        || case when provider <> '' then ':provider=' || provider else '' end
        || case when cluster <> '' then ':cluster=' || cluster else '' end
        || case when description <> '' then ':' || description else '' end as overhead_id,
    category,
    period_start,
    period_end,
    cast(period_end - period_start as bigint) as period_days,
    cast(amount as decimal(38, 15)) as amount,
    currency,
    case when currency = 'USD' then cast(1 as decimal(38, 12)) else usd_rate end as fx_rate,
    case when currency <> 'USD' then rate_date end as fx_rate_date,
    amount_usd,
    round_div(money_units(amount_usd), 10000000000000) as amount_cents,
    allocate_by,
    nullif(provider, '') as provider,
    nullif(cluster, '') as cluster,
    nullif(description, '') as description,
    case when currency <> 'USD' and usd_rate is null then 'no_fx_rate:' || currency end as unconverted_reason,
    source_file,
    source_row,
from in_usd
