-- `tokenledger export focus`: the priced usage as FOCUS 1.2 rows, one per day x provider x model x service tier x
-- price entry x feature x user segment x customer. Every FOCUS 1.2 column is here in the specification's order
-- (null where it does not apply), then our dimensions as x_ columns. EffectiveCost sums to the ledger
-- (core.request_costs.cost_usd); unpriced requests add no cost. x_unpriced_requests counts those of the row's own
-- price entry (a bucket it has no price for); a request with no price entry at all (unknown model, tier or date) has no
-- row: a FOCUS row cannot carry an unknown cost, and $0 would be a price. The command counts every one.
with requests as (
    select *
    from core.request_costs
),

grouped as (
    select
        event_date,
        provider,
        model,
        service_tier,
        price_id,
        feature,
        user_segment,
        customer_id,
        count(*) filter (where is_priced) as requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        cast(coalesce(sum(total_input_tokens + total_output_tokens) filter (where is_priced), 0) as decimal(38, 0)) as tokens,
        cast(sum(cost_usd) filter (where is_priced) as decimal(38, 15)) as effective_cost,
        cast(sum(list_cost_usd) filter (where is_priced) as decimal(38, 15)) as list_cost,
    from requests
    group by all
    having count(*) filter (where is_priced) > 0
),

described as (
    select
        *,
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
    from grouped
)

select
    cast(null as varchar) as AvailabilityZone,
    effective_cost as BilledCost,
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
    format('{} tokens of {} for {} ({} requests, estimated from request logs)', tokens, model, feature, requests) as ChargeDescription,
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
    cast(tokens as decimal(38, 9)) as ConsumedQuantity,
    'Tokens' as ConsumedUnit,
    effective_cost as ContractedCost,
    cast(null as decimal(38, 15)) as ContractedUnitPrice,
    effective_cost as EffectiveCost,
    cast(null as varchar) as InvoiceId,
    issuer as InvoiceIssuerName,
    list_cost as ListCost,
    cast(null as decimal(38, 15)) as ListUnitPrice,
    'Standard' as PricingCategory,
    'USD' as PricingCurrency,
    cast(null as decimal(38, 15)) as PricingCurrencyContractedUnitPrice,
    effective_cost as PricingCurrencyEffectiveCost,
    cast(null as decimal(38, 15)) as PricingCurrencyListUnitPrice,
    cast(tokens as decimal(38, 9)) as PricingQuantity,
    'Tokens' as PricingUnit,
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
    'Tokens' as SkuMeter,
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
    requests as x_requests,
    unpriced_requests as x_unpriced_requests,
    'tokenledger' as x_source,
from described
order by event_date, provider, model, feature, user_segment, customer_id, service_tier, price_id
