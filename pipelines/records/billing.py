"""Provider billing exports in, billing line items out (pure functions, one DuckDB query per format).

Formats, one folder each under `landing/billing/<format>/` (see docs/billing.md):

- `focus`: FOCUS 1.0, 1.1 and 1.2 cost and usage rows (CSV or Parquet, gzip allowed), from any
  provider. `x_` custom columns and Tags are kept in `extra`. ServiceName / ProviderName /
  PublisherName map to our providers (Amazon Bedrock, Vertex AI, Azure OpenAI, OpenAI, Anthropic);
  rows of other services are kept with a null provider and left out of reconciliation.
- `openai_costs`: OpenAI organization Costs API pages (`/v1/organization/costs`), a page per file,
  a JSON array of pages or one page per line. amount.value is dollars (a number or a string);
  `line_item` may name the model and the token kind (`gpt-4o-2024-08-06, input`) or be absent.
- `anthropic_costs`: Anthropic Admin API cost_report pages. amount is a decimal string in CENTS.
- `aws_cur`: AWS CUR 2.0 rows (CSV or Parquet). Bedrock usage types name the region, the model and
  the token kind (`USE1-Claude2.0-input-tokens`); the cost is line_item_unblended_cost.
- `gcp_billing`: Cloud Billing detailed export rows (BigQuery rows as JSON Lines, a JSON array or
  Parquet); `credits` inside a row are kept in `included_credits`.

Every amount is DECIMAL; credits are negative whatever sign the export gave them.
"""

from __future__ import annotations

import json

import pyarrow as pa

from pipelines.adapters.sql import blank_null
from pipelines.records.read import (
    FileError,
    ParseResult,
    RecordFormat,
    RecordSource,
    judge,
    load_json_document,
    read_records,
    records_from_objects,
)

MONEY = pa.decimal128(38, 15)
QUANTITY = pa.decimal128(38, 9)

BILLING_SCHEMA = pa.schema(
    [
        ("source_format", pa.string()),
        ("source_row", pa.int64()),
        ("charge_date", pa.date32()),
        ("charge_period_start", pa.timestamp("us", tz="UTC")),
        ("charge_period_end", pa.timestamp("us", tz="UTC")),
        ("billing_period_start", pa.date32()),
        ("provider", pa.string()),
        ("bill_provider", pa.string()),
        ("service_name", pa.string()),
        ("account", pa.string()),
        ("model", pa.string()),
        ("token_bucket", pa.string()),
        ("service_tier", pa.string()),
        ("quantity", QUANTITY),
        ("unit", pa.string()),
        ("billed_cost", MONEY),
        ("effective_cost", MONEY),
        ("list_cost", MONEY),
        ("included_credits", MONEY),
        ("currency", pa.string()),
        ("charge_category", pa.string()),
        ("is_correction", pa.bool_()),
        ("description", pa.string()),
        ("extra", pa.string()),
    ]
)

CHARGE_CATEGORIES = ("usage", "credit", "tax", "adjustment", "purchase")

_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)$"


def _text(path: str) -> str:
    """SQL: a field of the record as trimmed text, null when absent or blank."""
    return blank_null(f"(record ->> '{path}')")


def _money_problem(label: str, expr: str, *, required: bool) -> str:
    """CASE branches: a missing (when required) or non-numeric amount."""
    branches = f"when {expr} is not null and try_cast({expr} as decimal(38, 15)) is null then '{label}|not a number: ' || left({expr}, 40)"
    if required:
        branches = f"when {expr} is null then '{label}|missing amount'\n            " + branches
    return branches


def _timestamp_problem(label: str, expr: str, *, required: bool = True) -> str:
    branches = (
        f"when {expr} is not null and not regexp_full_match({expr}, '{_TIMESTAMP}') "
        f"then '{label}|not an ISO 8601 timestamp with an offset: ' || left({expr}, 40)\n"
        f"            when {expr} is not null and try_cast({expr} as timestamptz) is null then '{label}|not a valid timestamp: ' || left({expr}, 40)"
    )
    if required:
        branches = f"when {expr} is null then '{label}|missing timestamp'\n            " + branches
    return branches


def _lookup(mapping: dict[str, str], expr: str) -> str:
    """SQL: the value `mapping` gives the text in expr, or null."""
    return f"case {expr} " + " ".join(f"when '{k}' then '{v}'" for k, v in mapping.items()) + " end"


