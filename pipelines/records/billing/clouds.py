"""The cloud platforms' bill formats, `aws_cur` and `gcp_billing`, declared as `formats` declares the others: the
fields each reads, the rows it rejects and its own columns; `judging.billing_query` makes the judging query.
"""

from __future__ import annotations

from pipelines.records.billing.judging import (
    BILLING_SCHEMA,
    billing_query,
    credits_problem,
    currency_problem,
    in_utc,
    lookup,
    money_problem,
    quantity_problem,
    text,
    text_in,
    timestamp_problem,
    token_bucket,
)
from pipelines.records.read import ParseResult, judge, read_records

# -- aws_cur ----------------------------------------------------------------------------------------
# The `aws_cur` bill format: AWS CUR 2.0 rows (CSV or Parquet) in, billing line items out.
#
# The line item type gives the charge category. Bedrock usage types name the region, the model, the token kind
# and a tier (`USE1-Claude2.0-input-tokens`); the billed cost is line_item_unblended_cost, the effective cost
# the net unblended cost when present, the list cost the public on-demand cost.


# CUR 2.0 line item types -> charge category.
_CUR_TYPES = {
    "usage": "usage", "discountedusage": "usage", "savingsplancoveredusage": "usage",
    "credit": "credit", "bundleddiscount": "credit", "discount": "credit", "edpdiscount": "credit", "privateratediscount": "credit",
    "privaterateddiscount": "credit", "rivolumediscount": "credit", "sppdiscount": "credit", "distributordiscount": "credit",
    "refund": "adjustment", "savingsplannegation": "adjustment",
    "tax": "tax",
    "fee": "purchase", "rifee": "purchase", "savingsplanrecurringfee": "purchase", "savingsplanupfrontfee": "purchase",
}
_CUR_USAGE_TYPE = (
    r"^(?:[A-Z]{2,4}[0-9]?-)?(.+?)-(input-tokens|output-tokens|cache-read-input-token-count|cache-write-input-token-count"
    r"|cache-read-input-tokens|cache-write-input-tokens|cache-read|cache-write|input|output)"
    r"((?:-(?:1-hour|1h|5-min|5m|batch|flex|priority|cross-region-global|cross-region|global|latency-optimized))*)$"
)
"""Bedrock usage types: `<region>-<model>-<kind>[-<modifier>...]`: `USE1-Claude2.0-input-tokens`,
`USE1-anthropic.claude-sonnet-4-5-20250929-v1:0-cache-write-input-token-count-1-hour`,
`USE1-moonshotai.kimi-k2.5-input` (no `-tokens`), `...-output-tokens-cross-region-global`, `...-batch`."""
_CUR_KINDS = {
    "input-tokens": "input", "input": "input", "output-tokens": "output", "output": "output",
    "cache-read-input-token-count": "cache_read", "cache-read-input-tokens": "cache_read", "cache-read": "cache_read",
    "cache-write-input-token-count": "cache_write_5m", "cache-write-input-tokens": "cache_write_5m",
    "cache-write": "cache_write_5m",
}
_CUR_MARKETPLACE = "(Amazon Bedrock Edition)"
"""Anthropic's models on Bedrock are billed through AWS Marketplace as their own product, named
`Claude Sonnet 4.6 (Amazon Bedrock Edition)`, with usage types such as `USE1-MP:USE1_InputTokenCount-Units`."""

