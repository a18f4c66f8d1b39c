-- One row per payer x day x feature x provider x model x service tier x priced (or not): the usage <home>/chargeback.yaml
-- charges to each payer, its cost, and its charge in the payer's currency, before and after the monthly allowance.
-- chargeback_payers / chargeback_tier_prices: the payers and their rules (pipelines/insights/chargeback.py); a request
-- belongs to the first payer, in the file's order, whose match holds (customer_id, user_segment, feature, tags);
-- one no payer matches is not charged back. A payer with `each` is split: payer '<payer>:<value>' per value of that
-- field, each its own statement and allowance. An outcome counts on the line of its first request
-- (marts.outcome_costs.first_request_id) on the outcome's own day. tier_rules: model tiers, as in marts.model_tier_spend
-- (the table macro tiered_models, sql/marts/_tiered_models.sql).
-- cost is cost_usd in the payer's currency at the latest landing/fx rate on or before the day (usd_rate = units per
-- 1 USD). gross_charge by the payer's rule: cost_plus cost x (1 + markup_pct / 100); per_mtok tokens x the tier's
-- price per 1M (else the payer's `default`); per_outcome outcomes x the price. Unpriced requests are never charged:
-- their rows have no charge, and with `unpriced: block` a problem that blocks the statement.
-- The allowance is used day by day in date order: a day's units (tokens, requests, outcomes, or the gross charge for
-- an `amount` allowance, counted in whole 10^-9 of the currency) are included while the allowance lasts; on the day
-- it runs out, the day's remaining allowance is shared over its rows by their units with cumulative rounding (whole
-- units that add up exactly), and a row pays for the units left: charge = gross_charge x (units - included) / units
-- (exact to 10^-15), or, for an amount, gross_charge - included. So a statement's allowance_used never exceeds the
-- allowance, and for an amount gross_charge = allowance_used + the charge before rounding.
-- problem: why the row cannot be charged (null when it can). money_muldiv, money_units, cumulative_share and
-- token_cost are money macros (pipelines/storage/money.py). Money is DECIMAL(38, 15).
with payers as (
    select *
    from chargeback_payers
),

flags as (
    select
        count(*) > 0 as any_payer,
        -- the tag names payers match on: a request's values of those tags (not its whole tags) decide its payer
        coalesce(list_sort(list_distinct(flatten(list(list_transform(tags, lambda tag: tag.key)) filter (where tags is not null)))), [])
            as tag_keys,
    from payers
),

