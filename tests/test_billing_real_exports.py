"""Bills as the providers and the FOCUS project really write them: times without an offset, Parquet timestamps
without a zone, AWS's discount line item types, Microsoft's FOCUS service name for Azure OpenAI, the Costs API of two
OpenAI organizations, and a run that says when a bill's rows were rejected."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from helpers import FORMATS

from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

# The first two rows of the FOCUS project's own sample data (FinOps-Open-Cost-and-Usage-Spec/FOCUS-Sample-Data
# adbdd17a, FOCUS-1.0/focus_sample.csv, CC BY 4.0): its times carry no offset, and FOCUS defines every time as UTC.
FOCUS_SAMPLE = '''"AvailabilityZone","BilledCost","BillingAccountId","BillingAccountName","BillingCurrency","BillingPeriodEnd","BillingPeriodStart","ChargeCategory","ChargeClass","ChargeDescription","ChargeFrequency","ChargePeriodEnd","ChargePeriodStart","CommitmentDiscountCategory","CommitmentDiscountId","CommitmentDiscountName","CommitmentDiscountStatus","CommitmentDiscountType","ConsumedQuantity","ConsumedUnit","ContractedCost","ContractedUnitPrice","EffectiveCost","InvoiceIssuerName","ListCost","ListUnitPrice","PricingCategory","PricingQuantity","PricingUnit","ProviderName","PublisherName","RegionId","RegionName","ResourceId","ResourceName","ResourceType","ServiceCategory","Id","ServiceName","SkuId","SkuPriceId","SubAccountId","SubAccountName","Tags"
NULL,0.00000080000,"1234567890123","SunBird","USD","2024-10-01 00:00:00","2024-09-01 00:00:00","Usage",NULL,"$0.40 per million Amazon SQS standard requests in Tier1 in US West (Oregon)","Usage-Based","2024-09-18 23:00:00","2024-09-18 22:00:00",NULL,NULL,NULL,NULL,NULL,2.000000000000000,"Requests",0.00000000000,0.00000000000,0.00000000000,"Amazon Web Services, Inc.",0.00000080000,"0.0000004","Standard",2.00000000000,"Requests","AWS","Amazon Web Services, Inc.","us-west-2","US West (Oregon)","arn:ats:sqs:us-test-2:347410479675:mibelllmel-i-032l64f2065481b12",NULL,NULL,"Integration",11472,"Amazon Simple Queue Service","G95FST5FTYV3JSRX","G95FST5FTYV3JSRX.JRTCKXETXF.VXGXCWQKTY","51738928782","Atlas Nimbus",NULL
NULL,0.00001605990,"1234567890123","SunBird","USD","2024-10-01 00:00:00","2024-09-01 00:00:00","Usage",NULL,"$0.008 per used Application load balancer capacity unit-hour (or partial hour)","Usage-Based","2024-09-30 23:00:00","2024-09-30 22:00:00",NULL,NULL,NULL,NULL,NULL,0.002007490000000,"LCU-Hours",0.00000000000,0.00000000000,0.00000000000,"Amazon Web Services, Inc.",0.00001605990,"0.008","Standard",0.00200749000,"LCU-Hours","AWS","Amazon Web Services, Inc.","us-west-2","US West (Oregon)","arn:ats:emastilmoalfamanling:us-test-2:586597448978:moalfamanler/app/tungsten-lonbmuenle-amf/l365455f461l4e4a",NULL,NULL,"Networking",19384,"Elastic Load Balancing","2ETY8Y426S4237JU","2ETY8Y426S4237JU.JRTCKXETXF.6YS6EN2CT7","43883916739","Zenith Eclipse","{""application"": ""BrightLensMatrix"", ""environment"": ""dev"", ""business_unit"": ""ViennaAI""}"
'''
UTC = dt.timezone.utc


def _quiet(_: str) -> None:
    return None


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _land_bill(home: Home, fmt: str, name: str, content: bytes | str) -> None:
    path = home.landing / "billing" / fmt / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def test_the_focus_projects_sample_rows_without_an_offset_are_read_as_utc(home):
    """All 1,000 rows of the FOCUS sample were rejected ('not an ISO 8601 timestamp with an offset')."""
    _land_bill(home, "focus", "focus_sample.csv", FOCUS_SAMPLE)
    summary = run_pipeline(home, progress=_quiet)
    assert _query(home, "select count(*) from audit.rejected_rows") == [(0,)]
    lines = _query(home, "select charge_date, charge_period_start, charge_period_end, billed_cost_usd from core.billing_line_items order by source_row")
    assert lines == [
        (dt.date(2024, 9, 18), dt.datetime(2024, 9, 18, 22, tzinfo=UTC), dt.datetime(2024, 9, 18, 23, tzinfo=UTC), Decimal("0.0000008")),
        (dt.date(2024, 9, 30), dt.datetime(2024, 9, 30, 22, tzinfo=UTC), dt.datetime(2024, 9, 30, 23, tzinfo=UTC), Decimal("0.0000160599")),
    ]
    assert not [w for w in summary.warnings if "rejected" in w]


def test_a_cur_parquet_with_zoneless_timestamps_and_aws_discount_types_loads(home):
    """CUR 2.0 Parquet timestamps may carry no zone (every CUR time is UTC): each row was rejected. SppDiscount and
    RiVolumeDiscount (AWS line item types, e.g. in Netflix Ice's LineItemType) were rejected as unknown types."""
    start = [dt.datetime(2026, 11, 3, 23), dt.datetime(2026, 11, 3, 23), dt.datetime(2026, 11, 3, 23)]
    table = pa.table({
        "bill_billing_period_start_date": pa.array([dt.datetime(2026, 11, 1)] * 3, pa.timestamp("ms")),
        "line_item_usage_start_date": pa.array(start, pa.timestamp("ms")),
        "line_item_usage_end_date": pa.array([s + dt.timedelta(hours=1) for s in start], pa.timestamp("ms")),
        "line_item_usage_account_id": ["222222222222"] * 3,
        "line_item_line_item_type": ["Usage", "SppDiscount", "RiVolumeDiscount"],
        "line_item_product_code": ["AmazonBedrock"] * 3,
        "line_item_usage_type": ["USE1-Claude2.0-input-tokens"] * 3,
        "line_item_usage_amount": [120.0, 0.0, 0.0],
        "line_item_unblended_cost": [0.00096, -0.0001, -0.00002],
        "line_item_currency_code": ["USD"] * 3,
    })
    path = home.landing / "billing" / "aws_cur" / "cur2-00001.snappy.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select count(*) from audit.rejected_rows") == [(0,)]
    lines = _query(home, "select charge_date, charge_period_start, charge_category, billed_cost_usd from core.billing_line_items order by source_row")
    at = dt.datetime(2026, 11, 3, 23, tzinfo=UTC)  # 23:00 UTC: in any zone east of UTC it would fall on Nov 4
    assert lines == [
        (dt.date(2026, 11, 3), at, "usage", Decimal("0.00096")),
        (dt.date(2026, 11, 3), at, "credit", Decimal("-0.0001")),
        (dt.date(2026, 11, 3), at, "credit", Decimal("-0.00002")),
    ]