CUR_QUERY = billing_query(
    "aws_cur",
    fields=(
        f"{in_utc(text('line_item_usage_start_date'))} as start_text",
        f"{in_utc(text('line_item_usage_end_date'))} as end_text",
        f"{in_utc(text('bill_billing_period_start_date'))} as billing_start_text",
        f"{text('line_item_line_item_type')} as type_text",
        f"coalesce({text('line_item_product_code')}, {text('product_servicecode')}) as product",
        f"{text('line_item_usage_account_id')} as account",
        f"{text('line_item_usage_type')} as usage_type",
        f"{text('line_item_usage_amount')} as quantity",
        f"{text('pricing_unit')} as unit_text",
        f"{text('line_item_unblended_cost')} as cost_text",
        f"{text('line_item_net_unblended_cost')} as net_text",
        f"{text('pricing_public_on_demand_cost')} as list_text",
        f"{text('line_item_currency_code')} as currency_text",
        f"{text('line_item_line_item_description')} as description",
        f"{text('resource_tags')} as tags",
        f"coalesce({text('product_product_name')}, {text('product/ProductName')}, {text_in('product', 'product_name')}) as product_name",
    ),
    derived=(
        f"coalesce(contains(product_name, '{_CUR_MARKETPLACE}'), false) as marketplace",
        f"regexp_extract(usage_type, '{_CUR_USAGE_TYPE}', 1) as usage_model",
        f"regexp_extract(usage_type, '{_CUR_USAGE_TYPE}', 2) as usage_kind",
        f"regexp_extract(usage_type, '{_CUR_USAGE_TYPE}', 3) as usage_modifiers",
        # a Marketplace usage type after its region: `InputTokenCount_Global_Batch`, `output_tokens_batch`,
        # `cache_write_tokens_1h_long_ctx_global_standard`, `MillionBatchInputTokens`, `Reserved_3Month_OutputTPM_Global`
        "case when marketplace then lower(regexp_replace(usage_type, '^.*:(?:[A-Z]{2,4}[0-9]?_)?|-Units$', '', 'g')) end as mp_usage",
        "case when contains(usage_modifiers, '-batch') or contains(mp_usage, 'batch') then 'batch'"
        " when contains(usage_modifiers, '-flex') or contains(mp_usage, 'flex') then 'flex'"
        " when contains(usage_modifiers, '-priority') or contains(mp_usage, 'priority') then 'priority' end as usage_tier",
        "contains(usage_modifiers, '-1-hour') or contains(usage_modifiers, '-1h') as usage_one_hour",
    ),
    problems=(
        timestamp_problem("line_item_usage_start_date", "start_text"),
        timestamp_problem("line_item_usage_end_date", "end_text", required=False),
        "when type_text is null then 'line_item_line_item_type|missing line item type'",
        f"when lower(type_text) not in {tuple(_CUR_TYPES)} "
        "then 'line_item_line_item_type|not a CUR line item type: ' || left(type_text, 40)",
        money_problem("line_item_unblended_cost", "cost_text", required=True),
        money_problem("line_item_net_unblended_cost", "net_text", required=False),
        money_problem("pricing_public_on_demand_cost", "list_text", required=False),
        currency_problem("line_item_currency_code"),
        quantity_problem("line_item_usage_amount"),
    ),
    columns={
        "billing_period_start": "cast(try_cast(billing_start_text as timestamptz) as date)",
        "provider": "case when lower(product) = 'amazonbedrock' or marketplace then 'aws_bedrock' end",
        "bill_provider": "case when marketplace then 'AWS Marketplace' else 'AWS' end",
        "service_name": "case when marketplace then product_name else product end",
        "model": f"""case
            when marketplace then trim(replace(product_name, '{_CUR_MARKETPLACE}', ''))
            when usage_model <> '' and not contains(usage_model, '<') then usage_model
        end""",
        "token_bucket": f"""case
            when marketplace and regexp_matches(mp_usage, 'token|web[ _-]?search')
                and not regexp_matches(mp_usage, 'reserved|provisioned|tpm|perminute') then {token_bucket('mp_usage')}
            when marketplace then null  -- image counts, reserved throughput (`OutputTPM`), model units: not tokens
            when usage_kind <> '' and usage_one_hour and starts_with(usage_kind, 'cache-write') then 'cache_write_1h'
            when usage_kind <> '' then {lookup(_CUR_KINDS, 'usage_kind')}
        end""",
        "service_tier": "usage_tier",
        "unit": "case when usage_kind <> '' or contains(mp_usage, 'tokencount') then 'tokens' "
        "when unit_text is not null and not contains(unit_text, '<') then unit_text end",
        "billed_cost": "try_cast(cost_text as decimal(38, 15))",
        "effective_cost": "coalesce(try_cast(net_text as decimal(38, 15)), try_cast(cost_text as decimal(38, 15)))",
        "list_cost": "try_cast(list_text as decimal(38, 15))",
        "charge_category": lookup(_CUR_TYPES, "lower(type_text)"),
        "description": "coalesce(description, usage_type)",
        "extra": "case when tags is not null then cast(json_object('resource_tags', tags) as varchar) end",
    },
)


