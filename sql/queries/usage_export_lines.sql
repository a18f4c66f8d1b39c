-- One row per chargeback statement line of $month (YYYY-MM): `tokenledger export usage --format csv`. Every line of
-- marts.chargeback_lines (usage, unpriced, and for a closed month the credit, debit and adjustment lines of '<statement_id>-ADJ'),
-- each payer's statement then its adjustments, lines in statement order. Amounts are text, never a float: charge with
-- exactly the currency's minor-unit decimals (0.06 USD, 2 JPY), the exact amounts (cost_usd, cost, allowance, units,
-- included_units, gross_charge, to 10^-15) without trailing zeros. A null is an empty cell.
with lines as (
    select *
    from marts.chargeback_lines
    where period = $month
),

written as (
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
        regexp_replace(cast(cost_usd as varchar), '\.?0+$', '') as cost_usd,
        regexp_replace(cast(cost as varchar), '\.?0+$', '') as cost,
        allowance_unit,
        regexp_replace(cast(allowance as varchar), '\.?0+$', '') as allowance,
        regexp_replace(cast(units as varchar), '\.?0+$', '') as units,
        regexp_replace(cast(included_units as varchar), '\.?0+$', '') as included_units,
        regexp_replace(cast(gross_charge as varchar), '\.?0+$', '') as gross_charge,
        -- DECIMAL(38, 15) text less the decimals below the minor unit (and the point, for a currency without one)
        rtrim(left(cast(charge as varchar), length(cast(charge as varchar)) - (15 - currency_places)), '.') as charge,
        problem,
        -- the order: the statement's own line order (marts.chargeback_lines), ties broken by the amounts
        charge as charge_amount,
        cost_usd as cost_usd_amount,
    from lines
)

select * exclude (charge_amount, cost_usd_amount)
from written
order by
    payer,
    statement_id,
    line_type = 'unpriced',
    feature nulls first,
    provider,
    model,
    service_tier,
    line_type,
    requests,
    tokens,
    cost_usd_amount nulls first,
    charge_amount nulls first
