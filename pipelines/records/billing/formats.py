"""Three of the five bill formats (`focus` and the API exports; the cloud platforms' are in `clouds`), each declared
as the fields it reads, the rows it rejects and its own columns.

`judging.billing_query` turns a declaration into the judging query over `records_in`; the API exports
(`openai_costs`, `anthropic_costs`) first turn their pages into one record per result or row (`pages`).
"""

from __future__ import annotations

import pyarrow as pa

from pipelines.adapters.providers import provider_sql
from pipelines.records.billing.judging import (
    BILLING_SCHEMA,
    CHARGE_CATEGORIES,
    billing_query,
    currency_problem,
    in_utc,
    lookup,
    money_problem,
    quantity_problem,
    text,
    timestamp_problem,
    token_bucket,
    unix_time,
    unix_time_problem,
)
from pipelines.records.billing.pages import bucket_results, report_records
from pipelines.records.read import ParseResult, judge, read_records

# -- focus ------------------------------------------------------------------------------------------
# The `focus` bill format: FOCUS 1.0, 1.1 and 1.2 cost and usage rows (CSV or Parquet) in, billing line items out.
# Rows come from any provider. The cloud platforms' AI services are told by ServiceName (Amazon Bedrock, Vertex AI or
# Gemini, an OpenAI or Foundry Models service billed by Microsoft/Azure); a model maker's own bill by its ProviderName
# (else InvoiceIssuerName) through the one table of provider names, for the makers only: a platform's name (AWS, Azure,
# Google) never makes its other services AI rows, which keep a null provider and are left out of reconciliation.
# `x_` custom columns and Tags are kept in `extra`. ChargeClass `Correction` marks a fix to an earlier period.

MODEL_MAKERS = ("openai", "anthropic", "mistral", "deepseek", "xai")
"""Our providers that bill their own models: the ones a FOCUS row's provider name alone may name."""

_OPENAI_METER = r"(gpt|dall-?e|whisper|tts|text-embedding|embedding-ada|davinci|babbage|codex|sora|computer-use|(^|[^a-z0-9])o[1-9])"
"""An Azure meter of an OpenAI model (`gpt-4o-0806-Inp-glbl Tokens`, `GPT 5 Inpt Glbl`, `o3 mini inp glbl`): under
Microsoft's `Azure AI Services` the service also sells other makers' models (Llama, DeepSeek, Phi) and its own."""

_FOCUS_PROVIDER = f"""case
            when lower(coalesce(service_name, '')) like '%bedrock%' then 'aws_bedrock'
            when lower(coalesce(service_name, '')) like '%vertex%'
                or lower(coalesce(service_name, '')) like '%gemini%' then 'google'
            when (lower(coalesce(service_name, '')) like '%openai%' or lower(coalesce(service_name, '')) like '%foundry models%')
                and lower(coalesce(bill_provider, '')) similar to '.*(microsoft|azure).*' then 'azure_openai'
            when lower(coalesce(service_name, '')) in ('azure ai services', 'azure ai foundry')
                and lower(coalesce(bill_provider, '')) similar to '.*(microsoft|azure).*'
                and lower(coalesce(publisher, 'microsoft')) similar to '.*(microsoft|azure|openai).*'
                and regexp_matches(lower(coalesce(meter, '')), '{_OPENAI_METER}')
                then 'azure_openai'
            when named_provider in {MODEL_MAKERS} then named_provider
        end"""

