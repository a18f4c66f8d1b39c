-- One row per charge_date x provider x model: the estimate from request logs beside the provider's bill.
-- Each model the bill's usage lines name (one the price book knows) is reconciled on its own row. Usage lines that
-- name no model (or one the book does not know) are one row with a null model per provider-day, against the
-- estimate of every model of that day the bill does not name: one unnamed line does not fold the named ones in.
-- Credits, tax, adjustments and purchases are reported beside usage and never count as usage variance. A sum holding a
-- line in a currency without a rate is null (unknown), and such a row's status is no_fx_rate.
with bill as (
    select *
    from core.billing_line_items
    where provider is not null
),

bill_days as (
    select
        charge_date,
        provider,
        coalesce(bool_or(reconcile_model is null) filter (where charge_category = 'usage'), false) as has_unnamed,
    from bill
    group by all
),

bill_models as (
    select distinct charge_date, provider, reconcile_model
    from bill
    where charge_category = 'usage' and reconcile_model is not null
),

estimate_rows as (
    select
        spend.event_date as charge_date,
        spend.provider,
        coalesce(aliases.model, spend.model) as reconcile_model,
        spend.cost_usd,
        spend.requests,
        spend.unpriced_requests,
    from marts.daily_spend as spend
    left join reference.model_aliases as aliases
        on aliases.provider = spend.provider
        and aliases.name = spend.model
    where not starts_with(spend.provider, 'self_hosted')
),

estimated as (
    select
        estimate_rows.charge_date,
        estimate_rows.provider,
        case
            when not coalesce(bill_days.has_unnamed, false) or bill_models.reconcile_model is not null then estimate_rows.reconcile_model
        end as model,
        -- null when every request behind it is unpriced (as marts.daily_spend.cost_usd): unknown, never $0
        cast(sum(estimate_rows.cost_usd) as decimal(38, 15)) as estimated_cost_usd,
        sum(estimate_rows.requests) as requests,
        sum(estimate_rows.unpriced_requests) as unpriced_requests,
    from estimate_rows
    left join bill_days using (charge_date, provider)
    left join bill_models using (charge_date, provider, reconcile_model)
    group by all
),

billed as (
    select
        bill.charge_date,
        bill.provider,
        bill.reconcile_model as model,
        count(*) filter (where bill.charge_category = 'usage') as usage_lines,
        -- a sum with a line in a currency without a rate is unknown (null), never that line counted as $0
        case when not coalesce(bool_or(bill.billed_cost_usd is null) filter (where bill.charge_category = 'usage'), false)
            then cast(coalesce(sum(bill.billed_cost_usd) filter (where bill.charge_category = 'usage'), 0) as decimal(38, 15)) end as billed_cost_usd,
        case when not coalesce(bool_or(bill.billed_cost_usd is null) filter (where bill.charge_category = 'credit'), false)
            then cast(coalesce(sum(bill.billed_cost_usd) filter (where bill.charge_category = 'credit'), 0)
                + coalesce(sum(bill.included_credits_usd), 0) as decimal(38, 15)) end as credits_usd,
        case when not coalesce(bool_or(bill.billed_cost_usd is null) filter (where bill.charge_category = 'tax'), false)
            then cast(coalesce(sum(bill.billed_cost_usd) filter (where bill.charge_category = 'tax'), 0) as decimal(38, 15)) end as tax_usd,
        case when not coalesce(bool_or(bill.billed_cost_usd is null) filter (where bill.charge_category = 'adjustment'), false)
            then cast(coalesce(sum(bill.billed_cost_usd) filter (where bill.charge_category = 'adjustment'), 0) as decimal(38, 15)) end as adjustments_usd,
        case when not coalesce(bool_or(bill.billed_cost_usd is null) filter (where bill.charge_category = 'purchase'), false)
            then cast(coalesce(sum(bill.billed_cost_usd) filter (where bill.charge_category = 'purchase'), 0) as decimal(38, 15)) end as purchases_usd,
        cast(coalesce(sum(bill.billed_cost_usd) filter (where bill.is_correction), 0) as decimal(38, 15)) as corrections_usd,
        count(*) filter (where bill.fx_rate is null) as unconverted_lines,
    from bill
    group by all
),

joined as (
    select
        coalesce(estimated.charge_date, billed.charge_date) as charge_date,
        coalesce(estimated.provider, billed.provider) as provider,
        coalesce(estimated.model, billed.model) as model,
        estimated.charge_date is not null as has_estimate,
        coalesce(billed.usage_lines, 0) > 0 as has_bill,
        case when estimated.charge_date is null then 0 else estimated.estimated_cost_usd end as estimated_cost_usd,
        case when billed.charge_date is null then 0 else billed.billed_cost_usd end as billed_cost_usd,
        coalesce(estimated.requests, 0) as requests,
        coalesce(estimated.unpriced_requests, 0) as unpriced_requests,
        case when billed.charge_date is null then 0 else billed.credits_usd end as credits_usd,
        case when billed.charge_date is null then 0 else billed.tax_usd end as tax_usd,
        case when billed.charge_date is null then 0 else billed.adjustments_usd end as adjustments_usd,
        case when billed.charge_date is null then 0 else billed.purchases_usd end as purchases_usd,
        coalesce(billed.corrections_usd, 0) as corrections_usd,
        coalesce(billed.unconverted_lines, 0) as unconverted_lines,
    from estimated
    full outer join billed
        on billed.charge_date = estimated.charge_date
        and billed.provider = estimated.provider
        and billed.model is not distinct from estimated.model
),

measured as (
    select
        *,
        cast(billed_cost_usd - estimated_cost_usd as decimal(38, 15)) as variance_usd,
        -- pct / 100 x |estimate| exactly (a DECIMAL divided in DuckDB is a DOUBLE): the percent to 6 places over 10^8
        greatest(
            money_muldiv(abs(estimated_cost_usd), cast(round(cast($tolerance_pct as decimal(38, 15)), 6) * 1000000 as hugeint), 100000000),
            cast($tolerance_usd as decimal(38, 15))
        ) as tolerance_usd,
    from joined
)

select
    charge_date,
    provider,
    model,
    estimated_cost_usd,
    billed_cost_usd,
    variance_usd,
    case when estimated_cost_usd <> 0 then cast(round(exact_ratio(variance_usd * 100, estimated_cost_usd), 4) as decimal(18, 4)) end as variance_pct,
    case
        -- the bill's usage has a line in a currency without a rate: its USD amount is unknown (land a rate in landing/fx)
        when has_bill and billed_cost_usd is null then 'no_fx_rate'
        when has_bill and not has_estimate then 'billed_only'
        when has_estimate and not has_bill and (estimated_cost_usd is null or estimated_cost_usd <> 0 or unpriced_requests > 0) then 'estimated_only'
        -- a bill beside only unpriced requests: the bill's usage has no priced estimate to match
        when estimated_cost_usd is null then 'billed_only'
        when abs(variance_usd) <= tolerance_usd then 'matched'
        when variance_usd > 0 then 'over_billed'
        else 'under_billed'
    end as status,
    tolerance_usd,
    requests,
    unpriced_requests,
    credits_usd,
    tax_usd,
    adjustments_usd,
    purchases_usd,
    corrections_usd,
    unconverted_lines,
from measured
