-- One row per statement line: payer x period ('YYYY-MM') x feature x provider x model x service tier, with its requests,
-- tokens by bucket, outcomes, cost (USD and the payer's currency), the rule applied and the charge.
-- line_type: 'usage' (charged), 'unpriced' (unpriced requests listed apart with `unpriced: separate`; never charged),
-- and, for a closed month, what changed since the close (late usage, a repricing, a new rate) as the difference
-- between the month recomputed now (marts.chargeback_usage) and its frozen copy (finance.chargeback_usage), on the
-- statement id '<statement_id>-ADJ': 'credit' (the charge went down), 'debit' (up), 'adjustment' (usage or cost
-- changed but the charge did not, or cannot be computed now: then its charge, and its cost, units and gross_charge in
-- the payer's currency, are null (unknown, never a reversal to 0) and `problem` says why; a
-- change in unpriced requests has no cost, units or charge, as an unpriced line). A closed month's own lines come from the
-- frozen copy and never change. status: 'final' for a closed month's lines, 'draft' for an open month and for
-- adjustments. charge is rounded to the currency's minor unit (cents; none for JPY, three places for KWD)
-- cumulatively in line order, so a statement's lines add up to its rounded total exactly (an -ADJ statement's from the
-- closed statement's exact total on, so they add up to the change of its rounded total); gross_charge (before the
-- allowance) stays exact to 10^-15. A line with a problem (marts.chargeback_usage.problem) has no charge.
-- minor_units, from_minor_units: money macros (pipelines/storage/money.py).
with closed as (
    select month, closed_at
    from finance.closed_periods
),

rows as (
    -- the statement of a closed month: its frozen rows
    select 'statement' as version, * exclude (month, closed_at)
    from finance.chargeback_usage
    union all by name
    -- the statement of an open month: the rows as they are now
    select 'statement' as version, *
    from marts.chargeback_usage
    where period not in (select month from closed)
    union all by name
    -- a closed month recomputed now, to compare with its statement
    select 'current' as version, *
    from marts.chargeback_usage
    where period in (select month from closed)
),

lines as (
    select
        version,
        statement_id,
        payer,
        period,
        feature,
        provider,
        model,
        service_tier,
        priced,
        any_value(model_tier) as model_tier,
        any_value(rule) as rule,
        any_value(currency) as currency,
        any_value(currency_places) as currency_places,
        any_value(allowance_unit) as allowance_unit,
        any_value(allowance) as allowance,
        cast(sum(requests) as bigint) as requests,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(cache_read_tokens) as bigint) as cache_read_tokens,
        cast(sum(cache_write_5m_tokens) as bigint) as cache_write_5m_tokens,
        cast(sum(cache_write_1h_tokens) as bigint) as cache_write_1h_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(reasoning_tokens) as bigint) as reasoning_tokens,
        cast(sum(audio_input_tokens) as bigint) as audio_input_tokens,
        cast(sum(audio_output_tokens) as bigint) as audio_output_tokens,
        cast(sum(image_input_tokens) as bigint) as image_input_tokens,
        cast(sum(image_output_tokens) as bigint) as image_output_tokens,
        cast(sum(tokens) as bigint) as tokens,
        cast(sum(outcomes) as bigint) as outcomes,
        cast(sum(cost_usd) as decimal(38, 15)) as cost_usd,
        case when count(*) filter (where priced and cost is null) = 0 then cast(sum(cost) as decimal(38, 15)) end as cost,
        cast(sum(units) as decimal(38, 15)) as units,
        cast(sum(included_units) as decimal(38, 15)) as included_units,
        case when count(*) filter (where priced and gross_charge is null) = 0 then cast(sum(gross_charge) as decimal(38, 15)) end
            as gross_charge,
        case when count(*) filter (where priced and charge is null) = 0 then cast(sum(charge) as decimal(38, 15)) end as exact_charge,
        string_agg(distinct problem, '; ' order by problem) as problem,
    from rows
    group by version, statement_id, payer, period, feature, provider, model, service_tier, priced
),

