-- One row per self-hosted cluster x day with a GPU record or requests: the GPU bill in USD, capacity, tokens
-- served, utilization, the cost allocated to requests, the idle cost and the effective cost per 1M tokens.
-- allocated_cost_usd is the sum of the day's request costs (core.request_costs) and idle_cost_usd = gpu_cost_usd -
-- allocated_cost_usd, so allocated + idle = the GPU bill exactly. utilization = min(tokens served / capacity, 1)
-- when every GPU record of the day gives capacity_tokens_per_hour, else null (then the whole bill is allocated
-- to the day's requests). effective_cost_per_1m_tokens_usd = the whole bill (idle included) per 1M tokens served.
-- A day with requests but no GPU record (or no USD rate) has a null bill and its requests are unpriced.
-- money_muldiv and exact_ratio are exact DECIMAL division macros (pipelines/storage/money.py).
with gpu_days as (
    select
        provider,
        event_date,
        string_agg(gpu_type, ', ' order by gpu_type) as gpu_types,
        cast(sum(gpu_count) as bigint) as gpu_count,
        cast(sum(gpu_hours) as decimal(38, 6)) as gpu_hours,
        case when count(*) = count(cost_usd) then sum(cost_usd) end as gpu_cost_usd,
        case when count(*) = count(capacity_tokens) then sum(capacity_tokens) end as capacity_tokens,
        string_agg(distinct unconverted_reason, ', ') as unconverted_reason,
        min(price_id) as price_id,
    from reference.gpu_capacity
    group by provider, event_date
),

served as (
    select
        provider,
        event_date,
        count(*) as requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        cast(sum(total_input_tokens + total_output_tokens) as bigint) as tokens_served,
        coalesce(sum(cost_usd), 0) as allocated_cost_usd,
    from core.request_costs
    where provider like 'self\_hosted:%' escape '\'
    group by provider, event_date
),

combined as (
    select
        coalesce(gpu_days.event_date, served.event_date) as event_date,
        coalesce(gpu_days.provider, served.provider) as provider,
        gpu_days.gpu_types,
        gpu_days.gpu_count,
        gpu_days.gpu_hours,
        gpu_days.gpu_cost_usd,
        cast(gpu_days.capacity_tokens as bigint) as capacity_tokens,
        coalesce(served.requests, 0) as requests,
        coalesce(served.unpriced_requests, 0) as unpriced_requests,
        coalesce(served.tokens_served, 0) as tokens_served,
        coalesce(served.allocated_cost_usd, 0) as allocated_cost_usd,
        gpu_days.price_id,
        gpu_days.unconverted_reason,
    from gpu_days
    full outer join served
        on served.provider = gpu_days.provider
        and served.event_date = gpu_days.event_date
)

select
    event_date,
    substr(provider, length('self_hosted:') + 1) as cluster,
    provider,
    gpu_types,
    gpu_count,
    gpu_hours,
    cast(gpu_cost_usd as decimal(38, 15)) as gpu_cost_usd,
    capacity_tokens,
    requests,
    unpriced_requests,
    tokens_served,
    case when capacity_tokens > 0 then least(exact_ratio(tokens_served, capacity_tokens), 1) end as utilization,
    cast(allocated_cost_usd as decimal(38, 15)) as allocated_cost_usd,
    cast(gpu_cost_usd - allocated_cost_usd as decimal(38, 15)) as idle_cost_usd,
    money_muldiv(gpu_cost_usd, 1000000, tokens_served) as effective_cost_per_1m_tokens_usd,
    price_id,
    unconverted_reason,
from combined
