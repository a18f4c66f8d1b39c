"""`tokenledger export focus`: the priced, allocated usage as a FOCUS 1.2 cost and usage dataset.

One row per day x provider x model x service tier x price entry x feature x user segment x customer,
with every FOCUS 1.2 column (the ones that do not apply are null) and our dimensions as `x_` custom
columns. EffectiveCost sums to the ledger (`core.request_costs.cost_usd`); requests without a price
are left out of the costs and counted in `x_unpriced_requests` and in the command's summary.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pipelines.storage.database import connect, table_exists
from pipelines.storage.home import Home

FOCUS_VERSION = "1.2"

# Every column of the FOCUS 1.2 specification, in the specification's (alphabetical) order.
FOCUS_COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId", "CapacityReservationStatus", "ChargeCategory",
    "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus", "CommitmentDiscountType", "CommitmentDiscountUnit", "ConsumedQuantity", "ConsumedUnit",
    "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost",
    "ListUnitPrice", "PricingCategory", "PricingCurrency", "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "PricingQuantity", "PricingUnit", "ProviderName",
    "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory",
    "ServiceName", "ServiceSubcategory", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId",
    "SubAccountName", "SubAccountType", "Tags",
)
CUSTOM_COLUMNS = ("x_feature", "x_user_segment", "x_customer_id", "x_service_tier", "x_requests", "x_unpriced_requests", "x_source")

_NAMES = """case
        when provider = 'openai' then 'OpenAI'
        when provider = 'azure_openai' then 'Microsoft'
        when provider = 'anthropic' then 'Anthropic'
        when provider = 'google' then 'Google Cloud'
        when provider = 'aws_bedrock' then 'AWS'
        else provider
    end"""
_SERVICES = """case
        when provider = 'openai' then 'OpenAI API'
        when provider = 'azure_openai' then 'Azure OpenAI'
        when provider = 'anthropic' then 'Claude API'
        when provider = 'google' then 'Vertex AI'
        when provider = 'aws_bedrock' then 'Amazon Bedrock'
        when starts_with(provider, 'self_hosted:') then 'Self-hosted models (' || substr(provider, 13) || ')'
        else provider
    end"""
_TOKENS = (
    "input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + output_tokens + reasoning_tokens"
    " + audio_input_tokens + audio_output_tokens"
)

EXPORT_QUERY = f"""
with requests as (
    select *
    from core.request_costs
),

grouped as (
    select
        event_date,
        provider,
        model,
        service_tier,
        price_id,
        feature,
        user_segment,
        customer_id,
        count(*) filter (where is_priced) as requests,
        count(*) filter (where not is_priced) as unpriced_requests,
        cast(coalesce(sum({_TOKENS}) filter (where is_priced), 0) as decimal(38, 0)) as tokens,
        cast(sum(cost_usd) filter (where is_priced) as decimal(38, 15)) as effective_cost,
        cast(sum(list_cost_usd) filter (where is_priced) as decimal(38, 15)) as list_cost,
    from requests
    group by all
    having count(*) filter (where is_priced) > 0
)

