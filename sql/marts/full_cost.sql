-- One row per event_date x feature x user_segment: the full cost of inference. inference_usd is API spend,
-- self_hosted_usd the GPU cost allocated to the feature's self-hosted requests, idle_capacity_usd its share of
-- the idle GPU cost of the clusters it used that day (by tokens served there), and one <category>_usd column per
-- overhead category from core.overhead; overhead_usd is their sum and total_usd = inference + self-hosted + idle +
-- overhead. Overhead is spread over its period's days pro rata and, each day, over the feature x segment rows of
-- its base (cost, tokens or requests of the usage it is restricted to; a `feature:<name>` charge over that
-- feature's segments by requests), both with cumulative rounding to the cent, so every record's cents are
-- allocated exactly. Idle cost is spread the same way in 10^-15 USD. What has no base on a day stays visible:
-- idle cost of a cluster nobody used is feature 'idle_capacity', overhead of a day without base usage is
-- feature 'unallocated_overhead' (both user_segment 'unattributed'). Unpriced requests add nothing to cost.
-- money_units, money_from_units and cumulative_share are exact macros (pipelines/storage/money.py).
with usage as (
    select
        event_date,
        feature,
        coalesce(user_segment, 'unattributed') as user_segment,
        provider,
        count(*) as requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        cast(sum(total_input_tokens + total_output_tokens) as hugeint) as tokens,
        money_units(coalesce(sum(cost_usd), 0)) as cost_units,
        coalesce(sum(cost_usd) filter (where not starts_with(provider, 'self_hosted:')), 0) as inference_usd,
        coalesce(sum(cost_usd) filter (where starts_with(provider, 'self_hosted:')), 0) as self_hosted_usd,
    from core.request_costs
    group by all
),

idle_days as (
    select provider, event_date, money_units(idle_cost_usd) as idle_units
    from marts.self_hosted_costs
    where idle_cost_usd is not null and idle_cost_usd <> 0
),

idle_levels as (
    select
        usage.event_date,
        usage.feature,
        usage.user_segment,
        idle_days.idle_units,
        usage.tokens,
        sum(usage.tokens) over (
            partition by usage.provider, usage.event_date order by usage.feature, usage.user_segment
            rows between unbounded preceding and current row
        ) as tokens_through,
        sum(usage.tokens) over (partition by usage.provider, usage.event_date) as tokens_served,
    from idle_days
    inner join usage
        on usage.provider = idle_days.provider
        and usage.event_date = idle_days.event_date
    where usage.tokens > 0
),

idle_shares as (
    select
        event_date,
        feature,
        user_segment,
        cumulative_share(idle_units, tokens_through, tokens, tokens_served) as idle_units,
    from idle_levels
    union all
    select
        idle_days.event_date,
        'idle_capacity' as feature,
        'unattributed' as user_segment,
        idle_days.idle_units,
    from idle_days
    anti join (select * from usage where tokens > 0) as used
        on used.provider = idle_days.provider
        and used.event_date = idle_days.event_date
),

-- Each converted overhead record's cents over its days: day i of n gets round(c x (i + 1) / n) - round(c x i / n).
overhead_days as (
    select
        overhead_id,
        category,
        allocate_by,
        provider,
        cluster,
        period_start + cast(day_index as integer) as event_date,
        cumulative_share(cast(amount_cents as hugeint), day_index + 1, 1, period_days) as day_cents,
    from (
        select *, unnest(range(period_days)) as day_index
        from core.overhead
        where amount_cents is not null and amount_cents <> 0
    )
),

overhead_groups as (
    select
        overhead_days.overhead_id,
        overhead_days.category,
        overhead_days.event_date,
        overhead_days.day_cents,
        usage.feature,
        usage.user_segment,
        sum(case
            when overhead_days.allocate_by = 'cost' then usage.cost_units
            when overhead_days.allocate_by = 'tokens' then usage.tokens
            else usage.requests
        end) as weight,
    from overhead_days
    inner join usage
        on usage.event_date = overhead_days.event_date
        and (overhead_days.provider is null or usage.provider = overhead_days.provider)
        and (overhead_days.cluster is null or usage.provider = 'self_hosted:' || overhead_days.cluster)
        and (not starts_with(overhead_days.allocate_by, 'feature:') or usage.feature = substr(overhead_days.allocate_by, 9))
    group by all
    having weight > 0
),

overhead_shares as (
    select
        event_date,
        feature,
        user_segment,
        category,
        cumulative_share(
            day_cents,
            sum(weight) over (
                partition by overhead_id, event_date order by feature, user_segment rows between unbounded preceding and current row
            ),
            weight,
            sum(weight) over (partition by overhead_id, event_date)
        ) as cents,
    from overhead_groups
    union all
    select
        overhead_days.event_date,
        'unallocated_overhead' as feature,
        'unattributed' as user_segment,
        overhead_days.category,
        overhead_days.day_cents as cents,
    from overhead_days
    anti join overhead_groups
        on overhead_groups.overhead_id = overhead_days.overhead_id
        and overhead_groups.event_date = overhead_days.event_date
    where overhead_days.day_cents <> 0
),

combined as (
    select event_date, feature, user_segment, requests, unpriced_requests, inference_usd, self_hosted_usd from usage
    union all by name
    select event_date, feature, user_segment, idle_units from idle_shares
    union all by name
    select event_date, feature, user_segment, category, cents from overhead_shares
),

totals as (
    select
        event_date,
        feature,
        user_segment,
        cast(coalesce(sum(requests), 0) as bigint) as requests,
        cast(coalesce(sum(unpriced_requests), 0) as bigint) as unpriced_requests,
        cast(coalesce(sum(inference_usd), 0) as decimal(38, 15)) as inference_usd,
        cast(coalesce(sum(self_hosted_usd), 0) as decimal(38, 15)) as self_hosted_usd,
        money_from_units(coalesce(sum(idle_units), 0)) as idle_capacity_usd,
        money_from_units(coalesce(sum(cents) filter (where category = 'egress'), 0) * 10000000000000) as egress_usd,
        money_from_units(coalesce(sum(cents) filter (where category = 'storage'), 0) * 10000000000000) as storage_usd,
        money_from_units(coalesce(sum(cents) filter (where category = 'observability'), 0) * 10000000000000) as observability_usd,
        money_from_units(coalesce(sum(cents) filter (where category = 'load_balancing'), 0) * 10000000000000) as load_balancing_usd,
        money_from_units(coalesce(sum(cents) filter (where category = 'engineering'), 0) * 10000000000000) as engineering_usd,
        money_from_units(coalesce(sum(cents) filter (where category = 'other'), 0) * 10000000000000) as other_usd,
        money_from_units(coalesce(sum(cents), 0) * 10000000000000) as overhead_usd,
    from combined
    group by event_date, feature, user_segment
)

select
    *,
    cast(inference_usd + self_hosted_usd + idle_capacity_usd + overhead_usd as decimal(38, 15)) as total_usd,
from totals
