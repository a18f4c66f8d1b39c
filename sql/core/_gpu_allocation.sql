-- gpu_allocation(window_start, window_end): one row per self-hosted request of the window with its share of its
-- cluster-day's GPU bill, whole and per token bucket. A table macro, not a table: core.request_costs calls it, and
-- DuckDB inlines it there, so the plan is the one the CTEs would make inside that query.
-- Shares are exact: money is counted in whole 10^-15 USD (HUGEINT) and rounded cumulatively, so the requests of
-- a cluster-day add up to its allocated cost and a request's buckets add up to its share. money_units,
-- money_from_units and share_of are macros (pipelines/storage/money.py).
-- GPU cost per self-hosted cluster-day, in whole 10^-15 USD (HUGEINT) so shares are exact. Null bill: a GPU
-- record without a USD rate. Capacity is known only when every GPU record of the day gives capacity_tokens_per_hour.
with gpu_days as (
    select
        provider,
        event_date,
        min(price_id) as gpu_price_id,
        case when count(*) = count(cost_usd) then sum(money_units(cost_usd)) end as bill_units,
        case when count(*) = count(capacity_tokens) then sum(capacity_tokens) end as capacity_tokens,
    from reference.gpu_capacity
    where event_date >= window_start and event_date < window_end
    group by provider, event_date
),

gpu_served as (
    select
        source,
        request_id,
        provider,
        event_date,
        input_tokens,
        cache_read_tokens,
        cache_write_5m_tokens,
        cache_write_1h_tokens,
        output_tokens,
        reasoning_tokens,
        total_input_tokens + total_output_tokens as gpu_tokens,
        sum(total_input_tokens + total_output_tokens) over (
            partition by provider, event_date order by occurred_at, source, request_id
            rows between unbounded preceding and current row
        ) as tokens_through,
        sum(total_input_tokens + total_output_tokens) over (partition by provider, event_date) as tokens_served,
    from staging.stg_gateway_requests
    where event_date >= window_start and event_date < window_end
        and provider like 'self\_hosted:%' escape '\'
),

-- Allocated = the bill x min(tokens served, capacity) / capacity; the whole bill when capacity is unknown;
-- nothing when no token was served. Each request gets round(allocated x tokens up to and including it / served)
-- minus the same for the requests before it, so the shares add up to the allocated cost exactly.
gpu_shares as (
    select
        gpu_served.*,
        gpu_days.gpu_price_id,
        case
            when gpu_days.bill_units is null then null
            when gpu_served.tokens_served = 0 then 0
            when gpu_days.capacity_tokens is null or gpu_days.capacity_tokens = 0 then gpu_days.bill_units
            else share_of(gpu_days.bill_units, least(gpu_served.tokens_served, gpu_days.capacity_tokens), gpu_days.capacity_tokens)
        end as allocated_units,
    from gpu_served
    inner join gpu_days
        on gpu_days.provider = gpu_served.provider
        and gpu_days.event_date = gpu_served.event_date
),

gpu_levels as (
    select
        *,
        coalesce(share_of(allocated_units, tokens_through, tokens_served), 0)
            - coalesce(share_of(allocated_units, tokens_through - gpu_tokens, tokens_served), 0) as share_units,
    from gpu_shares
    where allocated_units is not null
),

-- The request's share split over its buckets the same way (cumulative rounding), so they add up to it.
gpu_bucket_levels as (
    select
        source,
        request_id,
        event_date,
        gpu_price_id,
        share_units,
        coalesce(share_of(share_units, input_tokens, gpu_tokens), 0) as through_input,
        coalesce(share_of(share_units, input_tokens + cache_read_tokens, gpu_tokens), 0) as through_cache_read,
        coalesce(share_of(share_units, input_tokens + cache_read_tokens + cache_write_5m_tokens, gpu_tokens), 0) as through_cache_write_5m,
        coalesce(share_of(share_units, input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens, gpu_tokens), 0)
            as through_cache_write_1h,
        coalesce(share_of(share_units, input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + output_tokens,
            gpu_tokens), 0) as through_output,
        coalesce(share_of(share_units, input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + output_tokens
            + reasoning_tokens, gpu_tokens), 0) as through_reasoning,
    from gpu_levels
),

-- 10^-15 USD units back to DECIMAL(38, 15) (money_from_units); audio input and output are the rest of the share.
gpu_costs as (
    select
        source,
        request_id,
        event_date,
        gpu_price_id,
        money_from_units(through_input) as gpu_input_cost_usd,
        money_from_units(through_cache_read - through_input) as gpu_cache_read_cost_usd,
        money_from_units(through_cache_write_5m - through_cache_read) as gpu_cache_write_5m_cost_usd,
        money_from_units(through_cache_write_1h - through_cache_write_5m) as gpu_cache_write_1h_cost_usd,
        money_from_units(through_output - through_cache_write_1h) as gpu_output_cost_usd,
        money_from_units(through_reasoning - through_output) as gpu_reasoning_cost_usd,
        money_from_units(share_units - through_reasoning) as gpu_audio_cost_usd,
        money_from_units(share_units) as gpu_cost_usd,
    from gpu_bucket_levels
)

select *
from gpu_costs