select
    cast(null as varchar) as AvailabilityZone,
    effective_cost as BilledCost,
    provider as BillingAccountId,
    {_NAMES} as BillingAccountName,
    'Provider account' as BillingAccountType,
    'USD' as BillingCurrency,
    cast(date_trunc('month', event_date) + interval 1 month as timestamptz) as BillingPeriodEnd,
    cast(date_trunc('month', event_date) as timestamptz) as BillingPeriodStart,
    cast(null as varchar) as CapacityReservationId,
    cast(null as varchar) as CapacityReservationStatus,
    'Usage' as ChargeCategory,
    cast(null as varchar) as ChargeClass,
    format('{{}} tokens of {{}} for {{}} ({{}} requests, estimated from request logs)', tokens, model, feature, requests) as ChargeDescription,
    'Usage-Based' as ChargeFrequency,
    cast(event_date + interval 1 day as timestamptz) as ChargePeriodEnd,
    cast(event_date as timestamptz) as ChargePeriodStart,
    cast(null as varchar) as CommitmentDiscountCategory,
    cast(null as varchar) as CommitmentDiscountId,
    cast(null as varchar) as CommitmentDiscountName,
    cast(null as decimal(38, 9)) as CommitmentDiscountQuantity,
    cast(null as varchar) as CommitmentDiscountStatus,
    cast(null as varchar) as CommitmentDiscountType,
    cast(null as varchar) as CommitmentDiscountUnit,
    cast(tokens as decimal(38, 9)) as ConsumedQuantity,
    'Tokens' as ConsumedUnit,
    effective_cost as ContractedCost,
    cast(null as decimal(38, 15)) as ContractedUnitPrice,
    effective_cost as EffectiveCost,
    cast(null as varchar) as InvoiceId,
    {_NAMES} as InvoiceIssuerName,
    list_cost as ListCost,
    cast(null as decimal(38, 15)) as ListUnitPrice,
    'Standard' as PricingCategory,
    'USD' as PricingCurrency,
    cast(null as decimal(38, 15)) as PricingCurrencyContractedUnitPrice,
    effective_cost as PricingCurrencyEffectiveCost,
    cast(null as decimal(38, 15)) as PricingCurrencyListUnitPrice,
    cast(tokens as decimal(38, 9)) as PricingQuantity,
    'Tokens' as PricingUnit,
    {_NAMES} as ProviderName,
    {_NAMES} as PublisherName,
    cast(null as varchar) as RegionId,
    cast(null as varchar) as RegionName,
    provider || '/' || model as ResourceId,
    model as ResourceName,
    'Model' as ResourceType,
    'AI and Machine Learning' as ServiceCategory,
    {_SERVICES} as ServiceName,
    'Generative AI' as ServiceSubcategory,
    provider || '/' || model as SkuId,
    'Tokens' as SkuMeter,
    cast(null as varchar) as SkuPriceDetails,
    price_id as SkuPriceId,
    cast(null as varchar) as SubAccountId,
    cast(null as varchar) as SubAccountName,
    cast(null as varchar) as SubAccountType,
    cast(json_object('feature', feature, 'user_segment', user_segment, 'customer_id', customer_id) as varchar) as Tags,
    feature as x_feature,
    user_segment as x_user_segment,
    customer_id as x_customer_id,
    service_tier as x_service_tier,
    requests as x_requests,
    unpriced_requests as x_unpriced_requests,
    'tokenledger' as x_source,
from grouped
order by event_date, provider, model, feature, user_segment, customer_id, service_tier, price_id
"""


class ExportError(RuntimeError):
    """The export cannot be written (no warehouse yet, unsupported file type)."""


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    rows: int
    effective_cost_usd: Decimal
    ledger_cost_usd: Decimal
    unpriced_requests: int


def export_focus(home: Home, out: Path) -> ExportSummary:
    """Write the FOCUS dataset to out (.parquet or .csv), atomically; return what was written."""
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ExportError(f"{out.name}: the export is written as .parquet or .csv")
    if not home.warehouse.is_file():
        raise ExportError(f"there is no warehouse at {home.warehouse} yet: run `tokenledger run` first")
    out = out.expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    options = "(format parquet, compression zstd)" if suffix == ".parquet" else "(format csv, header true)"
    with connect(home, read_only=True) as con:
        if not table_exists(con, "core.request_costs"):
            raise ExportError("the warehouse has no core.request_costs yet: run `tokenledger run` first")
        try:
            con.execute(f"copy ({EXPORT_QUERY}) to '{tmp.as_posix()}' {options}")
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        ledger, unpriced = con.execute(
            "select coalesce(sum(cost_usd), 0), count(*) filter (where not is_priced) from core.request_costs"
        ).fetchall()[0]
        reader = f"read_parquet('{out.as_posix()}')" if suffix == ".parquet" else f"read_csv('{out.as_posix()}', all_varchar = true)"
        rows, exported = con.execute(
            f"select count(*), coalesce(sum(cast(EffectiveCost as decimal(38, 15))), 0) from {reader}"
        ).fetchall()[0]
    return ExportSummary(path=out, rows=rows, effective_cost_usd=exported, ledger_cost_usd=ledger, unpriced_requests=unpriced)