def _bucket(text: str) -> str:
    """SQL: the token bucket a free-text meter name describes, or null."""
    t = f"lower(coalesce({text}, ''))"
    return f"""case
            when {t} similar to '.*cache[ _-]?(read|hit).*' or {t} similar to '.*cached.*' then 'cache_read'
            when {t} similar to '.*cache[ _-]?(write|creation).*1h.*' then 'cache_write_1h'
            when {t} similar to '.*cache[ _-]?(write|creation).*' then 'cache_write_5m'
            when {t} similar to '.*(reasoning|thinking).*' then 'reasoning'
            when {t} similar to '.*web[ _-]?search.*' then 'web_search'
            when {t} similar to '.*input.*' then 'input'
            when {t} similar to '.*output.*' then 'output'
        end"""


def _finish(select: str) -> str:
    """Wrap an adapter's `select` (which yields `problem` and the raw typed fields) into the schema's columns."""
    return f"""
with judged as (
{select}
)
select
    row_number, byte_offset, byte_length, record, problem,
    source_format,
    cast(charge_period_start as date) as charge_date,
    charge_period_start,
    charge_period_end,
    billing_period_start,
    provider,
    bill_provider,
    service_name,
    account,
    model,
    case when charge_category = 'usage' then token_bucket end as token_bucket,
    service_tier,
    try_cast(quantity as decimal(38, 9)) as quantity,
    unit,
    case when charge_category = 'credit' then -abs(billed_cost) else billed_cost end as billed_cost,
    case when charge_category = 'credit' then -abs(effective_cost) else effective_cost end as effective_cost,
    case when charge_category = 'credit' then -abs(list_cost) else list_cost end as list_cost,
    included_credits,
    currency,
    charge_category,
    is_correction,
    description,
    extra,
from judged
"""


# -- focus ----------------------------------------------------------------------------------------

_FOCUS_PROVIDER = """case
            when lower(coalesce(service_name, '')) like '%bedrock%' then 'aws_bedrock'
            when lower(coalesce(service_name, '')) like '%vertex%' or lower(coalesce(service_name, '')) like '%gemini%' then 'google'
            when lower(coalesce(service_name, '')) like '%openai%'
                and lower(coalesce(bill_provider, '')) similar to '.*(microsoft|azure).*' then 'azure_openai'
            when lower(coalesce(bill_provider, '')) = 'openai' then 'openai'
            when lower(coalesce(bill_provider, '')) = 'anthropic' then 'anthropic'
        end"""

_FOCUS = _finish(
    f"""
    with fields as (
        select *,
            {_text('ChargePeriodStart')} as start_text,
            {_text('ChargePeriodEnd')} as end_text,
            {_text('BillingPeriodStart')} as billing_start_text,
            {_text('ChargeCategory')} as category_text,
            {_text('ChargeClass')} as class_text,
            {_text('BilledCost')} as billed_text,
            {_text('EffectiveCost')} as effective_text,
            {_text('ListCost')} as list_text,
            coalesce({_text('BillingCurrency')}, {_text('PricingCurrency')}) as currency_text,
            coalesce({_text('ServiceName')}, '') as service_name,
            coalesce({_text('ProviderName')}, {_text('InvoiceIssuerName')}) as bill_provider,
            {_text('PublisherName')} as publisher,
            coalesce({_text('SubAccountId')}, {_text('BillingAccountId')}) as account,
            coalesce({_text('SkuMeter')}, {_text('ChargeDescription')}) as meter,
            coalesce({_text('ConsumedQuantity')}, {_text('PricingQuantity')}) as quantity,
            coalesce({_text('ConsumedUnit')}, {_text('PricingUnit')}) as unit,
            {_text('ChargeDescription')} as description,
            cast(to_json(map_from_entries(list_transform(
                list_filter(json_keys(record), lambda k: (starts_with(lower(k), 'x_') or k = 'Tags') and nullif(trim(record ->> k), '') is not null),
                lambda k: {{'k': k, 'v': record -> k}}))) as varchar) as custom
        from records_in
    )
    select
        row_number, byte_offset, byte_length, record,
        coalesce(problem, case
            {_timestamp_problem('ChargePeriodStart', 'start_text')}
            {_timestamp_problem('ChargePeriodEnd', 'end_text', required=False)}
            when category_text is null then 'ChargeCategory|missing ChargeCategory'
            when lower(category_text) not in {CHARGE_CATEGORIES} then 'ChargeCategory|not a FOCUS ChargeCategory (Usage, Purchase, Tax, Credit, Adjustment): ' || left(category_text, 40)
            {_money_problem('BilledCost', 'billed_text', required=True)}
            {_money_problem('EffectiveCost', 'effective_text', required=False)}
            {_money_problem('ListCost', 'list_text', required=False)}
            when currency_text is null then 'BillingCurrency|missing currency'
            when not regexp_full_match(upper(currency_text), '[A-Z]{{3}}') then 'BillingCurrency|not an ISO 4217 currency code: ' || left(currency_text, 40)
            when quantity is not null and try_cast(quantity as decimal(38, 9)) is null then 'ConsumedQuantity|not a number: ' || left(quantity, 40)
        end) as problem,
        'focus' as source_format,
        try_cast(start_text as timestamptz) as charge_period_start,
        try_cast(end_text as timestamptz) as charge_period_end,
        cast(try_cast(billing_start_text as timestamptz) as date) as billing_period_start,
        {_FOCUS_PROVIDER} as provider,
        bill_provider,
        service_name,
        account,
        cast(null as varchar) as model,
        {_bucket('meter')} as token_bucket,
        cast(null as varchar) as service_tier,
        quantity,
        unit,
        try_cast(billed_text as decimal(38, 15)) as billed_cost,
        coalesce(try_cast(effective_text as decimal(38, 15)), try_cast(billed_text as decimal(38, 15))) as effective_cost,
        try_cast(list_text as decimal(38, 15)) as list_cost,
        cast(0 as decimal(38, 15)) as included_credits,
        upper(currency_text) as currency,
        lower(category_text) as charge_category,
        coalesce(lower(class_text) = 'correction', false) as is_correction,
        description,
        case when custom = '{{}}' then null else custom end as extra,
    from fields
"""
)


