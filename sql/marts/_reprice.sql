-- reprice(requests, with_overrides): the rows of the relation named `requests` (a CTE or view of core.request_costs
-- rows plus to_provider and to_model, the API model each is re-priced on), each with its own token buckets priced at
-- that model's price in effect at its time. A table macro, not a table: queries/whatif_reprice, queries/whatif_move_cluster
-- and marts.self_host_breakeven call it. Adds target_price_id, target_override_id, tier_fallback, repriceable and
-- target_cost_usd to the request's columns.
-- The same service tier when the target has it (else standard, tier_fallback), the target's band for the request's
-- input size, its time-of-day window. A bucket the target does not price separately is billed as it would be there
-- (cache reads and writes as input, 1-hour writes as 5-minute writes when only those are sold, reasoning as output).
-- A request the target cannot price (no price at its time, audio or web search it does not sell) is not repriceable.
-- with_overrides: negotiated prices (reference.price_overrides) win over list prices as in core.request_costs: the
-- override of the target's provider, model, service tier, the request's tags.account and its day, the most specific
-- first; a bucket the target bills as another is billed at that bucket's negotiated rate. false: list prices only.
-- effective_rate is a macro (pipelines/storage/money.py).
with to_reprice as (
    select
        *,
        case when contains(tags, '"account"') then coalesce(tags ->> 'account', '') else '' end as reprice_account,
    from query_table(requests)
),

target_tiers as (
    select distinct provider, model, service_tier
    from reference.prices
),

tiered as (
    select
        to_reprice.*,
        coalesce(target_tiers.service_tier, 'standard') as reprice_tier,
        target_tiers.service_tier is null as tier_fallback,
    from to_reprice
    left join target_tiers
        on target_tiers.provider = to_reprice.to_provider
        and target_tiers.model = to_reprice.to_model
        and target_tiers.service_tier = to_reprice.service_tier
),

target as (
    select * exclude (utc_segments), unnest(utc_segments, recursive := true)
    from reference.prices
),