def parse_aws_cur(data: bytes, name: str) -> ParseResult:
    return judge(read_records(data, name), CUR_QUERY, BILLING_SCHEMA)


# -- gcp_billing ------------------------------------------------------------------------------------
# The `gcp_billing` bill format: Cloud Billing detailed export rows (BigQuery rows as JSON or Parquet) in, line items out.
#
# `service.description` Vertex AI or Gemini → google; `cost` is the billed cost; the `credits` inside a row are
# summed into `included_credits` (negative; a positive credit reverses one); `cost_type` tax and adjustment rows are not usage; `invoice.month`
# (YYYYMM) gives the billing period.

_GCP_COST = "try_cast(cost_text as decimal(38, 15))"

GCP_QUERY = billing_query(
    "gcp_billing",
    fields=(
        f"{in_utc(text('$.usage_start_time'))} as start_text",
        f"{in_utc(text('$.usage_end_time'))} as end_text",
        f"{text('$.invoice.month')} as invoice_month",
        f"{text('$.service.description')} as service_name",
        f"{text('$.sku.description')} as sku",
        f"{text('$.project.id')} as account",
        f"{text('$.cost')} as cost_text",
        f"{text('$.currency')} as currency_text",
        f"{text('$.usage.amount')} as quantity",
        f"{text('$.usage.unit')} as unit",
        f"lower(coalesce({text('$.cost_type')}, 'regular')) as cost_type",
        """case when json_type(record -> '$.credits') = 'ARRAY' then
                list_transform(cast(record -> '$.credits' as json[]), lambda c: c ->> 'amount') end as credit_texts""",
    ),
    problems=(
        timestamp_problem("usage_start_time", "start_text"),
        money_problem("cost", "cost_text", required=True),
        currency_problem("currency"),
        "when json_type(record -> '$.credits') not in ('ARRAY', 'NULL') then 'credits|not a list of credits'",
        credits_problem("credits", "credit_texts"),
        quantity_problem("usage.amount"),
    ),
    columns={
        "billing_period_start": "try_cast(left(invoice_month, 4) || '-' || substr(invoice_month, 5, 2) || '-01' as date)",
        "provider": "case when lower(coalesce(service_name, '')) similar to '.*(vertex|gemini).*' then 'google' end",
        "bill_provider": "'Google Cloud'",
        "service_name": "service_name",
        "token_bucket": token_bucket("sku"),
        "unit": "case when unit is not null and not contains(unit, '<') then unit end",
        "billed_cost": _GCP_COST,
        "effective_cost": _GCP_COST,
        "included_credits": "cast(coalesce(list_sum(list_transform(coalesce(credit_texts, []), "
        "lambda t: try_cast(t as decimal(38, 15)))), 0) as decimal(38, 15))",
        "charge_category": "case lower(cost_type) when 'tax' then 'tax' when 'adjustment' then 'adjustment' "
        "when 'rounding_error' then 'adjustment' when 'rounding error' then 'adjustment' else 'usage' end",
        "description": "sku",
    },
)


def parse_gcp_billing(data: bytes, name: str) -> ParseResult:
    return judge(read_records(data, name), GCP_QUERY, BILLING_SCHEMA)