def parse_focus(data: bytes, name: str) -> ParseResult:
    return judge(read_records(data, name), _FOCUS, BILLING_SCHEMA)


# -- openai_costs ---------------------------------------------------------------------------------

_OPENAI_KINDS = {
    "input": "input",
    "input_tokens": "input",
    "uncached input": "input",
    "cached input": "cache_read",
    "cached_input": "cache_read",
    "input_cached": "cache_read",
    "cached_input_tokens": "cache_read",
    "output": "output",
    "output_tokens": "output",
    "audio input": "audio_input",
    "audio output": "audio_output",
}

_OPENAI = _finish(
    f"""
    with fields as (
        select *,
            {_text('$.amount.value')} as amount_text,
            {_text('$.amount.currency')} as currency_text,
            {_text('$.line_item')} as line_item,
            {_text('$.project_id')} as account,
            {_text('$.quantity')} as quantity,
            {_text('$.quantity_unit')} as unit,
            {_text('$.bucket_start_time')} as start_text,
            {_text('$.bucket_end_time')} as end_text,
        from records_in
    ),
    split as (
        select *,
            case when contains(line_item, ',') then trim(split_part(line_item, ',', 1)) end as line_model,
            lower(trim(case when contains(line_item, ',') then substr(line_item, strpos(line_item, ',') + 1) else line_item end)) as kind,
        from fields
    )
    select
        row_number, byte_offset, byte_length, record,
        coalesce(problem, case
            when start_text is null or try_cast(start_text as bigint) is null then 'start_time|missing or not a Unix time: ' || coalesce(left(start_text, 40), 'absent')
            {_money_problem('amount.value', 'amount_text', required=True)}
            when currency_text is null then 'amount.currency|missing currency'
            when quantity is not null and try_cast(quantity as decimal(38, 9)) is null then 'quantity|not a number: ' || left(quantity, 40)
        end) as problem,
        'openai_costs' as source_format,
        to_timestamp(try_cast(start_text as bigint)) as charge_period_start,
        to_timestamp(try_cast(end_text as bigint)) as charge_period_end,
        cast(null as date) as billing_period_start,
        'openai' as provider,
        'OpenAI' as bill_provider,
        'OpenAI API' as service_name,
        account,
        line_model as model,
        {_lookup(_OPENAI_KINDS, "replace(kind, 'batch ', '')")} as token_bucket,
        case when contains(kind, 'batch') then 'batch' end as service_tier,
        quantity,
        unit,
        try_cast(amount_text as decimal(38, 15)) as billed_cost,
        try_cast(amount_text as decimal(38, 15)) as effective_cost,
        cast(null as decimal(38, 15)) as list_cost,
        cast(0 as decimal(38, 15)) as included_credits,
        upper(currency_text) as currency,
        case when try_cast(amount_text as decimal(38, 15)) < 0 then 'credit' else 'usage' end as charge_category,
        false as is_correction,
        line_item as description,
        cast(null as varchar) as extra,
    from split
"""
)


