-- One row per closed-month daily_spend row that changed after the close: what changed, by how much, why.
-- A cost is null where every request of the row is unpriced (as in marts.daily_spend), never $0; a row absent on one
-- side costs 0 there. delta_usd is the priced change (null when neither side has a priced request); the unpriced
-- requests of each side are their own columns.
with closed as (
    select *
    from finance.daily_spend
),

current as (
    select spend.*, periods.month, periods.closed_at as period_closed_at
    from marts.daily_spend as spend
    inner join finance.closed_periods as periods
        on strftime(spend.event_date, '%Y-%m') = periods.month
),

compared as (
    select
        coalesce(closed.month, current.month) as month,
        coalesce(closed.event_date, current.event_date) as event_date,
        coalesce(closed.feature, current.feature) as feature,
        coalesce(closed.user_segment, current.user_segment) as user_segment,
        coalesce(closed.provider, current.provider) as provider,
        coalesce(closed.model, current.model) as model,
        coalesce(closed.service_tier, current.service_tier) as service_tier,
        coalesce(closed.requests, 0) as closed_requests,
        coalesce(current.requests, 0) as current_requests,
        case when closed.event_date is null then 0 else closed.cost_usd end as closed_cost_usd,
        case when current.event_date is null then 0 else current.cost_usd end as current_cost_usd,
        coalesce(closed.unpriced_requests, 0) as closed_unpriced_requests,
        coalesce(current.unpriced_requests, 0) as current_unpriced_requests,
        coalesce(closed.closed_at, current.period_closed_at) as closed_at,
        -- every token of the row, to tell a corrected usage record (same requests, other tokens) from a re-price
        coalesce(closed.input_tokens, 0) + coalesce(closed.cache_read_tokens, 0) + coalesce(closed.cache_write_5m_tokens, 0) + coalesce(closed.cache_write_1h_tokens, 0)
            + coalesce(closed.output_tokens, 0) + coalesce(closed.reasoning_tokens, 0) + coalesce(closed.audio_input_tokens, 0) + coalesce(closed.audio_output_tokens, 0)
            + coalesce(closed.image_input_tokens, 0) + coalesce(closed.image_output_tokens, 0)
            as closed_tokens,
        coalesce(current.input_tokens, 0) + coalesce(current.cache_read_tokens, 0) + coalesce(current.cache_write_5m_tokens, 0) + coalesce(current.cache_write_1h_tokens, 0)
            + coalesce(current.output_tokens, 0) + coalesce(current.reasoning_tokens, 0) + coalesce(current.audio_input_tokens, 0) + coalesce(current.audio_output_tokens, 0)
            + coalesce(current.image_input_tokens, 0) + coalesce(current.image_output_tokens, 0)
            as current_tokens,
    from closed
    full outer join current
        on closed.event_date = current.event_date
        and closed.feature = current.feature
        and closed.user_segment = current.user_segment
        and closed.provider = current.provider
        and closed.model = current.model
        and closed.service_tier = current.service_tier
)

select
    month,
    event_date,
    feature,
    user_segment,
    provider,
    model,
    service_tier,
    closed_requests,
    current_requests,
    closed_cost_usd,
    current_cost_usd,
    -- the priced change; null when neither side has a priced request (an unknown cost is not a $0 change)
    case when closed_requests > closed_unpriced_requests or current_requests > current_unpriced_requests
        then cast(coalesce(current_cost_usd, 0) - coalesce(closed_cost_usd, 0) as decimal(38, 15))
    end as delta_usd,
    case
        when closed_requests <> current_requests or closed_tokens <> current_tokens then 'late or corrected usage'
        when closed_unpriced_requests <> current_unpriced_requests then 'price coverage changed'
        else 'repriced'
    end as reason,
    closed_at,
    closed_unpriced_requests,
    current_unpriced_requests,
from compared
where closed_requests <> current_requests
    or closed_tokens <> current_tokens
    or closed_cost_usd is distinct from current_cost_usd
    or closed_unpriced_requests <> current_unpriced_requests
