-- `tokenledger whatif`: a feature's requests of one month re-priced at another model's list prices.
-- Each request's own buckets at the target's price in effect at its time: the same service tier when the target
-- has it (else standard), the target's band for the request's input size. A bucket the target does not price
-- separately is billed as it would be there (cache reads and writes as input, reasoning as output); a request
-- the target cannot price (no price at its time, audio or web search it does not sell) is not re-priceable.
with requests as (
    select *
    from core.request_costs
    where feature = $feature and event_date >= $month_start and event_date < $month_end
),

target as (
    select * exclude (utc_segments), unnest(utc_segments, recursive := true)
    from reference.prices
    where provider = $provider and model = $model
),

target_tiers as (
    select distinct service_tier
    from target
),

matched as (
    select
        requests.*,
        target.price_id as target_price_id,
        target.input_per_mtok,
        coalesce(target.cache_read_per_mtok, target.input_per_mtok) as cache_read_per_mtok,
        coalesce(target.cache_write_5m_per_mtok, target.input_per_mtok) as cache_write_5m_per_mtok,
        coalesce(target.cache_write_1h_per_mtok, target.cache_write_5m_per_mtok, target.input_per_mtok) as cache_write_1h_per_mtok,
        target.output_per_mtok,
        coalesce(target.reasoning_per_mtok, target.output_per_mtok) as reasoning_per_mtok,
        target.audio_input_per_mtok,
        target.audio_output_per_mtok,
        target.web_search_per_1k,
        target.per_request,
    from requests
    left join target
        on target.service_tier = case
            when requests.service_tier in (select service_tier from target_tiers) then requests.service_tier
            else 'standard'
        end
        and requests.occurred_at >= coalesce(target.effective_from, '-infinity'::timestamptz)
        and requests.occurred_at < coalesce(target.effective_to, 'infinity'::timestamptz)
        and requests.total_input_tokens >= target.input_tokens_from
        and requests.total_input_tokens < target.input_tokens_to
        and (epoch_us(requests.occurred_at) // 60000000) % 1440 >= target.minute_from
        and (epoch_us(requests.occurred_at) // 60000000) % 1440 < target.minute_to
        and (target.days >> cast((epoch_us(requests.occurred_at) // 86400000000 + 3) % 7 as integer)) & 1 = 1
),

repriced as (
    select
        *,
        target_price_id is not null
            and input_per_mtok is not null
            and output_per_mtok is not null
            and (audio_input_tokens = 0 or audio_input_per_mtok is not null)
            and (audio_output_tokens = 0 or audio_output_per_mtok is not null)
            and (web_search_requests = 0 or web_search_per_1k is not null) as repriceable,
        (cast(input_tokens as decimal(38, 0)) * input_per_mtok
         + cast(cache_read_tokens as decimal(38, 0)) * cache_read_per_mtok
         + cast(cache_write_5m_tokens as decimal(38, 0)) * cache_write_5m_per_mtok
         + cast(cache_write_1h_tokens as decimal(38, 0)) * cache_write_1h_per_mtok
         + cast(output_tokens as decimal(38, 0)) * output_per_mtok
         + cast(reasoning_tokens as decimal(38, 0)) * reasoning_per_mtok
         + cast(audio_input_tokens as decimal(38, 0)) * coalesce(audio_input_per_mtok, 0)
         + cast(audio_output_tokens as decimal(38, 0)) * coalesce(audio_output_per_mtok, 0)) * 0.000001
        + cast(web_search_requests as decimal(38, 0)) * coalesce(web_search_per_1k, 0) * 0.001
        + coalesce(per_request, 0) as target_cost_usd,
    from matched
)

select
    count(*) as requests,
    count(*) filter (where not is_priced) as unpriced_requests,
    count(*) filter (where is_priced and repriceable) as repriced_requests,
    count(*) filter (where is_priced and not repriceable) as kept_requests,
    cast(coalesce(sum(cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as actual_usd,
    cast(coalesce(sum(cost_usd) filter (where is_priced and repriceable), 0) as decimal(38, 15)) as repriced_actual_usd,
    cast(coalesce(sum(target_cost_usd) filter (where is_priced and repriceable), 0) as decimal(38, 15)) as target_usd,
    count(*) filter (where is_priced and repriceable and service_tier not in (select service_tier from target_tiers)) as tier_fallback_requests,
    coalesce(list(distinct target_price_id order by target_price_id) filter (where is_priced and repriceable), []) as target_price_ids,
from repriced