def test_azure_openai_under_microsofts_focus_service_name_is_azure_openai(home):
    """Microsoft's FOCUS export names the service of every Cognitive Services account 'Azure AI Services'
    (microsoft/finops-toolkit 04d370f, src/open-data/Services.csv), Azure OpenAI's included: such token rows had no
    provider and the Azure OpenAI bill never reconciled. A speech meter of that service, and other makers' models it
    sells (Llama, Phi), stay without one."""
    header = "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,BilledCost,BillingCurrency,ProviderName,PublisherName,ServiceName,SkuMeter,ConsumedUnit\n"
    day = "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,Usage"
    body = (
        f"{day},2.50,USD,Microsoft,Microsoft,Azure AI Services,gpt-4o-0806-Inp-glbl Tokens,1M Tokens\n"
        f"{day},0.40,USD,Microsoft,,Azure AI Services,GPT 5 Inpt Glbl,1M\n"
        f"{day},1.00,USD,Microsoft,Microsoft,Azure AI Services,S1 Speech To Text,1 Hour\n"
        f"{day},3.00,USD,Microsoft,Microsoft,Virtual Machines,D2s v5,1 Hour\n"
        # other makers' models sold by the same service: not OpenAI's, whatever their unit
        f"{day},0.70,USD,Microsoft,Meta,Azure AI Services,Llama-3.3-70B-Instruct Input Tokens,1K Tokens\n"
        f"{day},0.20,USD,Microsoft,Microsoft,Azure AI Services,Phi-4 Input Tokens,1K Tokens\n"
    )
    _land_bill(home, "focus", "azure.csv", header + body)
    run_pipeline(home, progress=_quiet)
    lines = _query(home, "select source_row, provider, token_bucket from core.billing_line_items order by source_row")
    assert lines == [(1, "azure_openai", "input"), (2, "azure_openai", "input"), (3, None, None), (4, None, None), (5, None, "input"),
                     (6, None, "input")]
    recon = _query(home, "select provider, billed_cost_usd from marts.billing_reconciliation")
    assert recon == [("azure_openai", Decimal("2.9"))]


