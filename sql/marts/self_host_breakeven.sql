-- One row per self-hosted cluster x month (YYYY-MM) x API model its traffic is compared with: the GPU bill against
-- what the same requests would have cost on the API, and the utilization at which the two cost the same per token.
-- The API models come from tier_rules (<home>/model_tiers.yaml, then pricing/model_tiers.yaml, registered by the
-- asset; `tokenledger breakeven --compare-with` hands one rule of its own): for each self-hosted model served, the
-- first rule whose glob matches "self_hosted:<cluster>/<model>" or the model name, and its compare_with list (the
-- table macro tiered_models(models), sql/marts/_tiered_models.sql, shared with marts.model_tier_spend).
-- requests, tokens_served (total input + total output tokens, every bucket), capacity_tokens and gpu_cost_usd (the
-- month's whole GPU bill from reference.gpu_capacity, idle included) are the cluster's month, every model it served;
-- capacity_tokens is null when a GPU record of the month gives no capacity, gpu_cost_usd when one has no USD rate.
-- utilization = min(tokens_served / capacity_tokens, 1), as marts.self_hosted_costs has it.
-- cost_per_1m_tokens_usd = gpu_cost_usd / tokens_served x 1M (actual); ..._full_utilization_usd = gpu_cost_usd /
-- capacity_tokens x 1M. self_hosted_models are the models compared on this API model; compared_requests theirs.
-- api_cost_usd: each compared request's own token buckets priced at the API model's price in effect at its time,
-- negotiated prices (reference.price_overrides) winning over list prices as in core.request_costs; a request the API
-- model cannot price is counted in api_unpriceable_requests and left out. reprice(requests, with_overrides) is a
-- table macro (sql/marts/_reprice.sql), shared with `tokenledger whatif`.
-- api_cost_per_1m_tokens_usd = api_cost_usd / api_priced_tokens x 1M. breakeven_utilization =
-- cost_per_1m_tokens_full_utilization_usd / api_cost_per_1m_tokens_usd: at that utilization a self-hosted token
-- costs what the API charges; null when it is over 1 (the API is cheaper even at 100%) or a side is unknown.
-- Money is DECIMAL(38, 15); money_muldiv and exact_ratio are exact DECIMAL division macros (pipelines/storage/money.py).
with self_hosted as (
    select
        *,
        substr(provider, length('self_hosted:') + 1) as cluster,
        strftime(event_date, '%Y-%m') as month,
    from core.request_costs
    where provider like 'self\_hosted:%' escape '\'
),

cluster_months as (
    select
        provider,
        month,
        count(*) as requests,
        sum(total_input_tokens + total_output_tokens) as tokens_served,
    from self_hosted
    group by provider, month
),

gpu_months as (
    select
        provider,
        strftime(event_date, '%Y-%m') as month,
        case when count(*) = count(cost_usd) then sum(cost_usd) end as gpu_cost_usd,
        case when count(*) = count(capacity_tokens) then sum(capacity_tokens) end as capacity_tokens,
    from reference.gpu_capacity
    group by provider, month
),

served_models as (
    select distinct provider, model
    from self_hosted
),

first_rules as (
    select
        provider,
        model,
        rule_source,
        compare_with,
    from tiered_models('served_models')
    where matched
),

pairs as (
    select
        provider,
        model,
        rule_source,
        unnest(compare_with) as target,
    from first_rules
),

compared as (
    select
        self_hosted.*,
        pairs.target.provider as to_provider,
        pairs.target.model as to_model,
        pairs.rule_source as compare_rule,
    from self_hosted
    inner join pairs
        on pairs.provider = self_hosted.provider
        and pairs.model = self_hosted.model
),

repriced as (
    select *
    from reprice('compared', true)
),

api_months as (
    select
        provider,
        cluster,
        month,
        to_provider as compare_provider,
        to_model as compare_model,
        string_agg(distinct model, ', ' order by model) as self_hosted_models,
        count(*) as compared_requests,
        count(*) filter (where repriceable) as api_priced_requests,
        count(*) filter (where not repriceable) as api_unpriceable_requests,
        coalesce(sum(total_input_tokens + total_output_tokens) filter (where repriceable), 0) as api_priced_tokens,
        coalesce(sum(target_cost_usd) filter (where repriceable), 0) as api_cost_usd,
        count(*) filter (where repriceable and tier_fallback) as api_tier_fallback_requests,
        coalesce(list(distinct target_price_id order by target_price_id) filter (where repriceable), []) as api_price_ids,
        coalesce(list(distinct target_override_id order by target_override_id) filter (where repriceable and target_override_id is not null), [])
            as api_override_ids,
        string_agg(distinct compare_rule, ', ' order by compare_rule) as compare_rules,
    from repriced
    group by provider, cluster, month, to_provider, to_model
),

combined as (
    select
        api_months.*,
        cluster_months.requests,
        cluster_months.tokens_served,
        gpu_months.gpu_cost_usd,
        gpu_months.capacity_tokens,
    from api_months
    inner join cluster_months
        on cluster_months.provider = api_months.provider
        and cluster_months.month = api_months.month
    left join gpu_months
        on gpu_months.provider = api_months.provider
        and gpu_months.month = api_months.month
),

unit_costs as (
    select
        *,
        money_muldiv(gpu_cost_usd, 1000000, tokens_served) as cost_per_1m_tokens_usd,
        money_muldiv(gpu_cost_usd, 1000000, capacity_tokens) as cost_per_1m_tokens_full_utilization_usd,
        money_muldiv(api_cost_usd, 1000000, api_priced_tokens) as api_cost_per_1m_tokens_usd,
    from combined
),

ratios as (
    select
        *,
        exact_ratio(cost_per_1m_tokens_full_utilization_usd, api_cost_per_1m_tokens_usd) as cost_ratio_at_full_utilization,
    from unit_costs
)

select
    cluster,
    month,
    provider,
    compare_provider,
    compare_model,
    self_hosted_models,
    cast(requests as bigint) as requests,
    cast(tokens_served as bigint) as tokens_served,
    cast(capacity_tokens as bigint) as capacity_tokens,
    cast(gpu_cost_usd as decimal(38, 15)) as gpu_cost_usd,
    case when capacity_tokens > 0 then least(exact_ratio(tokens_served, capacity_tokens), 1) end as utilization,
    cost_per_1m_tokens_usd,
    cost_per_1m_tokens_full_utilization_usd,
    cast(compared_requests as bigint) as compared_requests,
    cast(api_priced_requests as bigint) as api_priced_requests,
    cast(api_unpriceable_requests as bigint) as api_unpriceable_requests,
    cast(api_priced_tokens as bigint) as api_priced_tokens,
    cast(api_cost_usd as decimal(38, 15)) as api_cost_usd,
    api_cost_per_1m_tokens_usd,
    case when cost_ratio_at_full_utilization <= 1 then cost_ratio_at_full_utilization end as breakeven_utilization,
    cost_per_1m_tokens_usd < api_cost_per_1m_tokens_usd as self_hosted_cheaper,
    cast(api_tier_fallback_requests as bigint) as api_tier_fallback_requests,
    api_price_ids,
    api_override_ids,
    compare_rules,
from ratios
order by cluster, month, compare_provider, compare_model
