-- `tokenledger export focus`: the priced usage as FOCUS 1.2 rows, one per day x provider x model x service tier x
-- price entry x negotiated override x feature x user segment x customer x meter (SkuMeter: input, cache read,
-- cache write 5m / 1h, output, reasoning, audio and image tokens, web searches, per-request fees), as the providers' own
-- FOCUS exports split a model's usage. Every FOCUS 1.2 column is here in the specification's order (null where it
-- does not apply), then our dimensions as x_ columns. A Usage row carries its unit prices, per token (per search,
-- per request): ListCost = ListUnitPrice x PricingQuantity and ContractedCost = ContractedUnitPrice x
-- PricingQuantity, exactly. EffectiveCost (= BilledCost) is the ledger's cost of the row's tokens, and sums to
-- core.request_costs.cost_usd; ListCost sums to its list_cost_usd. A self-hosted model's row is its share of the
-- cluster's GPU bill (SkuMeter 'GPU capacity', PricingUnit 'USD', unit prices 1). Unpriced requests add no cost.
-- x_requests counts each priced request once, on its group's 'Input Tokens' row (0 on the group's other meters), so
-- it adds up; x_unpriced_requests likewise counts those of the row's price entry (a bucket it has no price for) when
-- the group has a priced request to carry them. A request with no price entry at all (unknown model, tier or date),
-- or whose group has no priced request, has no row: a FOCUS row cannot carry an unknown cost, and $0 would be a
-- price. The command counts every one.
-- effective_rate is a macro (pipelines/storage/money.py), the ledger's own arithmetic.
with requests as (
    select *
    from core.request_costs
    where price_id is not null
),