-- the requests summed first, by what decides their payer and their line: far fewer rows than requests (`tags` here
-- is the list of the request's values of the tags payers match on, in flags.tag_keys order; null when none does)
grouped as (
    select
        requests.event_date,
        requests.customer_id,
        requests.user_segment,
        requests.feature,
        case when len(flags.tag_keys) > 0 then list_transform(
            flags.tag_keys, lambda name: json_extract_string(requests.tags, '$."' || name || '"')
        ) end as tags,
        requests.provider,
        requests.model,
        requests.service_tier,
        requests.is_priced,
        count(*) as requests,
        sum(requests.input_tokens) as input_tokens,
        sum(requests.cache_read_tokens) as cache_read_tokens,
        sum(requests.cache_write_5m_tokens) as cache_write_5m_tokens,
        sum(requests.cache_write_1h_tokens) as cache_write_1h_tokens,
        sum(requests.output_tokens) as output_tokens,
        sum(requests.reasoning_tokens) as reasoning_tokens,
        sum(requests.audio_input_tokens) as audio_input_tokens,
        sum(requests.audio_output_tokens) as audio_output_tokens,
        sum(requests.image_input_tokens) as image_input_tokens,
        sum(requests.image_output_tokens) as image_output_tokens,
        sum(requests.total_input_tokens + requests.total_output_tokens) as tokens,
        sum(requests.cost_usd) as cost_usd,
        0 as outcomes,
    from core.request_costs as requests
    cross join flags
    where flags.any_payer
    group by all
),

-- an outcome counts on the line of its first request, on the outcome's own day
first_requests as (
    select
        outcome_costs.event_date,
        requests.customer_id,
        requests.user_segment,
        requests.feature,
        case when len(flags.tag_keys) > 0 then list_transform(
            flags.tag_keys, lambda name: json_extract_string(requests.tags, '$."' || name || '"')
        ) end as tags,
        requests.provider,
        requests.model,
        requests.service_tier,
        requests.is_priced,
        outcome_costs.outcome_type,
    from marts.outcome_costs
    inner join core.request_costs as requests
        on requests.source = outcome_costs.first_request_source
        and requests.request_id = outcome_costs.first_request_id
    cross join flags
    where flags.any_payer
),

request_keys as (
    select distinct customer_id, user_segment, feature, tags
    from grouped
),

payer_of_key as (
    select
        request_keys.*,
        case payers.each
            when 'customer_id' then request_keys.customer_id
            when 'user_segment' then request_keys.user_segment
            when 'feature' then request_keys.feature
        end as each_value,
        -- the statement's payer: the configured payer, or for a payer split by `each`, '<payer>:<value>', and
        -- '<payer>:(none)' for requests without a value; a value starting with '(' or '\' gets a '\' before it, so a
        -- customer named '(none)' is '<payer>:\(none)', never the requests without a customer
        case
            when payers.each is null then payers.payer
            when each_value is null then payers.payer || ':(none)'
            when left(each_value, 1) in ('(', '\') then payers.payer || ':\' || each_value
            else payers.payer || ':' || each_value
        end as payer,
        payers.payer as base,
        payers.outcome_type as payer_outcome_type,
    from request_keys
    cross join flags
    inner join payers
        on (payers.customer_ids is null or list_contains(payers.customer_ids, request_keys.customer_id))
        and (payers.user_segments is null or list_contains(payers.user_segments, request_keys.user_segment))
        and (payers.features is null or list_contains(payers.features, request_keys.feature))
        and (payers.tags is null or list_bool_and(list_transform(
            payers.tags, lambda tag: coalesce(list_contains(tag.values, request_keys.tags[list_position(flags.tag_keys, tag.key)]), false)
        )))
    qualify row_number() over (
        partition by request_keys.customer_id, request_keys.user_segment, request_keys.feature, request_keys.tags
        order by payers.payer_order
    ) = 1
),

usage as (
    select payer_of_key.payer, payer_of_key.base, grouped.* exclude (customer_id, user_segment, tags)
    from grouped
    inner join payer_of_key
        on payer_of_key.customer_id is not distinct from grouped.customer_id
        and payer_of_key.user_segment is not distinct from grouped.user_segment
        and payer_of_key.feature is not distinct from grouped.feature
        and payer_of_key.tags is not distinct from grouped.tags
    union all by name
    select
        payer_of_key.payer,
        payer_of_key.base,
        first_requests.event_date,
        first_requests.feature,
        first_requests.provider,
        first_requests.model,
        first_requests.service_tier,
        first_requests.is_priced,
        count(*) as outcomes,
    from first_requests
    inner join payer_of_key
        on payer_of_key.customer_id is not distinct from first_requests.customer_id
        and payer_of_key.user_segment is not distinct from first_requests.user_segment
        and payer_of_key.feature is not distinct from first_requests.feature
        and payer_of_key.tags is not distinct from first_requests.tags
    where payer_of_key.payer_outcome_type is null or payer_of_key.payer_outcome_type = first_requests.outcome_type
    group by all
),

lines as (
    select
        payer,
        base,
        event_date,
        feature,
        provider,
        model,
        service_tier,
        is_priced as priced,
        cast(coalesce(sum(requests), 0) as bigint) as requests,
        cast(coalesce(sum(input_tokens), 0) as bigint) as input_tokens,
        cast(coalesce(sum(cache_read_tokens), 0) as bigint) as cache_read_tokens,
        cast(coalesce(sum(cache_write_5m_tokens), 0) as bigint) as cache_write_5m_tokens,
        cast(coalesce(sum(cache_write_1h_tokens), 0) as bigint) as cache_write_1h_tokens,
        cast(coalesce(sum(output_tokens), 0) as bigint) as output_tokens,
        cast(coalesce(sum(reasoning_tokens), 0) as bigint) as reasoning_tokens,
        cast(coalesce(sum(audio_input_tokens), 0) as bigint) as audio_input_tokens,
        cast(coalesce(sum(audio_output_tokens), 0) as bigint) as audio_output_tokens,
        cast(coalesce(sum(image_input_tokens), 0) as bigint) as image_input_tokens,
        cast(coalesce(sum(image_output_tokens), 0) as bigint) as image_output_tokens,
        cast(coalesce(sum(tokens), 0) as bigint) as tokens,
        cast(coalesce(sum(outcomes), 0) as bigint) as outcomes,
        case when is_priced then cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) end as cost_usd,
    from usage
    group by payer, base, event_date, feature, provider, model, service_tier, is_priced
),

models as (
    select distinct provider, model
    from lines
),

tiered as (
    select
        provider,
        model,
        model_tier,
    from tiered_models('models')
),

rates as (
    select rate_date, currency, usd_rate
    from reference.fx_rates
),

converted as (
    select
        lines.*,
        tiered.model_tier,
        payers.currency,
        payers.currency_places,
        payers.rule,
        payers.markup_pct,
        payers.per_outcome,
        payers.allowance_unit,
        payers.allowance,
        payers.unpriced_mode,
        coalesce(tier_price.per_mtok, default_price.per_mtok) as per_mtok,
        case when payers.currency = 'USD' then cast(1 as decimal(38, 12)) else rates.usd_rate end as usd_rate,
    from lines
    inner join payers
        on payers.payer = lines.base
    inner join tiered
        on tiered.provider = lines.provider
        and tiered.model = lines.model
    left join chargeback_tier_prices as tier_price
        on tier_price.payer = lines.base
        and tier_price.model_tier = tiered.model_tier
    left join chargeback_tier_prices as default_price
        on default_price.payer = lines.base
        and default_price.model_tier = 'default'
    asof left join rates
        on rates.currency = payers.currency
        and lines.event_date >= rates.rate_date
),

rated as (
    select
        *,
        money_muldiv(cost_usd, cast(usd_rate * 1000000000000 as hugeint), 1000000000000) as cost,
        case when priced then
            case rule
                when 'cost_plus' then money_muldiv(
                    money_muldiv(cost_usd, cast(usd_rate * 1000000000000 as hugeint), 1000000000000),
                    cast((100 + markup_pct) * 1000000000 as hugeint),
                    100000000000
                )
                when 'per_mtok' then cast(token_cost(tokens, per_mtok) as decimal(38, 15))
                when 'per_outcome' then cast(cast(outcomes as decimal(38, 0)) * per_outcome as decimal(38, 15))
            end
        end as gross_charge,
        case
            when not priced and unpriced_mode = 'block' then 'unpriced requests'
            when usd_rate is null then 'no_fx_rate:' || currency
            when priced and rule = 'per_mtok' and per_mtok is null and tokens > 0 then 'no per_mtok price for tier ' || model_tier
        end as problem,
    from converted
),

unitized as (
    select
        *,
        case when priced then
            case allowance_unit
                when 'tokens' then cast(tokens as hugeint)
                when 'requests' then cast(requests as hugeint)
                when 'outcomes' then cast(outcomes as hugeint)
                when 'amount' then money_units(gross_charge) // 1000000
            end
        end as units,
        case when allowance_unit = 'amount' then money_units(allowance) // 1000000 else cast(allowance as hugeint) end as allowance_units,
    from rated
),

days as (
    select
        payer,
        event_date,
        strftime(event_date, '%Y-%m') as period,
        any_value(allowance_units) as allowance_units,
        sum(units) as day_units,
    from unitized
    where priced
    group by all
),

allowed as (
    select
        payer,
        event_date,
        day_units,
        case
            when allowance_units is null or day_units is null then cast(0 as hugeint)
            else greatest(0, least(day_units, allowance_units - coalesce(sum(day_units) over (
                partition by payer, period order by event_date rows between unbounded preceding and 1 preceding
            ), 0)))
        end as day_included,
    from days
),

-- the day's included units over its rows, by cumulative rounding in row order: whole tokens, requests or outcomes
-- (10^-9 of the currency for an amount) that add up to the day's included units exactly
shared as (
    select
        unitized.*,
        allowed.day_units,
        allowed.day_included,
        case
            when not unitized.priced or unitized.allowance_unit is null or allowed.day_included is null then null
            when allowed.day_included = 0 or unitized.units is null then cast(0 as hugeint)
            when allowed.day_included = allowed.day_units then unitized.units
            else cumulative_share(
                allowed.day_included,
                sum(unitized.units) over (
                    partition by unitized.payer, unitized.event_date, unitized.priced
                    order by unitized.feature nulls first, unitized.provider, unitized.model, unitized.service_tier
                    rows between unbounded preceding and current row
                ),
                unitized.units,
                allowed.day_units
            )
        end as included,
    from unitized
    left join allowed
        on allowed.payer = unitized.payer
        and allowed.event_date = unitized.event_date
        and unitized.priced
)

select
    payer,
    strftime(event_date, '%Y-%m') as period,
    'CB-' || strftime(event_date, '%Y-%m') || '-' || payer as statement_id,
    event_date,
    feature,
    provider,
    model,
    service_tier,
    model_tier,
    priced,
    rule,
    currency,
    currency_places,
    requests,
    input_tokens,
    cache_read_tokens,
    cache_write_5m_tokens,
    cache_write_1h_tokens,
    output_tokens,
    reasoning_tokens,
    audio_input_tokens,
    audio_output_tokens,
    image_input_tokens,
    image_output_tokens,
    tokens,
    outcomes,
    cost_usd,
    usd_rate,
    cost,
    allowance_unit,
    allowance,
    cast(case when allowance_unit = 'amount' then money_from_units(units * 1000000) else units end as decimal(38, 15)) as units,
    cast(case when allowance_unit = 'amount' then money_from_units(included * 1000000) else included end as decimal(38, 15))
        as included_units,
    gross_charge,
    case
        when included is null or included = 0 then gross_charge
        when allowance_unit = 'amount' then cast(gross_charge - money_from_units(included * 1000000) as decimal(38, 15))
        else money_muldiv(gross_charge, units - included, units)
    end as charge,
    problem,
from shared
