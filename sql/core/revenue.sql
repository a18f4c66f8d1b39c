-- One row per revenue record from landing/revenue (an invoice or subscription period, end exclusive),
-- with its amount in USD at the latest reference.fx_rates rate on or before period_start (usd_rate = units
-- per 1 USD). A non-USD record without any rate keeps amount_usd null and says why in unconverted_reason.
-- money_divide is an exact DECIMAL division macro (pipelines/storage/money.py).
with source as (
    select *
    from lake_revenue
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
)

select
    customer_id,
    user_segment,
    nullif(plan, '') as plan,
    period_start,
    period_end,
    cast(period_end - period_start as bigint) as period_days,
    cast(amount as decimal(38, 15)) as amount,
    currency,
    case when currency = 'USD' then cast(1 as decimal(38, 12)) else usd_rate end as fx_rate,
    case when currency <> 'USD' then rate_date end as fx_rate_date,
    case
        when currency = 'USD' then cast(amount as decimal(38, 15))
        when usd_rate is not null then money_divide(amount, usd_rate)
    end as amount_usd,
    case when currency <> 'USD' and usd_rate is null then 'no_fx_rate:' || currency end as unconverted_reason,
    source_file,
    source_row,
from converted