FOCUS_QUERY = billing_query(
    "focus",
    fields=(
        f"{in_utc(text('ChargePeriodStart'))} as start_text",  # '... UTC' (Google Cloud's FOCUS in BigQuery) or none
        f"{in_utc(text('ChargePeriodEnd'))} as end_text",
        f"{in_utc(text('BillingPeriodStart'))} as billing_start_text",
        f"{text('ChargeCategory')} as category_text",
        f"{text('ChargeClass')} as class_text",
        f"{text('BilledCost')} as billed_text",
        f"{text('EffectiveCost')} as effective_text",
        f"{text('ListCost')} as list_text",
        f"coalesce({text('BillingCurrency')}, {text('PricingCurrency')}) as currency_text",
        f"coalesce({text('ServiceName')}, '') as service_name",
        f"coalesce({text('ProviderName')}, {text('InvoiceIssuerName')}) as bill_provider",
        f"{text('PublisherName')} as publisher",
        f"coalesce({text('SubAccountId')}, {text('BillingAccountId')}) as account",
        f"coalesce({text('SkuMeter')}, {text('ChargeDescription')}) as meter",
        f"coalesce({text('ConsumedQuantity')}, {text('PricingQuantity')}) as quantity",
        f"coalesce({text('ConsumedUnit')}, {text('PricingUnit')}) as unit",
        f"{text('ChargeDescription')} as description",
        """cast(to_json(map_from_entries(list_transform(
                list_filter(json_keys(record),
                    lambda k: (starts_with(lower(k), 'x_') or k = 'Tags') and coalesce(trim(record ->> k), '') not in ('', 'NULL')),
                lambda k: {'k': k, 'v': record -> k}))) as varchar) as custom""",
    ),
    derived=(f"{provider_sql('bill_provider')} as named_provider",),
    problems=(
        timestamp_problem("ChargePeriodStart", "start_text"),
        timestamp_problem("ChargePeriodEnd", "end_text", required=False),
        "when category_text is null then 'ChargeCategory|missing ChargeCategory'",
        f"when lower(category_text) not in {CHARGE_CATEGORIES} then "
        "'ChargeCategory|not a FOCUS ChargeCategory (Usage, Purchase, Tax, Credit, Adjustment): ' || left(category_text, 40)",
        money_problem("BilledCost", "billed_text", required=True),
        money_problem("EffectiveCost", "effective_text", required=False),
        money_problem("ListCost", "list_text", required=False),
        currency_problem("BillingCurrency"),
        quantity_problem("ConsumedQuantity"),
    ),
    columns={
        "billing_period_start": "cast(try_cast(billing_start_text as timestamptz) as date)",
        "provider": _FOCUS_PROVIDER,
        "bill_provider": "bill_provider",
        "service_name": "service_name",
        "token_bucket": token_bucket("meter"),
        "billed_cost": "try_cast(billed_text as decimal(38, 15))",
        "effective_cost": "coalesce(try_cast(effective_text as decimal(38, 15)), try_cast(billed_text as decimal(38, 15)))",
        "list_cost": "try_cast(list_text as decimal(38, 15))",
        "charge_category": "lower(category_text)",
        "is_correction": "coalesce(lower(class_text) = 'correction', false)",
        "extra": "case when custom = '{}' then null else custom end",
    },
)


def parse_focus(data: bytes, name: str) -> ParseResult:
    return judge(read_records(data, name), FOCUS_QUERY, BILLING_SCHEMA)


# -- openai_costs -----------------------------------------------------------------------------------
# The `openai_costs` bill format: OpenAI organization Costs API pages (`/v1/organization/costs`) in, line items out.
#
# amount.value is dollars (a number or a string), the currency lowercase. `line_item` may name the model and the
# token kind (`gpt-4o-2024-08-06, input`, `... batch input`), a tier before `|` and a long-context band after the
# kind (`priority | gpt-5.6-sol, output, long context`), an audio bucket after the model (`gpt-audio-mini-2025-12-15
# audio, input`), name the kind alone (`web search tool calls`), or be absent. The bucket's
# start (Unix seconds) gives the day; a negative amount is a credit.


# line_item kinds (after `batch ` is taken off) → token bucket.
_OPENAI_KINDS = {
    "input": "input", "input_tokens": "input", "uncached input": "input",
    "cached input": "cache_read", "cached_input": "cache_read", "input_cached": "cache_read", "cached_input_tokens": "cache_read",
    "output": "output", "output_tokens": "output",
    "audio input": "audio_input", "audio output": "audio_output",
}

_OPENAI_AMOUNT = "try_cast(amount_text as decimal(38, 15))"