matched as (
    select
        tiered.*,
        target.price_id as target_price_id,
        target.input_per_mtok as reprice_input,
        target.cache_read_per_mtok is null as reprice_no_cache_read,
        target.cache_write_5m_per_mtok is null as reprice_no_cache_write_5m,
        target.cache_write_1h_per_mtok is null as reprice_no_cache_write_1h,
        target.reasoning_per_mtok is null as reprice_no_reasoning,
        coalesce(target.cache_read_per_mtok, target.input_per_mtok) as reprice_cache_read,
        coalesce(target.cache_write_5m_per_mtok, target.input_per_mtok) as reprice_cache_write_5m,
        coalesce(target.cache_write_1h_per_mtok, target.cache_write_5m_per_mtok, target.input_per_mtok) as reprice_cache_write_1h,
        target.output_per_mtok as reprice_output,
        coalesce(target.reasoning_per_mtok, target.output_per_mtok) as reprice_reasoning,
        target.audio_input_per_mtok as reprice_audio_input,
        target.audio_output_per_mtok as reprice_audio_output,
        coalesce(target.image_input_per_mtok, target.input_per_mtok) as reprice_image_input,
        target.image_output_per_mtok as reprice_image_output,
        target.web_search_per_1k as reprice_web_search_per_1k,
        target.per_request as reprice_per_request,
    from tiered
    left join target
        on target.provider = tiered.to_provider
        and target.model = tiered.to_model
        and target.service_tier = tiered.reprice_tier
        and tiered.occurred_at >= coalesce(target.effective_from, '-infinity'::timestamptz)
        and tiered.occurred_at < coalesce(target.effective_to, 'infinity'::timestamptz)
        and tiered.total_input_tokens >= target.input_tokens_from
        and tiered.total_input_tokens < target.input_tokens_to
        and (epoch_us(tiered.occurred_at) // 60000000) % 1440 >= target.minute_from
        and (epoch_us(tiered.occurred_at) // 60000000) % 1440 < target.minute_to
        and (target.days >> cast((epoch_us(tiered.occurred_at) // 86400000000 + 3) % 7 as integer)) & 1 = 1
),

-- One override per (target, tier, account, day), the most specific, as core.request_costs chooses it.
account_days as (
    select distinct to_provider, to_model, reprice_tier, reprice_account, event_date
    from tiered
),

chosen_overrides as (
    select
        account_days.*,
        overrides.override_id,
        cast(1 - overrides.discount_pct * 0.01 as decimal(38, 12)) as multiplier,
        overrides.input_per_mtok as override_input,
        overrides.cache_read_per_mtok as override_cache_read,
        overrides.cache_write_5m_per_mtok as override_cache_write_5m,
        overrides.cache_write_1h_per_mtok as override_cache_write_1h,
        overrides.output_per_mtok as override_output,
        overrides.reasoning_per_mtok as override_reasoning,
    from account_days
    inner join reference.price_overrides as overrides
        on with_overrides
        and overrides.provider = account_days.to_provider
        and coalesce(overrides.model, account_days.to_model) = account_days.to_model
        and coalesce(overrides.account, account_days.reprice_account) = account_days.reprice_account
        and coalesce(overrides.service_tier, account_days.reprice_tier) = account_days.reprice_tier
        and account_days.event_date >= overrides.effective_from
        and account_days.event_date < coalesce(overrides.effective_to, date '9999-12-31')
    qualify row_number() over (
        partition by account_days.to_provider, account_days.to_model, account_days.reprice_tier,
            account_days.reprice_account, account_days.event_date
        order by overrides.specificity desc, overrides.override_id
    ) = 1
),

-- A bucket billed as another takes that bucket's negotiated rate too.
rated as (
    select
        matched.*,
        case when matched.target_price_id is not null then chosen_overrides.override_id end as target_override_id,
        chosen_overrides.multiplier as reprice_multiplier,
        -- audio, images and fees at list price; a discount multiplies them, as in core.request_costs
        (cast(matched.audio_input_tokens as decimal(38, 0)) * coalesce(matched.reprice_audio_input, 0)
         + cast(matched.audio_output_tokens as decimal(38, 0)) * coalesce(matched.reprice_audio_output, 0)
         + cast(coalesce(matched.image_input_tokens, 0) as decimal(38, 0)) * coalesce(matched.reprice_image_input, 0)
         + cast(coalesce(matched.image_output_tokens, 0) as decimal(38, 0)) * coalesce(matched.reprice_image_output, 0)) * 0.000001
        + cast(matched.web_search_requests as decimal(38, 0)) * coalesce(matched.reprice_web_search_per_1k, 0) * 0.001
        + coalesce(matched.reprice_per_request, 0) as reprice_list_extras,
        chosen_overrides.override_input as reprice_override_input,
        case when matched.reprice_no_cache_read then coalesce(chosen_overrides.override_cache_read, chosen_overrides.override_input)
            else chosen_overrides.override_cache_read end as reprice_override_cache_read,
        case when matched.reprice_no_cache_write_5m then coalesce(chosen_overrides.override_cache_write_5m, chosen_overrides.override_input)
            else chosen_overrides.override_cache_write_5m end as reprice_override_cache_write_5m,
        case
            when matched.reprice_no_cache_write_1h and matched.reprice_no_cache_write_5m
                then coalesce(chosen_overrides.override_cache_write_1h, chosen_overrides.override_cache_write_5m, chosen_overrides.override_input)
            when matched.reprice_no_cache_write_1h
                then coalesce(chosen_overrides.override_cache_write_1h, chosen_overrides.override_cache_write_5m)
            else chosen_overrides.override_cache_write_1h
        end as reprice_override_cache_write_1h,
        chosen_overrides.override_output as reprice_override_output,
        case when matched.reprice_no_reasoning then coalesce(chosen_overrides.override_reasoning, chosen_overrides.override_output)
            else chosen_overrides.override_reasoning end as reprice_override_reasoning,
    from matched
    left join chosen_overrides
        on chosen_overrides.to_provider = matched.to_provider
        and chosen_overrides.to_model = matched.to_model
        and chosen_overrides.reprice_tier = matched.reprice_tier
        and chosen_overrides.reprice_account = matched.reprice_account
        and chosen_overrides.event_date = matched.event_date
),

costed as (
    select
        *,
        target_price_id is not null
            and reprice_input is not null
            and reprice_output is not null
            and (audio_input_tokens = 0 or reprice_audio_input is not null)
            and (audio_output_tokens = 0 or reprice_audio_output is not null)
            and (coalesce(image_output_tokens, 0) = 0 or reprice_image_output is not null)
            and (web_search_requests = 0 or reprice_web_search_per_1k is not null) as repriceable,
        (cast(input_tokens as decimal(38, 0)) * effective_rate(reprice_override_input, reprice_input, reprice_multiplier)
         + cast(cache_read_tokens as decimal(38, 0))
            * effective_rate(reprice_override_cache_read, reprice_cache_read, reprice_multiplier)
         + cast(cache_write_5m_tokens as decimal(38, 0))
            * effective_rate(reprice_override_cache_write_5m, reprice_cache_write_5m, reprice_multiplier)
         + cast(cache_write_1h_tokens as decimal(38, 0))
            * effective_rate(reprice_override_cache_write_1h, reprice_cache_write_1h, reprice_multiplier)
         + cast(output_tokens as decimal(38, 0)) * effective_rate(reprice_override_output, reprice_output, reprice_multiplier)
         + cast(reasoning_tokens as decimal(38, 0))
            * effective_rate(reprice_override_reasoning, reprice_reasoning, reprice_multiplier)) * 0.000001
        + case when reprice_multiplier is null then reprice_list_extras
            else cast(reprice_list_extras * reprice_multiplier as decimal(38, 15)) end as target_cost_usd,
    from rated
)

select * exclude (
    reprice_account, reprice_tier, reprice_input, reprice_no_cache_read, reprice_no_cache_write_5m, reprice_no_cache_write_1h,
    reprice_no_reasoning, reprice_cache_read, reprice_cache_write_5m, reprice_cache_write_1h, reprice_output, reprice_reasoning,
    reprice_audio_input, reprice_audio_output, reprice_image_input, reprice_image_output, reprice_web_search_per_1k, reprice_per_request, reprice_multiplier, reprice_list_extras,
    reprice_override_input, reprice_override_cache_read, reprice_override_cache_write_5m, reprice_override_cache_write_1h,
    reprice_override_output, reprice_override_reasoning
)
from costed
