-- Days of marts.daily_spend whose reporting currency, exchange rate or rate date differs from what the current
-- reference.reporting_currency and reference.fx_rates give (the rule of marts.daily_spend: the latest rate on or
-- before the day): a changed `reporting_currency` in settings.yaml or new or corrected landing/fx rates. Their
-- marts are rebuilt by the same run (pipelines/warehouse/reference.py).
with currency as (
    select currency from reference.reporting_currency
),

rates as (
    select fx_rates.rate_date, fx_rates.usd_rate
    from reference.fx_rates
    inner join currency on fx_rates.currency = currency.currency
),

stored as (
    select distinct event_date, reporting_currency, fx_rate, fx_rate_date
    from marts.daily_spend
),

expected as (
    select
        stored.*,
        rates.rate_date as expected_rate_date,
        case when (select currency from currency) = 'USD' then 1 else rates.usd_rate end as expected_rate,
    from stored
    asof left join rates
        on stored.event_date >= rates.rate_date
)

select distinct event_date
from expected
where reporting_currency is distinct from (select currency from currency)
    or fx_rate is distinct from expected_rate
    or fx_rate_date is distinct from expected_rate_date
order by 1