OPENAI_QUERY = billing_query(
    "openai_costs",
    fields=(
        f"{text('$.amount.value')} as amount_text",
        f"{text('$.amount.currency')} as currency_text",
        f"{text('$.line_item')} as line_item",
        f"{text('$.project_id')} as account",
        f"{text('$.api_key_id')} as api_key_id",  # a pull filtered by API key: its lines are not another key's
        f"{text('$.organization_id')} as organization_id",  # nor are one organization's lines another's
        f"{text('$.quantity')} as quantity",
        f"{text('$.quantity_unit')} as unit",
        f"{text('$.bucket_start_time')} as start_text",
        f"{text('$.bucket_end_time')} as end_text",
    ),
    derived=(
        # `priority | gpt-5.6-sol, output, long context`: a tier before `|`
        "case when contains(line_item, '|') then lower(trim(split_part(line_item, '|', 1))) end as line_tier",
        "trim(case when contains(line_item, '|') then substr(line_item, strpos(line_item, '|') + 1) else line_item end) as line_rest",
        "case when contains(line_rest, ',') then trim(split_part(line_rest, ',', 1)) end as line_model_words",
        # `gpt-audio-mini-2025-12-15 audio, input`: the bucket is audio input
        "coalesce(suffix(lower(line_model_words), ' audio'), false) as line_audio",
        "case when line_audio then trim(left(line_model_words, length(line_model_words) - 6)) else line_model_words end as line_model",
        "lower(trim(case when contains(line_rest, ',') then substr(line_rest, strpos(line_rest, ',') + 1) else line_rest end)) as kind_words",
        "coalesce(suffix(kind_words, ', long context'), false) as line_long_context",
        "case when line_audio then 'audio ' else '' end"
        " || trim(case when line_long_context then left(kind_words, length(kind_words) - 14) else kind_words end) as kind",
    ),
    problems=(
        unix_time_problem("start_time", "start_text"),
        money_problem("amount.value", "amount_text", required=True),
        currency_problem("amount.currency"),
        quantity_problem("quantity"),
    ),
    columns={
        "charge_period_start": unix_time("start_text"),
        "charge_period_end": unix_time("end_text"),
        "provider": "'openai'",
        "bill_provider": "'OpenAI'",
        "service_name": "'OpenAI API'",
        "model": "line_model",
        "token_bucket": lookup(_OPENAI_KINDS, "replace(kind, 'batch ', '')"),
        "service_tier": "case when line_tier in ('batch', 'flex', 'priority', 'scale') then line_tier"
        " when contains(kind, 'batch') then 'batch' when line_tier in ('default', 'standard') then 'standard' end",
        "billed_cost": _OPENAI_AMOUNT,
        "effective_cost": _OPENAI_AMOUNT,
        "charge_category": f"case when {_OPENAI_AMOUNT} < 0 then 'credit' else 'usage' end",
        "description": "line_item", "extra": "case when coalesce(api_key_id, organization_id) is not null then cast(json_merge_patch('{}', "
        "json_object('api_key_id', api_key_id, 'organization_id', organization_id)) as varchar) end",
    },
)


def parse_openai_costs(data: bytes, name: str) -> ParseResult:
    return judge(bucket_results(data, name, "start_time", "end_time"), OPENAI_QUERY, BILLING_SCHEMA)


# -- anthropic_costs --------------------------------------------------------------------------------
# The `anthropic_costs` bill format: pages of Anthropic's cost reports in, billing line items out; a file may hold
# either report (`pages.report_records` tells them apart by shape). Amounts are decimal strings in the lowest unit of
# the currency, which is always USD (cents: `"123.78912"` is $1.2378912); a negative amount is a credit.
#
# The Admin API cost report (`GET /v1/organizations/cost_report`): each result of a day bucket is one line, the
# bucket's `starting_at` its day (UTC). The Usage and Cost Analytics API (`GET /v1/organizations/analytics/cost`): each
# row is one line over its own `starting_at` and `ending_at` (rejected when it spans more than one UTC day), its
# dimensions in `group` (null unless grouped by), `cost.amount` (post-discount) and `cost.list_amount` in `cost`.