def _costs_page(org: str | None, value: str) -> str:
    start = int(dt.datetime(2025, 10, 5, tzinfo=UTC).timestamp())
    # A Costs API result as the API returns it for an ungrouped pull: organization named, line_item and project null
    result = {"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"}, "line_item": None, "project_id": None}
    if org is not None:
        result |= {"organization_id": org, "organization_name": "Personal" if org.endswith("A") else "Work"}
    bucket = {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": [result]}
    return json.dumps({"object": "page", "data": [bucket], "has_more": False, "next_page": None})


def test_two_openai_organizations_bills_of_one_day_both_count(home):
    """Lines of two organizations with the same day, model and kind replaced each other (the later file's won): one
    organization's bill was gone without a word."""
    _land_bill(home, "openai_costs", "org-personal/2025-10-05.json", _costs_page("org-A", "0.8958740000000000"))
    _land_bill(home, "openai_costs", "org-work/2025-10-05.json", _costs_page("org-B", "12.5"))
    run_pipeline(home, progress=_quiet)
    lines = _query(home, "select extra, billed_cost_usd from core.billing_line_items order by billed_cost_usd")
    assert lines == [('{"organization_id":"org-A"}', Decimal("0.895874")), ('{"organization_id":"org-B"}', Decimal("12.5"))]
    # a later pull of one organization's day replaces that organization's line only
    _land_bill(home, "openai_costs", "org-work/2025-10-05-again.json", _costs_page("org-B", "12.75"))
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select sum(billed_cost_usd) from core.billing_line_items") == [(Decimal("13.645874"),)]


def test_a_line_without_an_organization_is_replaced_by_a_later_pull_that_names_one(home):
    """Lines ingested before the organization was read (or from a page without it) are the same lines as a later
    pull's of any one organization: replaced by it, not added to it ($22 for a $12 day)."""
    _land_bill(home, "openai_costs", "2025-10-05.json", _costs_page(None, "10"))
    run_pipeline(home, progress=_quiet)
    _land_bill(home, "openai_costs", "2025-10-05-again.json", _costs_page("org-A", "12"))
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select extra, billed_cost_usd from core.billing_line_items") == [('{"organization_id":"org-A"}', Decimal("12"))]


def test_a_run_says_how_many_rows_of_a_bill_it_rejected(home):
    """A bill whose rows were all rejected printed 'ingested 0 files (0 unchanged): 0 rows loaded, 0 rejected' (the
    gateway's counts) and exited 0 without a word about the bill."""
    header = "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,BilledCost,BillingCurrency,ProviderName,ServiceName\n"
    _land_bill(home, "focus", "bill.csv", header + "2026-10-01 00:00:00 CEST,,Usage,1.50,USD,Microsoft,Azure OpenAI\n"
               "2026-10-01T00:00:00Z,,Usage,2.00,USD,Microsoft,Azure OpenAI\n")
    lines: list[str] = []
    summary = run_pipeline(home, progress=lines.append)
    assert "landing/billing: 1 file(s) ingested: 1 rows loaded, 1 rejected, 0 duplicate" in lines
    assert summary.warnings[0] == "landing/billing: 1 row(s) rejected (audit.rejected_rows names file, row, field and reason)"


CUR_HEADER = ("bill_billing_period_start_date,line_item_usage_start_date,line_item_usage_end_date,line_item_usage_account_id,"
              "line_item_line_item_type,line_item_product_code,line_item_usage_type,line_item_usage_amount,line_item_unblended_cost,"
              "line_item_currency_code\n")


def _cur_rows(*days: tuple[int, str]) -> str:
    return CUR_HEADER + "".join(
        f"2025-11-01T00:00:00Z,2025-11-{day:02d}T00:00:00Z,2025-11-{day + 1:02d}T00:00:00Z,222222222222,Usage,AmazonBedrock,"
        f"USE1-Claude2.0-input-tokens,1000,{cost},USD\n"
        for day, cost in days
    )


def _focus_rows(*days: tuple[int, str]) -> str:
    """FOCUS 1.2 rows of the shared Bedrock sample, one a day of November 2025 with its cost."""
    lines = (FORMATS / "focus_1_2_bedrock_row.csv").read_text().splitlines()
    header, template = lines[0].split(","), next(csv.reader(lines[1:2]))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for day, cost in days:
        row = dict(zip(header, template))
        row.update(BillingPeriodStart="2025-11-01T00:00:00Z", ChargePeriodStart=f"2025-11-{day:02d}T00:00:00Z",
                   ChargePeriodEnd=f"2025-11-{day:02d}T01:00:00Z", BilledCost=cost, EffectiveCost=cost)
        writer.writerow(row.values())
    return out.getvalue()


def test_a_cur_delivered_in_versions_counts_its_newest_version_only(home):
    """AWS Data Exports with CREATE_NEW_REPORT deliver each version "in addition to the previous versions" (AWS Data
    Exports API, S3OutputConfigurations.Overwrite), each restating the billing period: Nov 3 was billed once per
    delivery folder ($0.66 for $0.33). Legacy CUR's assembly folders are versions the same way, and so are the versions
    of a FOCUS export (Data Exports' FOCUS table; an Azure cost export's run folders under its date range): a FOCUS
    export in two versions was billed twice."""
    focus = "azure-focus/20251101-20251130"
    _land_bill(home, "focus", f"{focus}/5f0c8a4e-1111/part_0_0001.csv", _focus_rows((3, "7.00")))
    _land_bill(home, "focus", f"{focus}/0b7d2f9c-2222/part_0_0001.csv", _focus_rows((3, "7.50"), (4, "1.00")))  # restated, newer
    period = "cur2/data/BILLING_PERIOD=2025-11"
    _land_bill(home, "aws_cur", f"{period}/2025-11-05T0309Z-bbb/cur2-00001.csv", _cur_rows((3, "0.33"), (4, "0.66")))
    _land_bill(home, "aws_cur", f"{period}/2025-11-04T0312Z-aaa/cur2-00001.csv", _cur_rows((3, "0.30")))  # older, ingested in the same run
    _land_bill(home, "aws_cur", "legacy/20251101-20251201/0f6c2d1e-aaaa/legacy-1.csv", _cur_rows((5, "1.00")))
    _land_bill(home, "aws_cur", "overwritten/BILLING_PERIOD=2025-11/part-00001.csv", _cur_rows((6, "2.00")))  # not versioned
    run_pipeline(home, progress=_quiet)
    by_day = "select charge_date, sum(billed_cost_usd) from core.billing_line_items where source_format = 'aws_cur' group by 1 order by 1"
    assert _query(home, by_day) == [(dt.date(2025, 11, d), Decimal(c)) for d, c in [(3, "0.33"), (4, "0.66"), (5, "1"), (6, "2")]]
    focus_by_day = by_day.replace("'aws_cur'", "'focus'")
    assert _query(home, focus_by_day) == [(dt.date(2025, 11, 3), Decimal("7.5")), (dt.date(2025, 11, 4), Decimal("1"))]

    # the next delivery restates Nov 3 and 4 and adds Nov 5; the legacy report's next assembly replaces its first
    _land_bill(home, "aws_cur", f"{period}/2025-11-06T0311Z-ccc/cur2-00001.csv", _cur_rows((3, "0.33"), (4, "0.70"), (5, "0.10")))
    _land_bill(home, "aws_cur", "legacy/20251101-20251201/9a1b3c4d-bbbb/legacy-1.csv", _cur_rows((5, "1.00"), (6, "1.50")))
    run_pipeline(home, progress=_quiet)
    assert _query(home, by_day) == [(dt.date(2025, 11, d), Decimal(c)) for d, c in [(3, "0.33"), (4, "0.7"), (5, "1.1"), (6, "3.5")]]