def _pages(data: bytes, name: str) -> list[dict]:
    """The pages of a paged API export: one page per file, a JSON array of pages, or one page per line."""
    lower = name.lower().removesuffix(".gz")
    if lower.endswith(".jsonl"):
        raw = read_records(data, name)
        bad = [r for r in raw.to_pylist() if r["problem"]]
        if bad:
            raise FileError(f"line {bad[0]['row_number']}: {bad[0]['problem'].lstrip('|')}")
        return [json.loads(r["record"], parse_float=str) for r in raw.to_pylist()]
    document = load_json_document(data, name)
    pages = document if isinstance(document, list) else [document]
    for index, page in enumerate(pages, start=1):
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise FileError(f"page {index} is not a cost report page (an object with a 'data' list of time buckets)")
    return pages


def _bucket_results(pages: list[dict], start_key: str, end_key: str) -> pa.Table:
    """One record per result of every time bucket, with the bucket's start and end copied in."""
    results = []
    for page in pages:
        for bucket in page["data"]:
            if not isinstance(bucket, dict):
                results.append(bucket)
                continue
            for result in bucket.get("results") or []:
                if isinstance(result, dict):
                    result = {**result, "bucket_start_time": bucket.get(start_key), "bucket_end_time": bucket.get(end_key)}
                results.append(result)
    return records_from_objects(results)


def parse_openai_costs(data: bytes, name: str) -> ParseResult:
    return judge(_bucket_results(_pages(data, name), "start_time", "end_time"), _OPENAI, BILLING_SCHEMA)


# -- anthropic_costs ------------------------------------------------------------------------------

_ANTHROPIC_TOKEN_TYPES = {
    "uncached_input_tokens": "input",
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
    "cache_creation_input_tokens": "cache_write_5m",
}

_ANTHROPIC = _finish(
    f"""
    with fields as (
        select *,
            {_text('$.amount')} as cents_text,
            {_text('$.currency')} as currency_text,
            {_text('$.bucket_start_time')} as start_text,
            {_text('$.bucket_end_time')} as end_text,
            {_text('$.workspace_id')} as account,
            {_text('$.model')} as model,
            {_text('$.token_type')} as token_type,
            {_text('$.cost_type')} as cost_type,
            {_text('$.service_tier')} as tier,
            {_text('$.context_window')} as context_window,
            {_text('$.description')} as description,
        from records_in
    )
    select
        row_number, byte_offset, byte_length, record,
        coalesce(problem, case
            {_timestamp_problem('starting_at', 'start_text')}
            {_money_problem('amount', 'cents_text', required=True)}
            when currency_text is null then 'currency|missing currency'
        end) as problem,
        'anthropic_costs' as source_format,
        try_cast(start_text as timestamptz) as charge_period_start,
        try_cast(end_text as timestamptz) as charge_period_end,
        cast(null as date) as billing_period_start,
        'anthropic' as provider,
        'Anthropic' as bill_provider,
        'Claude API' as service_name,
        account,
        model,
        case
            when lower(cost_type) = 'web_search' then 'web_search'
            when lower(cost_type) in ('code_execution', 'session_usage') then lower(cost_type)
            else {_lookup(_ANTHROPIC_TOKEN_TYPES, 'lower(token_type)')}
        end as token_bucket,
        case lower(tier) when 'standard' then 'default' else lower(tier) end as service_tier,
        cast(null as varchar) as quantity,
        case when token_type is not null then 'tokens' end as unit,
        cast(try_cast(cents_text as decimal(38, 15)) / 100 as decimal(38, 15)) as billed_cost,
        cast(try_cast(cents_text as decimal(38, 15)) / 100 as decimal(38, 15)) as effective_cost,
        cast(null as decimal(38, 15)) as list_cost,
        cast(0 as decimal(38, 15)) as included_credits,
        upper(currency_text) as currency,
        case when try_cast(cents_text as decimal(38, 15)) < 0 then 'credit' else 'usage' end as charge_category,
        false as is_correction,
        description,
        case when context_window is not null then cast(json_object('context_window', context_window) as varchar) end as extra,
    from fields
"""
)


def parse_anthropic_costs(data: bytes, name: str) -> ParseResult:
    return judge(_bucket_results(_pages(data, name), "starting_at", "ending_at"), _ANTHROPIC, BILLING_SCHEMA)