# token_type → token bucket.
_ANTHROPIC_TOKEN_TYPES = {
    "uncached_input_tokens": "input", "input_tokens": "input", "output_tokens": "output", "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m", "cache_creation_input_tokens": "cache_write_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
}
_ANTHROPIC_EXTRA = ("cost_type", "token_type", "context_window", "inference_geo", "speed")
"""Fields of a cost report result kept in `extra` (JSON), when present."""
_ANALYTICS_EXTRA = (*_ANTHROPIC_EXTRA, "product", "api_key_id")
"""Dimensions of an analytics row's `group` kept in `extra` (JSON), when present, beside `cost.requests`."""

_CENTS_NUMBER = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
_USD_ONLY = ("when upper(currency_text) <> 'USD' "
             "then '{}|amounts are read as cents of USD, the only currency the cost report gives: ' || left(currency_text, 40)")
"""A CASE branch: a currency other than USD (its lowest unit is not known to be a hundredth)."""
_JSON_KIND = ("case {} when 'VARCHAR' then 'string' when 'ARRAY' then 'array' when 'BOOLEAN' then 'boolean' "
              "when 'NULL' then 'null' else 'number' end")
"""SQL: what DuckDB's json_type of a field names, in JSON's words."""


def _cents(expr: str) -> str:
    """SQL: a decimal string of cents as DECIMAL: up to 21 integer and 17 fractional digits."""
    return f"try_cast({expr} as decimal(38, 17))"


def _dollars(expr: str) -> str:
    """SQL: cents to dollars in DECIMAL all the way (DuckDB divides decimals as DOUBLE), exact at scale 19, then 15."""
    return f"cast({_cents(expr)} * cast(0.01 as decimal(2, 2)) as decimal(38, 15))"


def _cents_problems(label: str, expr: str, *, required: bool) -> tuple[str, ...]:
    """CASE branches: a missing (when required) amount of cents, one that is not a decimal number, or out of range."""
    return (
        money_problem(label, expr, required=required, digits_only=False),  # the next branch names a 1_000 as not cents
        f"when not regexp_full_match({expr}, '{_CENTS_NUMBER}') then '{label}|not a decimal string of cents: ' || left({expr}, 40)",
        f"when {expr} is not null and {_cents(expr)} is null "
        f"then '{label}|out of range (more than 21 digits of cents): ' || left({expr}, 40)",
    )


def _extra(names: tuple[str, ...]) -> str:
    """SQL: the fields `extra_<name>` that are present, as a JSON object, or null."""
    entries = ", ".join(f"{{'k': '{name}', 'v': extra_{name}}}" for name in names)
    return f"nullif(cast(to_json(map_from_entries(list_filter([{entries}], lambda e: e.v is not null))) as varchar), '{{}}')"


_ANTHROPIC_COLUMNS = {
    "provider": "'anthropic'",
    "bill_provider": "'Anthropic'",
    "service_name": "'Claude API'",
    "model": "model",
    # web search is the warehouse's own `web_search` bucket (priced per search); code execution and
    # session runtime are usage with no bucket
    "token_bucket": f"""case
        when cost_type = 'web_search' then 'web_search'
        when coalesce(cost_type, 'tokens') = 'tokens' then {lookup(_ANTHROPIC_TOKEN_TYPES, 'token_type')}
    end""",
    "service_tier": "case tier when 'default' then 'standard' when 'auto' then 'standard' else tier end",
    "quantity": "cast(null as varchar)",
    "unit": "case when token_type is not null then 'tokens' end",
    "billed_cost": _dollars("cents_text"),
    "effective_cost": _dollars("cents_text"),
    "charge_category": f"case when {_cents('cents_text')} < 0 then 'credit' else 'usage' end",
}
"""The columns both Anthropic reports give the same way, over the fields cents_text, model, token_type, cost_type and tier."""