rounded as (
    select
        *,
        -- the running total in minor units, rounded half away from zero; a line's charge is the step it adds
        minor_units(sum(exact_charge) over statement_order, currency_places) as through_minor,
    from lines
    window statement_order as (
        partition by version, statement_id
        order by priced desc, feature nulls first, provider, model, service_tier
        rows between unbounded preceding and current row
    )
),

charged as (
    select
        * exclude (through_minor),
        case when priced and exact_charge is not null
            then from_minor_units(through_minor - coalesce(lag(through_minor) over statement_order, 0), currency_places)
        end as charge,
    from rounded
    window statement_order as (partition by version, statement_id order by priced desc, feature nulls first, provider, model, service_tier)
),

statement_lines as (
    select
        statement_id,
        payer,
        period,
        case when priced then 'usage' else 'unpriced' end as line_type,
        case when period in (select month from closed) then 'final' else 'draft' end as status,
        * exclude (version, statement_id, payer, period, exact_charge),
    from charged
    where version = 'statement'
),

current_lines as (
    select *
    from charged
    where version = 'current'
),

stated_totals as (
    -- a closed month's statement total before rounding: where its adjustments' running total starts
    select statement_id, sum(exact_charge) as exact_total
    from charged
    where version = 'statement' and priced and period in (select month from closed)
    group by statement_id
),

changes as (
    select
        coalesce(stated.statement_id, now_.statement_id) as stated_id,
        coalesce(stated.statement_id, now_.statement_id) || '-ADJ' as statement_id,
        coalesce(stated.payer, now_.payer) as payer,
        coalesce(stated.period, now_.period) as period,
        'draft' as status,
        coalesce(stated.feature, now_.feature) as feature,
        coalesce(stated.provider, now_.provider) as provider,
        coalesce(stated.model, now_.model) as model,
        coalesce(stated.service_tier, now_.service_tier) as service_tier,
        coalesce(stated.priced, now_.priced) as priced,
        coalesce(now_.model_tier, stated.model_tier) as model_tier,
        coalesce(now_.rule, stated.rule) as rule,
        coalesce(stated.currency, now_.currency) as currency,
        coalesce(stated.currency_places, now_.currency_places) as currency_places,
        coalesce(now_.allowance_unit, stated.allowance_unit) as allowance_unit,
        coalesce(now_.allowance, stated.allowance) as allowance,
        coalesce(now_.requests, 0) - coalesce(stated.requests, 0) as requests,
        coalesce(now_.input_tokens, 0) - coalesce(stated.input_tokens, 0) as input_tokens,
        coalesce(now_.cache_read_tokens, 0) - coalesce(stated.cache_read_tokens, 0) as cache_read_tokens,
        coalesce(now_.cache_write_5m_tokens, 0) - coalesce(stated.cache_write_5m_tokens, 0) as cache_write_5m_tokens,
        coalesce(now_.cache_write_1h_tokens, 0) - coalesce(stated.cache_write_1h_tokens, 0) as cache_write_1h_tokens,
        coalesce(now_.output_tokens, 0) - coalesce(stated.output_tokens, 0) as output_tokens,
        coalesce(now_.reasoning_tokens, 0) - coalesce(stated.reasoning_tokens, 0) as reasoning_tokens,
        coalesce(now_.audio_input_tokens, 0) - coalesce(stated.audio_input_tokens, 0) as audio_input_tokens,
        coalesce(now_.audio_output_tokens, 0) - coalesce(stated.audio_output_tokens, 0) as audio_output_tokens,
        coalesce(now_.image_input_tokens, 0) - coalesce(stated.image_input_tokens, 0) as image_input_tokens,
        coalesce(now_.image_output_tokens, 0) - coalesce(stated.image_output_tokens, 0) as image_output_tokens,
        coalesce(now_.tokens, 0) - coalesce(stated.tokens, 0) as tokens,
        coalesce(now_.outcomes, 0) - coalesce(stated.outcomes, 0) as outcomes,
        cast(case when coalesce(stated.priced, now_.priced) then coalesce(now_.cost_usd, 0) - coalesce(stated.cost_usd, 0) end
            as decimal(38, 15)) as cost_usd,
        cast(case when coalesce(stated.priced, now_.priced) and not coalesce(now_.unknown_now, false) then coalesce(now_.cost, 0) - coalesce(stated.cost, 0) end
            as decimal(38, 15)) as cost,
        cast(case when coalesce(stated.priced, now_.priced) and not coalesce(now_.unknown_now, false) then coalesce(now_.units, 0) - coalesce(stated.units, 0) end
            as decimal(38, 15)) as units,
        cast(case when coalesce(stated.priced, now_.priced) and not coalesce(now_.unknown_now, false) then coalesce(now_.included_units, 0) - coalesce(stated.included_units, 0) end
            as decimal(38, 15)) as included_units,
        cast(case when coalesce(stated.priced, now_.priced) and not coalesce(now_.unknown_now, false) then coalesce(now_.gross_charge, 0) - coalesce(stated.gross_charge, 0) end
            as decimal(38, 15)) as gross_charge,
        -- the change of the line's exact charge (null when it cannot be charged now)
        cast(case when coalesce(stated.priced, now_.priced) and not coalesce(now_.priced and now_.charge is null, false)
            then coalesce(now_.exact_charge, 0) - coalesce(stated.exact_charge, 0) end
            as decimal(38, 15)) as exact_change,
        now_.problem,
    from (select * from charged where version = 'statement' and period in (select month from closed)) as stated
    full outer join (select *, priced and problem is not null as unknown_now from current_lines) as now_
        on now_.statement_id = stated.statement_id
        and now_.feature is not distinct from stated.feature
        and now_.provider = stated.provider
        and now_.model = stated.model
        and now_.service_tier = stated.service_tier
        and now_.priced = stated.priced
    where coalesce(now_.requests, 0) <> coalesce(stated.requests, 0)
        or coalesce(now_.tokens, 0) <> coalesce(stated.tokens, 0)
        or coalesce(now_.outcomes, 0) <> coalesce(stated.outcomes, 0)
        or coalesce(now_.cost_usd, 0) <> coalesce(stated.cost_usd, 0)
        or coalesce(now_.cost, 0) <> coalesce(stated.cost, 0)  -- a corrected rate moves the cost in the payer's currency alone
        or coalesce(now_.gross_charge, 0) <> coalesce(stated.gross_charge, 0)
        or coalesce(now_.units, 0) <> coalesce(stated.units, 0)
        or coalesce(now_.exact_charge, 0) <> coalesce(stated.exact_charge, 0)
        or (now_.problem is not null and stated.problem is null)
),

