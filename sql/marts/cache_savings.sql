-- One row per event_date x feature with cached input: what cache reads saved against the uncached input price
-- of the same price entry, and what cache writes cost above it (negotiated rates applied where an override did).
-- cached_cost_usd: what the cached tokens were billed; uncached_cost_usd: what they would have cost as input;
-- saved_usd = uncached - cached; write_premium_usd: cache writes' rate above the input rate; net_saved_usd =
-- saved - premium. Priced requests of the API providers only (self-hosted GPU shares have no cache price).
-- token_cost is a macro (pipelines/storage/money.py).
with requests as (
    select *
    from core.request_costs
    where is_priced and (cache_read_tokens > 0 or cache_write_5m_tokens > 0 or cache_write_1h_tokens > 0)
),

-- A price entry's rates are the same for all its requests: add up tokens per entry first, price them after.
usage as (
    select
        event_date,
        feature,
        price_id,
        override_id,
        sum(cache_read_tokens) as cache_read_tokens,
        sum(cache_write_5m_tokens) as cache_write_5m_tokens,
        sum(cache_write_1h_tokens) as cache_write_1h_tokens,
        sum(cache_read_cost_usd) as cache_read_cost_usd,
    from requests
    group by event_date, feature, price_id, override_id
),

rates as (
    -- the effective per-1M rates of the price entry (an override's rate or discount applied)
    select
        usage.*,
        coalesce(overrides.input_per_mtok, prices.input_per_mtok * coalesce(1 - overrides.discount_pct * 0.01, 1)) as input_rate,
        coalesce(overrides.cache_read_per_mtok, prices.cache_read_per_mtok * coalesce(1 - overrides.discount_pct * 0.01, 1))
            as cache_read_rate,
        coalesce(overrides.cache_write_5m_per_mtok, prices.cache_write_5m_per_mtok * coalesce(1 - overrides.discount_pct * 0.01, 1))
            as cache_write_5m_rate,
        coalesce(overrides.cache_write_1h_per_mtok, prices.cache_write_1h_per_mtok * coalesce(1 - overrides.discount_pct * 0.01, 1))
            as cache_write_1h_rate,
    from usage
    inner join reference.prices as prices
        on prices.price_id = usage.price_id
    left join reference.price_overrides as overrides
        on overrides.override_id = usage.override_id
),

savings as (
    select
        event_date,
        feature,
        cast(sum(cache_read_tokens) as bigint) as cached_tokens,
        cast(sum(cache_read_cost_usd) as decimal(38, 15)) as cached_cost_usd,
        cast(sum(token_cost(cache_read_tokens, input_rate)) as decimal(38, 15)) as uncached_cost_usd,
        cast(sum(token_cost(cache_read_tokens, input_rate - coalesce(cache_read_rate, input_rate))) as decimal(38, 15)) as saved_usd,
        cast(sum(
            token_cost(cache_write_5m_tokens, coalesce(cache_write_5m_rate, input_rate) - input_rate)
            + token_cost(cache_write_1h_tokens, coalesce(cache_write_1h_rate, cache_write_5m_rate, input_rate) - input_rate)
        ) as decimal(38, 15)) as write_premium_usd,
    from rates
    group by event_date, feature
)

select
    event_date,
    feature,
    cached_tokens,
    cached_cost_usd,
    uncached_cost_usd,
    saved_usd,
    write_premium_usd,
    cast(saved_usd - write_premium_usd as decimal(38, 15)) as net_saved_usd,
from savings
