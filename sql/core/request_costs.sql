-- One row per unique request, priced by the price-book entry in effect at its timestamp (and, for a time-of-day
-- price, its minute and weekday in UTC). price_confidence: 'dated' when the entry's start is known, 'undated' when
-- the provider never published it (reference.prices.effective_from is null); null when the request is unpriced.
-- Money is DECIMAL(38, 15); an unpriced request has null costs and says why, never $0.
-- cost_usd and the per-bucket costs are effective (negotiated overrides applied); list_cost_usd is at list price.
-- Each bucket cost is rounded to 15 decimals and cost_usd is their sum. A discount multiplies prices only on rows
-- that have an override: a 38-digit multiply on every row was most of this query's time.
-- model_names: reference.model_aliases plus the names the price book's match rules resolve in the window
-- (pipelines/pricing/names.py). Self-hosted requests (provider self_hosted:<cluster>) are priced from
-- reference.gpu_capacity instead: gpu_allocation(window_start, window_end), a table macro (sql/core/_gpu_allocation.sql),
-- shares the cluster-day's allocated GPU cost by tokens served (docs/business-inputs.md), price_id 'gpu:<cluster>:<date>'.
-- effective_rate and token_cost are macros (pipelines/storage/money.py).
with requests as not materialized (
    select *
    from staging.stg_gateway_requests
    where event_date >= $window_start and event_date < $window_end
),