# -- aws_cur --------------------------------------------------------------------------------------

# CUR 2.0 line item types -> charge category.
_CUR_TYPES = {
    "usage": "usage",
    "discountedusage": "usage",
    "savingsplancoveredusage": "usage",
    "credit": "credit",
    "refund": "adjustment",
    "tax": "tax",
    "fee": "purchase",
    "rifee": "purchase",
    "savingsplanrecurringfee": "purchase",
    "savingsplanupfrontfee": "purchase",
    "savingsplannegation": "adjustment",
    "bundleddiscount": "credit",
    "discount": "credit",
    "edpdiscount": "credit",
    "privaterateddiscount": "credit",
}
_CUR_USAGE_TYPE = r"^(?:[A-Z]{2,4}[0-9]?-)?(.+?)-(input-tokens|output-tokens|cache-read-input-token-count|cache-write-input-token-count|cache-read-input-tokens|cache-write-input-tokens)(?:-(batch|flex|priority))?$"
_CUR_KINDS = {
    "input-tokens": "input",
    "output-tokens": "output",
    "cache-read-input-token-count": "cache_read",
    "cache-read-input-tokens": "cache_read",
    "cache-write-input-token-count": "cache_write_5m",
    "cache-write-input-tokens": "cache_write_5m",
}

_CUR = _finish(
    f"""
    with fields as (
        select *,
            {_text('line_item_usage_start_date')} as start_text,
            {_text('line_item_usage_end_date')} as end_text,
            {_text('bill_billing_period_start_date')} as billing_start_text,
            {_text('line_item_line_item_type')} as type_text,
            coalesce({_text('line_item_product_code')}, {_text('product_servicecode')}) as product,
            {_text('line_item_usage_account_id')} as account,
            {_text('line_item_usage_type')} as usage_type,
            {_text('line_item_usage_amount')} as quantity,
            {_text('pricing_unit')} as unit_text,
            {_text('line_item_unblended_cost')} as cost_text,
            {_text('line_item_net_unblended_cost')} as net_text,
            {_text('pricing_public_on_demand_cost')} as list_text,
            {_text('line_item_currency_code')} as currency_text,
            {_text('line_item_line_item_description')} as description,
            {_text('resource_tags')} as tags,
        from records_in
    ),
    parsed as (
        select *,
            regexp_extract(usage_type, '{_CUR_USAGE_TYPE}', 1) as usage_model,
            regexp_extract(usage_type, '{_CUR_USAGE_TYPE}', 2) as usage_kind,
            regexp_extract(usage_type, '{_CUR_USAGE_TYPE}', 3) as usage_tier,
        from fields
    )
    select
        row_number, byte_offset, byte_length, record,
        coalesce(problem, case
            {_timestamp_problem('line_item_usage_start_date', 'start_text')}
            {_timestamp_problem('line_item_usage_end_date', 'end_text', required=False)}
            when type_text is null then 'line_item_line_item_type|missing line item type'
            when lower(type_text) not in {tuple(_CUR_TYPES)} then 'line_item_line_item_type|not a CUR line item type: ' || left(type_text, 40)
            {_money_problem('line_item_unblended_cost', 'cost_text', required=True)}
            {_money_problem('line_item_net_unblended_cost', 'net_text', required=False)}
            {_money_problem('pricing_public_on_demand_cost', 'list_text', required=False)}
            when currency_text is null then 'line_item_currency_code|missing currency'
            when quantity is not null and try_cast(quantity as decimal(38, 9)) is null then 'line_item_usage_amount|not a number: ' || left(quantity, 40)
        end) as problem,
        'aws_cur' as source_format,
        try_cast(start_text as timestamptz) as charge_period_start,
        try_cast(end_text as timestamptz) as charge_period_end,
        cast(try_cast(billing_start_text as timestamptz) as date) as billing_period_start,
        case when lower(product) = 'amazonbedrock' then 'aws_bedrock' end as provider,
        'AWS' as bill_provider,
        product as service_name,
        account,
        case when usage_model <> '' and not contains(usage_model, '<') then usage_model end as model,
        case when usage_kind <> '' then {_lookup(_CUR_KINDS, 'usage_kind')} end as token_bucket,
        nullif(usage_tier, '') as service_tier,
        quantity,
        case when usage_kind <> '' then 'tokens' when unit_text is not null and not contains(unit_text, '<') then unit_text end as unit,
        try_cast(cost_text as decimal(38, 15)) as billed_cost,
        coalesce(try_cast(net_text as decimal(38, 15)), try_cast(cost_text as decimal(38, 15))) as effective_cost,
        try_cast(list_text as decimal(38, 15)) as list_cost,
        cast(0 as decimal(38, 15)) as included_credits,
        upper(currency_text) as currency,
        {_lookup(_CUR_TYPES, 'lower(type_text)')} as charge_category,
        false as is_correction,
        coalesce(description, usage_type) as description,
        case when tags is not null then cast(json_object('resource_tags', tags) as varchar) end as extra,
    from parsed
"""
)


