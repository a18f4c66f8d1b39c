"""`tokenledger export focus`: the priced, allocated usage as a FOCUS 1.2 cost and usage dataset.

One row per day x provider x model x service tier x price entry x override x feature x user segment x customer x
meter (input, cache read, cache write, output, reasoning and audio tokens, web searches, per-request fees), with
every FOCUS 1.2 column (the ones that do not apply are null) and our dimensions as `x_` custom columns. Each row
carries its unit prices (ListCost = ListUnitPrice x PricingQuantity, ContractedCost likewise); EffectiveCost sums
to the ledger (`core.request_costs.cost_usd`). Requests without a price are left out of the costs and counted in
the command's summary (and in `x_unpriced_requests` when their row's price entry lacks only a bucket's price).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pipelines.storage.database import connect, sql_text, table_exists
from pipelines.storage.home import Home
from pipelines.storage.relations import spreadsheet_safe, sql_literal

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
CUSTOM_COLUMNS = ("x_feature", "x_user_segment", "x_customer_id", "x_service_tier", "x_override_id", "x_requests", "x_unpriced_requests",
                  "x_source")

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
    # FOCUS 1.2 Date/Time Format: 'YYYY-MM-DDTHH:mm:ssZ' in UTC (the connection's zone); DuckDB's own text is
    # '2026-10-29 00:00:00+00'. Parquet keeps typed timestamps.
    options = ("(format parquet, compression zstd)" if suffix == ".parquet"
               else "(format csv, header true, timestampformat '%Y-%m-%dT%H:%M:%SZ')")
    with connect(home, read_only=True) as con:
        if not table_exists(con, "core.request_costs"):
            raise ExportError("the warehouse has no core.request_costs yet: run `tokenledger run` first")
        try:
            query = sql_text("queries/focus_export")
            if suffix == ".csv":
                query = spreadsheet_safe(con, query)
            con.execute(f"copy ({query}) to {sql_literal(tmp.as_posix())} {options}")
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        ledger, unpriced = con.execute(
            "select coalesce(sum(cost_usd), 0), count(*) filter (where not is_priced) from core.request_costs"
        ).fetchall()[0]
        reader = f"read_parquet({sql_literal(out.as_posix())})" if suffix == ".parquet" else f"read_csv({sql_literal(out.as_posix())}, all_varchar = true)"
        rows, exported = con.execute(
            f"select count(*), coalesce(sum(cast(EffectiveCost as decimal(38, 15))), 0) from {reader}"
        ).fetchall()[0]
    return ExportSummary(path=out, rows=rows, effective_cost_usd=exported, ledger_cost_usd=ledger, unpriced_requests=unpriced)