-- The self-hosted requests' share of their cluster-day's GPU bill, per bucket (see the macro's file).
gpu_costs as (
    select *
    from gpu_allocation($window_start, $window_end)
),

named as (
    select
        requests.*,
        aliases.model as book_model,
        cast((epoch_us(requests.occurred_at) // 60000000) % 1440 as integer) as utc_minute,
        cast((epoch_us(requests.occurred_at) // 86400000000 + 3) % 7 as integer) as utc_weekday,
    from requests
    left join model_names as aliases
        on aliases.provider = requests.provider
        and aliases.name = requests.model
),

priced as (
    select
        named.*,
        coalesce(prices.price_id, gpu_costs.gpu_price_id) as price_id,
        prices.price_id is not null and prices.effective_from is null as price_undated,
        gpu_costs.gpu_input_cost_usd,
        gpu_costs.gpu_cache_read_cost_usd,
        gpu_costs.gpu_cache_write_5m_cost_usd,
        gpu_costs.gpu_cache_write_1h_cost_usd,
        gpu_costs.gpu_output_cost_usd,
        gpu_costs.gpu_reasoning_cost_usd,
        gpu_costs.gpu_audio_cost_usd,
        gpu_costs.gpu_cost_usd,
        prices.input_per_mtok,
        prices.cache_read_per_mtok,
        prices.cache_write_5m_per_mtok,
        prices.cache_write_1h_per_mtok,
        prices.output_per_mtok,
        prices.reasoning_per_mtok,
        prices.audio_input_per_mtok,
        prices.audio_output_per_mtok,
        prices.image_input_per_mtok,
        prices.image_output_per_mtok,
        prices.web_search_per_1k,
        prices.per_request,
        prices.input_tokens_from as price_band_from,
    from named
    left join (
        select * exclude (utc_segments), unnest(utc_segments, recursive := true)
        from reference.prices
    ) as prices
        on prices.provider = named.provider
        and prices.model = named.book_model
        and prices.service_tier = named.service_tier
        and named.occurred_at >= coalesce(prices.effective_from, '-infinity'::timestamptz)
        and named.occurred_at < coalesce(prices.effective_to, 'infinity'::timestamptz)
        and named.total_input_tokens >= prices.input_tokens_from
        and named.total_input_tokens < prices.input_tokens_to
        and named.utc_minute >= prices.minute_from
        and named.utc_minute < prices.minute_to
        and (prices.days >> named.utc_weekday) & 1 = 1
    left join gpu_costs
        on gpu_costs.source = named.source
        and gpu_costs.request_id = named.request_id
        and gpu_costs.event_date = named.event_date
),

model_tiers as (
    select distinct provider, model, service_tier
    from reference.prices
),

judged as (
    select
        priced.*,
        case
            when priced.provider like 'self\_hosted:%' escape '\' then
                case when priced.gpu_cost_usd is null then 'no_price_at_time' end
            when priced.book_model is null then 'unknown_model'
            when model_tiers.model is null then 'unknown_tier'
            when priced.price_id is null then 'no_price_at_time'
            when priced.input_tokens > 0 and priced.input_per_mtok is null then 'no_price_for_bucket:input'
            when priced.cache_read_tokens > 0 and priced.cache_read_per_mtok is null then 'no_price_for_bucket:cache_read'
            when priced.cache_write_5m_tokens > 0 and priced.cache_write_5m_per_mtok is null then 'no_price_for_bucket:cache_write_5m'
            when priced.cache_write_1h_tokens > 0 and priced.cache_write_1h_per_mtok is null then 'no_price_for_bucket:cache_write_1h'
            when priced.output_tokens > 0 and priced.output_per_mtok is null then 'no_price_for_bucket:output'
            when priced.reasoning_tokens > 0 and priced.reasoning_per_mtok is null then 'no_price_for_bucket:reasoning'
            when priced.audio_input_tokens > 0 and priced.audio_input_per_mtok is null then 'no_price_for_bucket:audio_input'
            when priced.audio_output_tokens > 0 and priced.audio_output_per_mtok is null then 'no_price_for_bucket:audio_output'
            -- image input is billed as input where the book lists no image input price (Gemini, OpenAI's chat models)
            when priced.image_input_tokens > 0 and coalesce(priced.image_input_per_mtok, priced.input_per_mtok) is null
                then 'no_price_for_bucket:image_input'
            when priced.image_output_tokens > 0 and priced.image_output_per_mtok is null then 'no_price_for_bucket:image_output'
            when priced.web_search_requests > 0 and priced.web_search_per_1k is null then 'no_price_for_bucket:web_search'
        end as unpriced_reason,
    from priced
    left join model_tiers
        on model_tiers.provider = priced.provider
        and model_tiers.model = priced.book_model
        and model_tiers.service_tier = priced.service_tier
),

-- Every (account, day) of a known model, priced or not: overrides apply only to priced rows (see rated). Read
-- from the requests again rather than from `named` or `judged`, which DuckDB would store whole for a second reader.
account_days as (
    select distinct
        requests.provider,
        aliases.model as book_model,
        requests.service_tier,
        -- parse the tags only where an account can be (experiment and other tags are common)
        case when contains(requests.tags, '"account"') then coalesce(requests.tags ->> 'account', '') else '' end as account,
        requests.event_date,
    from requests
    inner join model_names as aliases
        on aliases.provider = requests.provider
        and aliases.name = requests.model
),

chosen_overrides as (
    select
        account_days.*,
        overrides.override_id,
        overrides.service_tier as rates_tier,
        cast(1 - overrides.discount_pct * 0.01 as decimal(38, 12)) as multiplier,
        overrides.input_per_mtok as override_input,
        overrides.cache_read_per_mtok as override_cache_read,
        overrides.cache_write_5m_per_mtok as override_cache_write_5m,
        overrides.cache_write_1h_per_mtok as override_cache_write_1h,
        overrides.output_per_mtok as override_output,
        overrides.reasoning_per_mtok as override_reasoning,
        overrides.audio_input_per_mtok as override_audio_input,
        overrides.audio_output_per_mtok as override_audio_output,
        overrides.image_input_per_mtok as override_image_input,
        overrides.image_output_per_mtok as override_image_output,
    from account_days
    inner join reference.price_overrides as overrides
        on overrides.provider = account_days.provider
        and coalesce(overrides.model, account_days.book_model) = account_days.book_model
        and coalesce(overrides.account, account_days.account) = account_days.account
        and coalesce(overrides.service_tier, account_days.service_tier) = account_days.service_tier
        and account_days.event_date >= overrides.effective_from
        and account_days.event_date < coalesce(overrides.effective_to, date '9999-12-31')
    qualify row_number() over (
        partition by account_days.provider, account_days.book_model, account_days.service_tier,
            account_days.account, account_days.event_date
        order by overrides.specificity desc, overrides.override_id
    ) = 1
),

rated as (
    select
        judged.*,
        (cast(judged.audio_input_tokens as decimal(38, 0)) * coalesce(judged.audio_input_per_mtok, 0)
         + cast(judged.audio_output_tokens as decimal(38, 0)) * coalesce(judged.audio_output_per_mtok, 0)) * 0.000001
            as audio_list_cost_usd,
        cast(judged.web_search_requests as decimal(38, 0)) * coalesce(judged.web_search_per_1k, 0) * 0.001
            + coalesce(judged.per_request, 0) as fees_list_cost_usd,
        case when judged.unpriced_reason is null then chosen_overrides.override_id end as override_id,
        -- explicit rates are the negotiated price of one tier (the override's service_tier, else standard) below its
        -- first long-context band: a batch request or one above the band keeps its list rate less discount_pct (the
        -- standard-tier rates applied flat made a batch request cost more than its list price and dropped the band)
        coalesce(chosen_overrides.rates_tier, 'standard') = judged.service_tier and coalesce(judged.price_band_from, 0) = 0
            as rates_apply,
        case when rates_apply then chosen_overrides.override_input end as rate_input,
        case when rates_apply then chosen_overrides.override_cache_read end as rate_cache_read,
        case when rates_apply then chosen_overrides.override_cache_write_5m end as rate_cache_write_5m,
        case when rates_apply then chosen_overrides.override_cache_write_1h end as rate_cache_write_1h,
        case when rates_apply then chosen_overrides.override_output end as rate_output,
        case when rates_apply then chosen_overrides.override_reasoning end as rate_reasoning,
        case when rates_apply then chosen_overrides.override_audio_input end as rate_audio_input,
        case when rates_apply then chosen_overrides.override_audio_output end as rate_audio_output,
        case when rates_apply then chosen_overrides.override_image_input end as rate_image_input,
        case when rates_apply then chosen_overrides.override_image_output end as rate_image_output,
        chosen_overrides.multiplier,
        effective_rate(rate_input, judged.input_per_mtok, chosen_overrides.multiplier)
            as effective_input_per_mtok,
        effective_rate(rate_cache_read, judged.cache_read_per_mtok, chosen_overrides.multiplier)
            as effective_cache_read_per_mtok,
        effective_rate(rate_cache_write_5m, judged.cache_write_5m_per_mtok, chosen_overrides.multiplier)
            as effective_cache_write_5m_per_mtok,
        effective_rate(rate_cache_write_1h, judged.cache_write_1h_per_mtok, chosen_overrides.multiplier)
            as effective_cache_write_1h_per_mtok,
        effective_rate(rate_output, judged.output_per_mtok, chosen_overrides.multiplier)
            as effective_output_per_mtok,
        effective_rate(rate_reasoning, judged.reasoning_per_mtok, chosen_overrides.multiplier)
            as effective_reasoning_per_mtok,
        -- audio at the list rates times the discount (one rounding), unless the override names an audio rate
        rate_audio_input is not null or rate_audio_output is not null
            as audio_overridden,
        effective_rate(rate_audio_input, judged.audio_input_per_mtok, chosen_overrides.multiplier)
            as effective_audio_input_per_mtok,
        effective_rate(rate_audio_output, judged.audio_output_per_mtok, chosen_overrides.multiplier)
            as effective_audio_output_per_mtok,
        -- image input without an image price of its own is input: at the input rate the request pays
        case when judged.image_input_per_mtok is null and rate_image_input is null
            then effective_rate(rate_input, judged.input_per_mtok, chosen_overrides.multiplier)
            else effective_rate(rate_image_input, judged.image_input_per_mtok, chosen_overrides.multiplier)
        end as effective_image_input_per_mtok,
        effective_rate(rate_image_output, judged.image_output_per_mtok, chosen_overrides.multiplier)
            as effective_image_output_per_mtok,
    from judged
    left join chosen_overrides
        on chosen_overrides.provider = judged.provider
        and chosen_overrides.book_model = judged.book_model
        and chosen_overrides.service_tier = judged.service_tier
        and chosen_overrides.account = case when contains(judged.tags, '"account"') then coalesce(judged.tags ->> 'account', '') else '' end
        and chosen_overrides.event_date = judged.event_date
),

costed as (
    select
        *,
        unpriced_reason is null as is_priced,
        case when unpriced_reason is null then coalesce(gpu_input_cost_usd, token_cost(input_tokens, effective_input_per_mtok)) end
            as input_cost_usd,
        case when unpriced_reason is null then coalesce(gpu_cache_read_cost_usd, token_cost(cache_read_tokens, effective_cache_read_per_mtok)) end
            as cache_read_cost_usd,
        case when unpriced_reason is null then coalesce(gpu_cache_write_5m_cost_usd, token_cost(cache_write_5m_tokens, effective_cache_write_5m_per_mtok)) end
            as cache_write_5m_cost_usd,
        case when unpriced_reason is null then coalesce(gpu_cache_write_1h_cost_usd, token_cost(cache_write_1h_tokens, effective_cache_write_1h_per_mtok)) end
            as cache_write_1h_cost_usd,
        case when unpriced_reason is null then coalesce(gpu_output_cost_usd, token_cost(output_tokens, effective_output_per_mtok)) end
            as output_cost_usd,
        case when unpriced_reason is null then coalesce(gpu_reasoning_cost_usd, token_cost(reasoning_tokens, effective_reasoning_per_mtok)) end
            as reasoning_cost_usd,
        case when unpriced_reason is null then coalesce(
            gpu_audio_cost_usd,
            case when audio_overridden then
                    token_cost(audio_input_tokens, effective_audio_input_per_mtok)
                    + token_cost(audio_output_tokens, effective_audio_output_per_mtok)
                when multiplier is null then cast(audio_list_cost_usd as decimal(38, 15))
                else cast(audio_list_cost_usd * multiplier as decimal(38, 15)) end)
        end as audio_cost_usd,
        case when unpriced_reason is null then
            case when gpu_cost_usd is not null then 0 else
                token_cost(image_input_tokens, effective_image_input_per_mtok) + token_cost(image_output_tokens, effective_image_output_per_mtok)
            end
        end as image_cost_usd,
        case when unpriced_reason is null then
            case when multiplier is null then cast(fees_list_cost_usd as decimal(38, 15))
                else cast(fees_list_cost_usd * multiplier as decimal(38, 15)) end
        end as fees_cost_usd,
        case when unpriced_reason is null then coalesce(
            gpu_cost_usd,
            (cast(input_tokens as decimal(38, 0)) * coalesce(input_per_mtok, 0)
             + cast(cache_read_tokens as decimal(38, 0)) * coalesce(cache_read_per_mtok, 0)
             + cast(cache_write_5m_tokens as decimal(38, 0)) * coalesce(cache_write_5m_per_mtok, 0)
             + cast(cache_write_1h_tokens as decimal(38, 0)) * coalesce(cache_write_1h_per_mtok, 0)
             + cast(output_tokens as decimal(38, 0)) * coalesce(output_per_mtok, 0)
             + cast(reasoning_tokens as decimal(38, 0)) * coalesce(reasoning_per_mtok, 0)
             + cast(audio_input_tokens as decimal(38, 0)) * coalesce(audio_input_per_mtok, 0)
             + cast(audio_output_tokens as decimal(38, 0)) * coalesce(audio_output_per_mtok, 0)
             + cast(image_input_tokens as decimal(38, 0)) * coalesce(image_input_per_mtok, input_per_mtok, 0)
             + cast(image_output_tokens as decimal(38, 0)) * coalesce(image_output_per_mtok, 0)) * 0.000001
            + cast(web_search_requests as decimal(38, 0)) * coalesce(web_search_per_1k, 0) * 0.001
            + coalesce(per_request, 0))
        end as list_cost_usd,
    from rated
)

select
    request_id,
    occurred_at,
    event_date,
    provider,
    model,
    service_tier,
    feature,
    user_id,
    user_segment,
    customer_id,
    conversation_id,
    tags,
    status,
    latency_ms,
    input_tokens,
    cache_read_tokens,
    cache_write_5m_tokens,
    cache_write_1h_tokens,
    output_tokens,
    reasoning_tokens,
    audio_input_tokens,
    audio_output_tokens,
    image_input_tokens,
    image_output_tokens,
    web_search_requests,
    total_input_tokens,
    total_output_tokens,
    price_id,
    case when is_priced then case when price_undated then 'undated' else 'dated' end end as price_confidence,
    cast(input_cost_usd as decimal(38, 15)) as input_cost_usd,
    cast(cache_read_cost_usd as decimal(38, 15)) as cache_read_cost_usd,
    cast(cache_write_5m_cost_usd as decimal(38, 15)) as cache_write_5m_cost_usd,
    cast(cache_write_1h_cost_usd as decimal(38, 15)) as cache_write_1h_cost_usd,
    cast(output_cost_usd as decimal(38, 15)) as output_cost_usd,
    cast(reasoning_cost_usd as decimal(38, 15)) as reasoning_cost_usd,
    cast(audio_cost_usd as decimal(38, 15)) as audio_cost_usd,
    cast(image_cost_usd as decimal(38, 15)) as image_cost_usd,
    cast(fees_cost_usd as decimal(38, 15)) as fees_cost_usd,
    cast(
        input_cost_usd + cache_read_cost_usd + cache_write_5m_cost_usd + cache_write_1h_cost_usd
        + output_cost_usd + reasoning_cost_usd + audio_cost_usd + image_cost_usd + fees_cost_usd
        as decimal(38, 15)
    ) as cost_usd,
    cast(list_cost_usd as decimal(38, 15)) as list_cost_usd,
    override_id,
    is_priced,
    unpriced_reason,
    source,
    source_file,
    source_row,
from costed