def parse_aws_cur(data: bytes, name: str) -> ParseResult:
    return judge(read_records(data, name), _CUR, BILLING_SCHEMA)


# -- gcp_billing ----------------------------------------------------------------------------------

_GCP = _finish(
    f"""
    with fields as (
        select *,
            {_text('$.usage_start_time')} as start_text,
            {_text('$.usage_end_time')} as end_text,
            {_text('$.invoice.month')} as invoice_month,
            {_text('$.service.description')} as service_name,
            {_text('$.sku.description')} as sku,
            {_text('$.project.id')} as account,
            {_text('$.cost')} as cost_text,
            {_text('$.currency')} as currency_text,
            {_text('$.usage.amount')} as quantity,
            {_text('$.usage.unit')} as unit,
            lower(coalesce({_text('$.cost_type')}, 'regular')) as cost_type,
            case when json_type(record -> '$.credits') = 'ARRAY' then
                list_transform(cast(record -> '$.credits' as json[]), lambda c: c ->> 'amount') end as credit_texts,
        from records_in
    )
    select
        row_number, byte_offset, byte_length, record,
        coalesce(problem, case
            {_timestamp_problem('usage_start_time', 'start_text')}
            {_money_problem('cost', 'cost_text', required=True)}
            when currency_text is null then 'currency|missing currency'
            when len(list_filter(coalesce(credit_texts, []), lambda t: try_cast(t as decimal(38, 15)) is null)) > 0
                then 'credits|a credit amount is not a number'
            when quantity is not null and try_cast(quantity as decimal(38, 9)) is null then 'usage.amount|not a number: ' || left(quantity, 40)
        end) as problem,
        'gcp_billing' as source_format,
        try_cast(start_text as timestamptz) as charge_period_start,
        try_cast(end_text as timestamptz) as charge_period_end,
        try_cast(left(invoice_month, 4) || '-' || substr(invoice_month, 5, 2) || '-01' as date) as billing_period_start,
        case when lower(coalesce(service_name, '')) similar to '.*(vertex|gemini).*' then 'google' end as provider,
        'Google Cloud' as bill_provider,
        service_name,
        account,
        cast(null as varchar) as model,
        {_bucket('sku')} as token_bucket,
        cast(null as varchar) as service_tier,
        quantity,
        case when unit is not null and not contains(unit, '<') then unit end as unit,
        try_cast(cost_text as decimal(38, 15)) as billed_cost,
        try_cast(cost_text as decimal(38, 15)) as effective_cost,
        cast(null as decimal(38, 15)) as list_cost,
        cast(-abs(coalesce(list_sum(list_transform(coalesce(credit_texts, []), lambda t: try_cast(t as decimal(38, 15)))), 0)) as decimal(38, 15)) as included_credits,
        upper(currency_text) as currency,
        case cost_type when 'tax' then 'tax' when 'adjustment' then 'adjustment' when 'rounding_error' then 'adjustment' else 'usage' end as charge_category,
        false as is_correction,
        sku as description,
        cast(null as varchar) as extra,
    from fields
"""
)


def parse_gcp_billing(data: bytes, name: str) -> ParseResult:
    return judge(read_records(data, name), _GCP, BILLING_SCHEMA)


_TABLES = (".csv", ".csv.gz", ".parquet")
_PAGES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")

BILLING = RecordSource(
    table="billing_line_items",
    landing="billing",
    formats={
        "focus": RecordFormat(parse_focus, _TABLES),
        "openai_costs": RecordFormat(parse_openai_costs, _PAGES),
        "anthropic_costs": RecordFormat(parse_anthropic_costs, _PAGES),
        "aws_cur": RecordFormat(parse_aws_cur, _TABLES),
        "gcp_billing": RecordFormat(parse_gcp_billing, (*_PAGES, ".parquet")),
    },
    schema=BILLING_SCHEMA,
    dates="charge_date",
    by_format_folder=True,
    withdraw_removed=True,
)
