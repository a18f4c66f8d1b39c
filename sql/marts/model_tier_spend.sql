-- One row per month (YYYY-MM) x feature x model tier (small / medium / premium / unclassified): the data a routing
-- decision needs. Tiers come from tier_rules (registered by the asset from <home>/model_tiers.yaml, then
-- pricing/model_tiers.yaml): the first rule whose glob matches "<provider>/<model>" or the model name wins, as the
-- table macro tiered_models(models) finds it (sql/marts/_tiered_models.sql).
-- Unit costs are over priced usage (priced_requests, priced_tokens); the shares compare the tier with the whole feature.
-- money_muldiv and exact_ratio are exact DECIMAL division macros (pipelines/storage/money.py).
with usage as (
    select
        strftime(event_date, '%Y-%m') as month,
        feature,
        provider,
        model,
        count(*) as requests,
        count(*) filter (where is_priced) as priced_requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        sum(total_input_tokens) as input_tokens,
        sum(total_output_tokens) as output_tokens,
        coalesce(sum(total_input_tokens + total_output_tokens) filter (where is_priced), 0) as priced_tokens,
        coalesce(sum(cost_usd), 0) as cost_usd,
    from core.request_costs
    group by all
),

models as (
    select distinct provider, model
    from usage
),

tiered as (
    select
        provider,
        model,
        model_tier,
        rule_source,
    from tiered_models('models')
),

by_tier as (
    select
        usage.month,
        usage.feature,
        tiered.model_tier,
        sum(usage.requests) as requests,
        sum(usage.priced_requests) as priced_requests,
        sum(usage.unpriced_requests) as unpriced_requests,
        sum(usage.input_tokens) as input_tokens,
        sum(usage.output_tokens) as output_tokens,
        sum(usage.priced_tokens) as priced_tokens,
        sum(usage.cost_usd) as cost_usd,
        string_agg(distinct usage.provider || '/' || usage.model, ', ' order by usage.provider || '/' || usage.model) as models,
        string_agg(distinct tiered.rule_source, ', ' order by tiered.rule_source) as tier_rules,
    from usage
    inner join tiered
        on tiered.provider = usage.provider
        and tiered.model = usage.model
    group by usage.month, usage.feature, tiered.model_tier
)

select
    month,
    feature,
    model_tier,
    cast(requests as bigint) as requests,
    cast(priced_requests as bigint) as priced_requests,
    cast(unpriced_requests as bigint) as unpriced_requests,
    cast(input_tokens as bigint) as input_tokens,
    cast(output_tokens as bigint) as output_tokens,
    cast(priced_tokens as bigint) as priced_tokens,
    cast(cost_usd as decimal(38, 15)) as cost_usd,
    money_muldiv(cost_usd, 1, priced_requests) as cost_per_request_usd,
    money_muldiv(cost_usd, 1000000, priced_tokens) as cost_per_1m_tokens_usd,
    exact_ratio(requests, sum(requests) over (partition by month, feature)) as share_of_feature_requests,
    exact_ratio(cost_usd, sum(cost_usd) over (partition by month, feature)) as share_of_feature_cost,
    models,
    tier_rules,
from by_tier