adjustments as (
    -- a line's charge is the step it adds to the statement's running total, rounded, from the stated total on: the
    -- -ADJ statement's lines add up to the recomputed statement's rounded charge minus the stated one's, and a line
    -- whose exact charge did not change has no charge (the rounded steps of the recomputed statement, taken per line,
    -- moved cents onto lines that did not change when an earlier line did)
    select
        * exclude (stated_id, exact_change, exact_total, through_minor),
        case
            when charge is null and priced then 'adjustment'
            when charge < 0 then 'credit'
            when charge > 0 then 'debit'
            else 'adjustment'
        end as line_type,
    from (
        select
            *,
            case when exact_change is not null then
                from_minor_units(through_minor - coalesce(lag(through_minor) over adjustment_order,
                    minor_units(coalesce(exact_total, 0), currency_places)), currency_places)
            end as charge,
        from (
            select
                changes.*,
                stated_totals.exact_total,
                minor_units(coalesce(stated_totals.exact_total, 0) + sum(coalesce(exact_change, 0)) over adjustment_order, currency_places)
                    as through_minor,
            from changes
            left join stated_totals on stated_totals.statement_id = changes.stated_id
            window adjustment_order as (
                partition by changes.statement_id
                order by priced desc, feature nulls first, provider, model, service_tier
                rows between unbounded preceding and current row
            )
        )
        window adjustment_order as (partition by statement_id order by priced desc, feature nulls first, provider, model, service_tier)
    )
)

select
    statement_id,
    payer,
    period,
    line_type,
    status,
    feature,
    provider,
    model,
    service_tier,
    model_tier,
    rule,
    currency,
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
    cost,
    allowance_unit,
    allowance,
    units,
    included_units,
    gross_charge,
    charge,
    currency_places,
    problem,
from (
    select * from statement_lines
    union all by name
    select * from adjustments
)