ANTHROPIC_QUERY = billing_query(
    "anthropic_costs",
    fields=(
        f"{text('$.amount')} as cents_text",
        f"{text('$.currency')} as currency_text",
        f"{text('$.bucket_start_time')} as start_text",
        f"{text('$.bucket_end_time')} as end_text",
        f"{text('$.workspace_id')} as account",
        f"{text('$.model')} as model",
        f"lower({text('$.token_type')}) as token_type",
        f"lower({text('$.cost_type')}) as cost_type",
        f"lower({text('$.service_tier')}) as tier",
        f"{text('$.description')} as description",
        *(f"{text('$.' + name)} as extra_{name}" for name in _ANTHROPIC_EXTRA),
    ),
    problems=(
        timestamp_problem("starting_at", "start_text"),
        timestamp_problem("ending_at", "end_text", required=False),
        *_cents_problems("amount", "cents_text", required=True),
        currency_problem("currency"),
        _USD_ONLY.format("currency"),
    ),
    columns={**_ANTHROPIC_COLUMNS, "extra": _extra(_ANTHROPIC_EXTRA)},
)

ANALYTICS_QUERY = billing_query(
    "anthropic_costs",
    fields=(
        "json_type(record -> '$.cost') as cost_kind",
        "json_type(record -> '$.group') as group_kind",
        f"{text('$.cost.amount')} as cents_text",
        f"{text('$.cost.list_amount')} as list_cents_text",
        f"{text('$.cost.currency')} as currency_text",
        f"{text('$.cost.requests')} as extra_requests",
        f"{text('$.starting_at')} as start_text",
        f"{text('$.ending_at')} as end_text",
        f"{text('$.group.workspace_id')} as account",
        f"{text('$.group.model')} as model",
        f"lower({text('$.group.token_type')}) as token_type",
        f"lower({text('$.group.cost_type')}) as cost_type",
        f"lower({text('$.group.service_tier')}) as tier",
        *(f"{text('$.group.' + name)} as extra_{name}" for name in _ANALYTICS_EXTRA),
    ),
    problems=(
        "when cost_kind is null then 'cost|missing (no amount, list_amount or currency)'",
        f"when cost_kind <> 'OBJECT' then 'cost|not an object (found ' || {_JSON_KIND.format('cost_kind')} || ')'",
        f"when group_kind not in ('OBJECT', 'NULL') "
        f"then 'group|not an object of dimensions (found ' || {_JSON_KIND.format('group_kind')} || ')'",
        timestamp_problem("starting_at", "start_text"),
        timestamp_problem("ending_at", "end_text"),
        "when try_cast(end_text as timestamptz) <= try_cast(start_text as timestamptz) "
        "then 'ending_at|not after starting_at: ' || left(end_text, 40)",
        "when cast(try_cast(end_text as timestamptz) - interval 1 microsecond as date) "
        "> cast(try_cast(start_text as timestamptz) as date) "
        "then 'ending_at|the row spans more than one UTC day (pull the report with a time-bucket width of a day or less): ' "
        "|| left(end_text, 40)",
        *_cents_problems("cost.amount", "cents_text", required=True),
        *_cents_problems("cost.list_amount", "list_cents_text", required=False),
        currency_problem("cost.currency"),
        _USD_ONLY.format("cost.currency"),
    ),
    columns={
        **_ANTHROPIC_COLUMNS,
        "list_cost": _dollars("list_cents_text"),
        "description": "cast(null as varchar)",
        "extra": _extra((*_ANALYTICS_EXTRA, "requests")),
    },
)


def parse_anthropic_costs(data: bytes, name: str) -> ParseResult:
    results, rows = report_records(data, name, "starting_at", "ending_at")
    judged = [judge(results, ANTHROPIC_QUERY, BILLING_SCHEMA), judge(rows, ANALYTICS_QUERY, BILLING_SCHEMA)]
    return ParseResult(
        rows=pa.concat_tables([j.rows for j in judged]).sort_by("source_row"),
        rejected=pa.concat_tables([j.rejected for j in judged]).sort_by("row_number"),
    )