grouped as (
    select
        event_date,
        provider,
        model,
        service_tier,
        price_id,
        override_id,
        feature,
        user_segment,
        customer_id,
        count(*) filter (where is_priced) as requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        cast(coalesce(sum(total_input_tokens + total_output_tokens) filter (where is_priced), 0) as decimal(38, 0)) as tokens,
        cast(coalesce(sum(input_tokens) filter (where is_priced), 0) as decimal(38, 0)) as input_tokens,
        cast(coalesce(sum(cache_read_tokens) filter (where is_priced), 0) as decimal(38, 0)) as cache_read_tokens,
        cast(coalesce(sum(cache_write_5m_tokens) filter (where is_priced), 0) as decimal(38, 0)) as cache_write_5m_tokens,
        cast(coalesce(sum(cache_write_1h_tokens) filter (where is_priced), 0) as decimal(38, 0)) as cache_write_1h_tokens,
        cast(coalesce(sum(output_tokens) filter (where is_priced), 0) as decimal(38, 0)) as output_tokens,
        cast(coalesce(sum(reasoning_tokens) filter (where is_priced), 0) as decimal(38, 0)) as reasoning_tokens,
        cast(coalesce(sum(audio_input_tokens) filter (where is_priced), 0) as decimal(38, 0)) as audio_input_tokens,
        cast(coalesce(sum(audio_output_tokens) filter (where is_priced), 0) as decimal(38, 0)) as audio_output_tokens,
        cast(coalesce(sum(image_input_tokens) filter (where is_priced), 0) as decimal(38, 0)) as image_input_tokens,
        cast(coalesce(sum(image_output_tokens) filter (where is_priced), 0) as decimal(38, 0)) as image_output_tokens,
        cast(coalesce(sum(web_search_requests) filter (where is_priced), 0) as decimal(38, 0)) as web_search_requests,
        cast(coalesce(sum(input_cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as input_cost,
        cast(coalesce(sum(cache_read_cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as cache_read_cost,
        cast(coalesce(sum(cache_write_5m_cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as cache_write_5m_cost,
        cast(coalesce(sum(cache_write_1h_cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as cache_write_1h_cost,
        cast(coalesce(sum(output_cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as output_cost,
        cast(coalesce(sum(reasoning_cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as reasoning_cost,
        cast(coalesce(sum(audio_cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as audio_cost,
        cast(coalesce(sum(image_cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as image_cost,
        cast(coalesce(sum(fees_cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as fees_cost,
        cast(coalesce(sum(cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as effective_cost,
    from requests
    group by all
),

-- An unpriced request names no override: its count goes to one priced group of its day, model, price entry, feature,
-- segment and customer (the one without an override first).
carried as (
    select
        *,
        row_number() over (
            partition by event_date, provider, model, service_tier, price_id, feature, user_segment, customer_id
            order by requests = 0, override_id nulls first
        ) = 1 as carrier,
        sum(unpriced_requests) over (
            partition by event_date, provider, model, service_tier, price_id, feature, user_segment, customer_id
        ) as entry_unpriced_requests,
    from grouped
),

rated as (
    select
        carried.*,
        starts_with(carried.price_id, 'gpu:') as self_hosted,
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
        cast(1 - overrides.discount_pct * 0.01 as decimal(38, 12)) as multiplier,
        -- as in core.request_costs: explicit rates are the price of one tier (the override's, else standard) below its
        -- first long-context band; a batch request or one above the band pays its list rate less discount_pct
        coalesce(overrides.service_tier, 'standard') = carried.service_tier and coalesce(prices.input_tokens_from, 0) = 0
            as rates_apply,
        case when rates_apply then overrides.input_per_mtok end as override_input,
        case when rates_apply then overrides.cache_read_per_mtok end as override_cache_read,
        case when rates_apply then overrides.cache_write_5m_per_mtok end as override_cache_write_5m,
        case when rates_apply then overrides.cache_write_1h_per_mtok end as override_cache_write_1h,
        case when rates_apply then overrides.output_per_mtok end as override_output,
        case when rates_apply then overrides.reasoning_per_mtok end as override_reasoning,
        case when rates_apply then overrides.audio_input_per_mtok end as override_audio_input,
        case when rates_apply then overrides.audio_output_per_mtok end as override_audio_output,
        case when rates_apply then overrides.image_input_per_mtok end as override_image_input,
        case when rates_apply then overrides.image_output_per_mtok end as override_image_output,
    from carried
    left join reference.prices as prices
        on prices.price_id = carried.price_id
    left join reference.price_overrides as overrides
        on overrides.override_id = carried.override_id
    where carried.requests > 0
),

-- The audio and fee buckets are one cost column each in the ledger: their first meter's effective cost is its
-- quantity at its rate, the second's the rest, so the meters add up to the ledger exactly.
split as (
    select
        *,
        case when coalesce(override_audio_input, override_audio_output) is not null
            then cast(effective_rate(override_audio_input, audio_input_per_mtok, multiplier) * 0.000001 as decimal(38, 15))
            else cast(coalesce(audio_input_per_mtok, 0) * coalesce(multiplier, 1) * 0.000001 as decimal(38, 15))
        end as audio_input_rate,
        case when coalesce(override_audio_input, override_audio_output) is not null
            then cast(effective_rate(override_audio_output, audio_output_per_mtok, multiplier) * 0.000001 as decimal(38, 15))
            else cast(coalesce(audio_output_per_mtok, 0) * coalesce(multiplier, 1) * 0.000001 as decimal(38, 15))
        end as audio_output_rate,
        -- image input without an image price of its own is billed as input (core.request_costs)
        cast(case when image_input_per_mtok is null and override_image_input is null
            then effective_rate(override_input, input_per_mtok, multiplier)
            else effective_rate(override_image_input, image_input_per_mtok, multiplier)
        end * 0.000001 as decimal(38, 15)) as image_input_rate,
        cast(effective_rate(override_image_output, image_output_per_mtok, multiplier) * 0.000001 as decimal(38, 15)) as image_output_rate,
        cast(coalesce(web_search_per_1k, 0) * coalesce(multiplier, 1) * 0.001 as decimal(38, 15)) as web_search_rate,
        cast(coalesce(per_request, 0) * coalesce(multiplier, 1) as decimal(38, 15)) as per_request_rate,
    from rated
),

meters as (
    select
        split.*,
        unnest(case when self_hosted then [
            {n: 1, meter: 'GPU capacity', unit: 'USD', quantity: cast(effective_cost as decimal(38, 15)), list_rate: cast(1.0 as decimal(38, 15)), contracted_rate: cast(1.0 as decimal(38, 15)), effective: cast(effective_cost as decimal(38, 15))}
        ] else [
            {n: 1, meter: 'Input Tokens', unit: 'Tokens', quantity: cast(input_tokens as decimal(38, 15)),
             list_rate: cast(input_per_mtok * 0.000001 as decimal(38, 15)),
             contracted_rate: cast(effective_rate(override_input, input_per_mtok, multiplier) * 0.000001 as decimal(38, 15)), effective: cast(input_cost as decimal(38, 15))},
            {n: 2, meter: 'Cache Read Input Tokens', unit: 'Tokens', quantity: cast(cache_read_tokens as decimal(38, 15)),
             list_rate: cast(cache_read_per_mtok * 0.000001 as decimal(38, 15)),
             contracted_rate: cast(effective_rate(override_cache_read, cache_read_per_mtok, multiplier) * 0.000001 as decimal(38, 15)), effective: cast(cache_read_cost as decimal(38, 15))},
            {n: 3, meter: 'Cache Write 5m Input Tokens', unit: 'Tokens', quantity: cast(cache_write_5m_tokens as decimal(38, 15)),
             list_rate: cast(cache_write_5m_per_mtok * 0.000001 as decimal(38, 15)),
             contracted_rate: cast(effective_rate(override_cache_write_5m, cache_write_5m_per_mtok, multiplier) * 0.000001 as decimal(38, 15)),
             effective: cast(cache_write_5m_cost as decimal(38, 15))},
            {n: 4, meter: 'Cache Write 1h Input Tokens', unit: 'Tokens', quantity: cast(cache_write_1h_tokens as decimal(38, 15)),
             list_rate: cast(cache_write_1h_per_mtok * 0.000001 as decimal(38, 15)),
             contracted_rate: cast(effective_rate(override_cache_write_1h, cache_write_1h_per_mtok, multiplier) * 0.000001 as decimal(38, 15)),
             effective: cast(cache_write_1h_cost as decimal(38, 15))},
            {n: 5, meter: 'Output Tokens', unit: 'Tokens', quantity: cast(output_tokens as decimal(38, 15)),
             list_rate: cast(output_per_mtok * 0.000001 as decimal(38, 15)),
             contracted_rate: cast(effective_rate(override_output, output_per_mtok, multiplier) * 0.000001 as decimal(38, 15)), effective: cast(output_cost as decimal(38, 15))},
            {n: 6, meter: 'Reasoning Tokens', unit: 'Tokens', quantity: cast(reasoning_tokens as decimal(38, 15)),
             list_rate: cast(reasoning_per_mtok * 0.000001 as decimal(38, 15)),
             contracted_rate: cast(effective_rate(override_reasoning, reasoning_per_mtok, multiplier) * 0.000001 as decimal(38, 15)), effective: cast(reasoning_cost as decimal(38, 15))},
            {n: 7, meter: 'Audio Input Tokens', unit: 'Tokens', quantity: cast(audio_input_tokens as decimal(38, 15)),
             list_rate: cast(audio_input_per_mtok * 0.000001 as decimal(38, 15)), contracted_rate: audio_input_rate,
             effective: cast(audio_input_tokens * audio_input_rate as decimal(38, 15))},
            {n: 8, meter: 'Audio Output Tokens', unit: 'Tokens', quantity: cast(audio_output_tokens as decimal(38, 15)),
             list_rate: cast(audio_output_per_mtok * 0.000001 as decimal(38, 15)), contracted_rate: audio_output_rate,
             effective: cast(audio_cost - cast(audio_input_tokens * audio_input_rate as decimal(38, 15)) as decimal(38, 15))},
            {n: 9, meter: 'Image Input Tokens', unit: 'Tokens', quantity: cast(image_input_tokens as decimal(38, 15)),
             list_rate: cast(coalesce(image_input_per_mtok, input_per_mtok) * 0.000001 as decimal(38, 15)), contracted_rate: image_input_rate,
             effective: cast(image_input_tokens * image_input_rate as decimal(38, 15))},
            {n: 10, meter: 'Image Output Tokens', unit: 'Tokens', quantity: cast(image_output_tokens as decimal(38, 15)),
             list_rate: cast(image_output_per_mtok * 0.000001 as decimal(38, 15)), contracted_rate: image_output_rate,
             effective: cast(image_cost - cast(image_input_tokens * image_input_rate as decimal(38, 15)) as decimal(38, 15))},
            {n: 11, meter: 'Web Searches', unit: 'Searches', quantity: cast(web_search_requests as decimal(38, 15)),
             list_rate: cast(web_search_per_1k * 0.001 as decimal(38, 15)), contracted_rate: web_search_rate,
             effective: cast(web_search_requests * web_search_rate as decimal(38, 15))},
            {n: 12, meter: 'Requests', unit: 'Requests', quantity: cast(case when per_request > 0 then requests else 0 end as decimal(38, 15)),
             list_rate: cast(per_request as decimal(38, 15)), contracted_rate: per_request_rate,
             effective: cast(fees_cost - cast(web_search_requests * web_search_rate as decimal(38, 15)) as decimal(38, 15))}
        ] end) as line,
    from split
),

lines as (
    select
        meters.* exclude (line),
        line.n,
        line.meter,
        line.unit,
        cast(line.quantity as decimal(38, 15)) as quantity,
        -- a meter the row does not use (the Input Tokens row that carries the counts) may have no price
        cast(coalesce(line.list_rate, 0) as decimal(38, 15)) as list_unit_price,
        cast(coalesce(line.contracted_rate, 0) as decimal(38, 15)) as contracted_unit_price,
        cast(line.effective as decimal(38, 15)) as line_effective_cost,
        case when line.n = 1 then requests else 0 end as line_requests,
        cast(case when line.n = 1 and carrier then entry_unpriced_requests else 0 end as bigint) as line_unpriced_requests,
        case
            when provider = 'openai' then 'OpenAI'
            when provider = 'azure_openai' then 'Microsoft'
            when provider = 'anthropic' then 'Anthropic'
            when provider = 'google' then 'Google Cloud'
            when provider = 'aws_bedrock' then 'AWS'
            when provider = 'mistral' then 'Mistral AI'
            when provider = 'deepseek' then 'DeepSeek'
            when provider = 'xai' then 'xAI'
            else provider
        end as issuer,
        case
            when provider = 'openai' then 'OpenAI API'
            when provider = 'azure_openai' then 'Azure OpenAI'
            when provider = 'anthropic' then 'Claude API'
            when provider = 'google' then 'Vertex AI'
            when provider = 'aws_bedrock' then 'Amazon Bedrock'
            when provider = 'mistral' then 'Mistral AI API'
            when provider = 'deepseek' then 'DeepSeek API'
            when provider = 'xai' then 'xAI API'
            when starts_with(provider, 'self_hosted:') then 'Self-hosted models (' || substr(provider, 13) || ')'
            else provider
        end as service,
    from meters
    where line.n = 1 or line.quantity > 0
)

select
    cast(null as varchar) as AvailabilityZone,
    line_effective_cost as BilledCost,
    provider as BillingAccountId,
    issuer as BillingAccountName,
    'Provider account' as BillingAccountType,
    'USD' as BillingCurrency,
    cast(date_trunc('month', event_date) + interval 1 month as timestamptz) as BillingPeriodEnd,
    cast(date_trunc('month', event_date) as timestamptz) as BillingPeriodStart,
    cast(null as varchar) as CapacityReservationId,
    cast(null as varchar) as CapacityReservationStatus,
    'Usage' as ChargeCategory,
    cast(null as varchar) as ChargeClass,
    case when self_hosted
        then format('GPU capacity for {} tokens of {} for {} ({} requests, allocated from the cluster''s GPU bill)', tokens, model, feature, requests)
        else format('{} {} of {} for {} (estimated from request logs)', cast(quantity as hugeint), lower(meter), model, feature)
    end as ChargeDescription,
    'Usage-Based' as ChargeFrequency,
    cast(event_date + interval 1 day as timestamptz) as ChargePeriodEnd,
    cast(event_date as timestamptz) as ChargePeriodStart,
    cast(null as varchar) as CommitmentDiscountCategory,
    cast(null as varchar) as CommitmentDiscountId,
    cast(null as varchar) as CommitmentDiscountName,
    cast(null as decimal(38, 9)) as CommitmentDiscountQuantity,
    cast(null as varchar) as CommitmentDiscountStatus,
    cast(null as varchar) as CommitmentDiscountType,
    cast(null as varchar) as CommitmentDiscountUnit,
    cast(case when self_hosted then tokens else quantity end as decimal(38, 9)) as ConsumedQuantity,
    case when self_hosted then 'Tokens' else unit end as ConsumedUnit,
    cast(contracted_unit_price * quantity as decimal(38, 15)) as ContractedCost,
    contracted_unit_price as ContractedUnitPrice,
    line_effective_cost as EffectiveCost,
    cast(null as varchar) as InvoiceId,
    issuer as InvoiceIssuerName,
    cast(list_unit_price * quantity as decimal(38, 15)) as ListCost,
    list_unit_price as ListUnitPrice,
    case when self_hosted then 'Other' else 'Standard' end as PricingCategory,
    'USD' as PricingCurrency,
    contracted_unit_price as PricingCurrencyContractedUnitPrice,
    line_effective_cost as PricingCurrencyEffectiveCost,
    list_unit_price as PricingCurrencyListUnitPrice,
    quantity as PricingQuantity,
    unit as PricingUnit,
    issuer as ProviderName,
    issuer as PublisherName,
    cast(null as varchar) as RegionId,
    cast(null as varchar) as RegionName,
    provider || '/' || model as ResourceId,
    model as ResourceName,
    'Model' as ResourceType,
    'AI and Machine Learning' as ServiceCategory,
    service as ServiceName,
    'Generative AI' as ServiceSubcategory,
    provider || '/' || model as SkuId,
    meter as SkuMeter,
    cast(null as varchar) as SkuPriceDetails,
    price_id as SkuPriceId,
    cast(null as varchar) as SubAccountId,
    cast(null as varchar) as SubAccountName,
    cast(null as varchar) as SubAccountType,
    cast(json_object('feature', feature, 'user_segment', user_segment, 'customer_id', customer_id) as varchar) as Tags,
    feature as x_feature,
    user_segment as x_user_segment,
    customer_id as x_customer_id,
    service_tier as x_service_tier,
    override_id as x_override_id,
    line_requests as x_requests,
    line_unpriced_requests as x_unpriced_requests,
    'tokenledger' as x_source,
from lines
order by event_date, provider, model, feature, user_segment, customer_id, service_tier, price_id, override_id nulls first, n
