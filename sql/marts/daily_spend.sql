-- One row per event_date x feature x user_segment x provider x model x service_tier,
-- with the cost also in the reporting currency at the rate in effect that day (rate and its date kept).
-- Self-hosted GPU capacity nobody used is its own row: feature 'idle_capacity', model '(idle)', no requests,
-- cost = the cluster-day's GPU cost minus what its requests were allocated, so allocated + idle = the GPU bill.
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
        cast(coalesce(sum(image_input_tokens), 0) as bigint) as image_input_tokens,
        cast(coalesce(sum(image_output_tokens), 0) as bigint) as image_output_tokens,
        cast(sum(web_search_requests) as bigint) as web_search_requests,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        count(*) filter (where not is_priced) as unpriced_requests,
    from requests
    group by all
),

gpu_days as (
    select provider, event_date, case when count(*) = count(cost_usd) then sum(cost_usd) end as gpu_cost_usd
    from reference.gpu_capacity
    where event_date >= $window_start and event_date < $window_end
    group by provider, event_date
),

gpu_allocated as (
    select provider, event_date, sum(cost_usd) as allocated_usd
    from requests
    where provider like 'self\_hosted:%' escape '\' and is_priced
    group by provider, event_date
),

idle as (
    select
        gpu_days.event_date,
        'idle_capacity' as feature,
        'unattributed' as user_segment,
        gpu_days.provider,
        '(idle)' as model,
        'standard' as service_tier,
        cast(0 as bigint) as requests,
        cast(0 as bigint) as input_tokens,
        cast(0 as bigint) as cache_read_tokens,
        cast(0 as bigint) as cache_write_5m_tokens,
        cast(0 as bigint) as cache_write_1h_tokens,
        cast(0 as bigint) as output_tokens,
        cast(0 as bigint) as reasoning_tokens,
        cast(0 as bigint) as audio_input_tokens,
        cast(0 as bigint) as audio_output_tokens,
        cast(0 as bigint) as image_input_tokens,
        cast(0 as bigint) as image_output_tokens,
        cast(0 as bigint) as web_search_requests,
        cast(gpu_days.gpu_cost_usd - coalesce(gpu_allocated.allocated_usd, 0) as decimal(38, 15)) as cost_usd,
        cast(0 as bigint) as unpriced_requests,
    from gpu_days
    left join gpu_allocated
        on gpu_allocated.provider = gpu_days.provider
        and gpu_allocated.event_date = gpu_days.event_date
    where gpu_days.gpu_cost_usd <> coalesce(gpu_allocated.allocated_usd, 0)
),

spend as (
    select * from daily
    union all by name
    select * from idle
),

rates as (
    select fx_rates.rate_date, fx_rates.usd_rate
    from reference.fx_rates
    inner join reference.reporting_currency on fx_rates.currency = reporting_currency.currency
),

reported as (
    select
        spend.*,
        (select currency from reference.reporting_currency) as reporting_currency,
        rates.rate_date as fx_rate_date,
        case when (select currency from reference.reporting_currency) = 'USD' then 1 else rates.usd_rate end as fx_rate,
    from spend
    asof left join rates
        on spend.event_date >= rates.rate_date
)

select
    *,
    -- exact to 15 places, whole dollars and the fraction apart: the product of scales 15 and 12 overflowed
    -- DECIMAL(38) above ~10^11 in the reporting currency (a large day in IDR or VND)
    cast(cast(trunc(cost_usd) as decimal(38, 0)) * fx_rate as decimal(38, 15))
        + cast((cost_usd - trunc(cost_usd)) * fx_rate as decimal(38, 15)) as cost_reporting,
from reported
