-- One row per event_date x feature x user_segment x provider x model x service_tier,
-- with the cost also in the reporting currency at the rate in effect that day (rate and its date kept).
with requests as (
    select *
    from core.request_costs
    where event_date >= $window_start and event_date < $window_end
),

daily as (
    select
        event_date,
        feature,
        coalesce(user_segment, 'unattributed') as user_segment,
        provider,
        model,
        service_tier,
        count(*) as requests,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(cache_read_tokens) as bigint) as cache_read_tokens,
        cast(sum(cache_write_5m_tokens) as bigint) as cache_write_5m_tokens,
        cast(sum(cache_write_1h_tokens) as bigint) as cache_write_1h_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(reasoning_tokens) as bigint) as reasoning_tokens,
        cast(sum(audio_input_tokens) as bigint) as audio_input_tokens,
        cast(sum(audio_output_tokens) as bigint) as audio_output_tokens,
        cast(sum(web_search_requests) as bigint) as web_search_requests,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        count(*) filter (where not is_priced) as unpriced_requests,
    from requests
    group by all
),

rates as (
    select fx_rates.rate_date, fx_rates.usd_rate
    from reference.fx_rates
    inner join reference.reporting_currency on fx_rates.currency = reporting_currency.currency
),

reported as (
    select
        daily.*,
        (select currency from reference.reporting_currency) as reporting_currency,
        rates.rate_date as fx_rate_date,
        case when (select currency from reference.reporting_currency) = 'USD' then 1 else rates.usd_rate end as fx_rate,
    from daily
    asof left join rates
        on daily.event_date >= rates.rate_date
)

select
    *,
    cast(cost_usd * fx_rate as decimal(38, 15)) as cost_reporting,
from reported
