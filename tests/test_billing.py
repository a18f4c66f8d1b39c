"""Provider bills: every shared billing sample ingests with its amount, and reconciliation statuses are exact."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import FORMATS, envelope, land, sample_usage

from pipelines.cli.main import main
from pipelines.finance.close import close_month
from pipelines.finance.focus_export import FOCUS_COLUMNS
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home
from pipelines.storage.relations import sql_literal

# One OpenAI Chat request of the shared sample: 86 uncached + 1920 cached input, 300 output = $0.005615.
REQUEST_COST = Decimal("0.005615")
MODEL = "gpt-4o-2024-08-06"


def _quiet(_: str) -> None:
    return None


def _query(home: Home, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _land_bill(home: Home, fmt: str, name: str, content: bytes | str) -> None:
    path = home.landing / "billing" / fmt / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def _openai_page(day: dt.date, results: list[tuple[str | None, str | float]]) -> str:
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())
    return json.dumps(
        {
            "object": "page",
            "data": [
                {
                    "object": "bucket",
                    "start_time": start,
                    "end_time": start + 86400,
                    "results": [
                        {"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"}, "line_item": item, "project_id": "proj_main"}
                        for item, value in results
                    ],
                }
            ],
            "has_more": False,
            "next_page": None,
        }
    )


def test_every_shared_billing_sample_ingests_with_its_amount(home):
    _land_bill(home, "focus", "focus_1_2_bedrock_row.csv", (FORMATS / "focus_1_2_bedrock_row.csv").read_bytes())
    _land_bill(home, "aws_cur", "aws_cur2_bedrock_rows.csv", (FORMATS / "aws_cur2_bedrock_rows.csv").read_bytes())
    _land_bill(home, "openai_costs", "openai_org_costs_page.json", (FORMATS / "openai_org_costs_page.json").read_bytes())
    _land_bill(home, "anthropic_costs", "anthropic_admin_cost_report.json", (FORMATS / "anthropic_admin_cost_report.json").read_bytes())
    _land_bill(home, "gcp_billing", "gcp_billing_export_v1_vertex_row.json", (FORMATS / "gcp_billing_export_v1_vertex_row.json").read_bytes())
    run_pipeline(home, progress=_quiet)

    lines = _query(
        home,
        "select source_format, source_row, charge_date, provider, model, token_bucket, charge_category, billed_cost_usd, "
        "included_credits_usd, quantity from core.billing_line_items order by source_format, source_row",
    )
    assert lines == [
        ("anthropic_costs", 1, dt.date(2025, 8, 1), "anthropic", "claude-3-5-sonnet-20241022", "cache_read", "usage", Decimal("0.0024"), Decimal(0), None),
        ("aws_cur", 1, dt.date(2024, 11, 1), "aws_bedrock", "Claude2.0", "input", "usage", Decimal("0.00096"), Decimal(0), Decimal(120)),
        ("aws_cur", 3, dt.date(2024, 11, 1), "aws_bedrock", "Claude2.0", None, "credit", Decimal("-5"), Decimal(0), Decimal(0)),
        ("focus", 1, dt.date(2024, 11, 1), "aws_bedrock", None, "cache_read", "usage", Decimal("0.0024"), Decimal(0), Decimal(8000)),
        ("focus", 2, dt.date(2024, 11, 1), "aws_bedrock", None, None, "credit", Decimal("-5"), Decimal(0), None),
        ("gcp_billing", 1, dt.date(2024, 11, 1), "google", None, "input", "usage", Decimal("0.0012"), Decimal("-0.0012"), Decimal(4000)),
        ("openai_costs", 1, dt.date(2024, 11, 1), "openai", None, "input", "usage", Decimal("0.06"), Decimal(0), Decimal(10000)),
    ]
    # Anthropic's cost report says service_tier "standard" (and "batch"): the same word as the gateway side's tier
    assert _query(home, "select service_tier from core.billing_line_items where source_format = 'anthropic_costs'") == [("standard",)]
    # The CUR sample's second row carries a placeholder instead of a cost: rejected with file, row, field and reason.
    rejected = _query(home, "select source_file, row_number, field, reason from audit.rejected_rows")
    assert rejected == [("billing/aws_cur/aws_cur2_bedrock_rows.csv", 2, "line_item_unblended_cost", "not a number: <computed>")]
    files = _query(home, "select format, rows_read, rows_loaded, rows_rejected from audit.ingested_files where path like 'billing/%' order by format")
    assert files == [("anthropic_costs", 1, 1, 0), ("aws_cur", 3, 2, 1), ("focus", 2, 2, 0), ("gcp_billing", 1, 1, 0), ("openai_costs", 1, 1, 0)]
    # FOCUS x_ columns and tags are kept.
    extra = _query(home, "select extra from core.billing_line_items where source_format = 'focus' and source_row = 1")[0][0]
    assert json.loads(json.loads(extra)["Tags"]) == {"user:team": "search", "user:env": "prod"}
    # Credits sit beside usage: the Bedrock day has no requests, so its usage is billed_only and the credits are reported.
    bedrock = _query(
        home,
        "select model, status, billed_cost_usd, credits_usd from marts.billing_reconciliation where provider = 'aws_bedrock'",
    )
    assert bedrock == [(None, "billed_only", Decimal("0.00336"), Decimal("-10"))]


def _reconciliation_home(home: Home) -> None:
    """Four days of ten OpenAI requests each ($0.05615 a day), and bills that tell four stories."""
    days = [dt.date(2026, 10, d) for d in (1, 2, 3, 4)]
    usage = sample_usage("openai_chat_completions_usage.json")
    lines = [
        envelope(f"r{day.day}_{n}", "openai", MODEL, usage, timestamp=f"{day.isoformat()}T12:00:{n:02d}Z")
        for day in (days[0], days[1], days[3])
        for n in range(10)
    ]
    land(home, "requests.jsonl", lines)
    day_cost = REQUEST_COST * 10
    # Day 1: billed within 1% (0.5% over) plus a $2 credit -> matched; the credit does not move the variance.
    _land_bill(home, "openai_costs", "2026-10-01.json", _openai_page(days[0], [(f"{MODEL}, input", str(day_cost * Decimal("1.005"))), (None, "-2.00")]))
    # Day 2: billed twice the estimate -> over_billed. First delivered wrong, then pulled again (the later pull wins).
    _land_bill(home, "openai_costs", "2026-10-02.json", _openai_page(days[1], [(f"{MODEL}, input", "9.99")]))
    # Day 3: a bill, no requests (a batch job the gateway never saw) -> billed_only.
    _land_bill(home, "openai_costs", "2026-10-03.json", _openai_page(days[2], [(f"{MODEL}, output", 0.25)]))
    # Day 4: requests, no bill -> estimated_only.


def test_a_bill_line_without_a_known_model_does_not_fold_the_named_models_of_its_day(home):
    """A provider-day whose bill names gpt-4o and also has a line for a model the book does not know: gpt-4o is
    still reconciled on its own row; the unnamed line meets the estimate of the models the bill does not name."""
    day = dt.date(2026, 10, 5)
    # gpt-4o: 10 requests of 1000 input / 100 output tokens = 10 x (0.0025 + 0.001) = 0.035 USD.
    # gpt-4o-mini: 4 requests of 10000 / 1000 = 4 x (0.0015 + 0.0006) = 0.0084 USD.
    lines = [
        envelope(f"g{n}", "openai", MODEL, {"prompt_tokens": 1000, "completion_tokens": 100}, timestamp=f"{day}T12:00:{n:02d}Z")
        for n in range(10)
    ] + [
        envelope(f"m{n}", "openai", "gpt-4o-mini-2024-07-18", {"prompt_tokens": 10000, "completion_tokens": 1000}, timestamp=f"{day}T13:00:{n:02d}Z")
        for n in range(4)
    ]
    land(home, "requests.jsonl", lines)
    _land_bill(home, "openai_costs", "2026-10-05.json", _openai_page(day, [(f"{MODEL}, input", "0.025"), (f"{MODEL}, output", "0.010"),
                                                                         ("gpt-9-mystery, input", "0.0090")]))
    run_pipeline(home, progress=_quiet)
    rows = _query(
        home,
        "select model, estimated_cost_usd, billed_cost_usd, variance_usd, status from marts.billing_reconciliation "
        "where charge_date = '2026-10-05' order by model nulls last",
    )
    assert rows == [
        (MODEL, Decimal("0.035"), Decimal("0.035"), Decimal(0), "matched"),
        # the unnamed $0.0090 against gpt-4o-mini's $0.0084, the model the bill does not name: $0.0006 over, within $0.01
        (None, Decimal("0.0084"), Decimal("0.0090"), Decimal("0.0006"), "matched"),
    ]


def test_reconciliation_statuses_and_amounts(home):
    _reconciliation_home(home)
    run_pipeline(home, progress=_quiet)
    day_cost = REQUEST_COST * 10
    _land_bill(home, "openai_costs", "2026-10-02-repull.json", _openai_page(dt.date(2026, 10, 2), [(f"{MODEL}, input", str(day_cost * 2))]))
    summary = run_pipeline(home, progress=_quiet)

    rows = _query(
        home,
        "select charge_date, provider, model, estimated_cost_usd, billed_cost_usd, variance_usd, variance_pct, status, credits_usd "
        "from marts.billing_reconciliation order by charge_date, model nulls last",
    )
    assert rows == [
        (dt.date(2026, 10, 1), "openai", MODEL, day_cost, day_cost * Decimal("1.005"), day_cost * Decimal("0.005"), Decimal("0.5"), "matched", Decimal(0)),
        # The credit names no model: it sits on its own row of the day, beside usage, with no usage variance.
        (dt.date(2026, 10, 1), "openai", None, Decimal(0), Decimal(0), Decimal(0), None, "matched", Decimal("-2")),
        (dt.date(2026, 10, 2), "openai", MODEL, day_cost, day_cost * 2, day_cost, Decimal("100"), "over_billed", Decimal(0)),
        (dt.date(2026, 10, 3), "openai", MODEL, Decimal(0), Decimal("0.25"), Decimal("0.25"), None, "billed_only", Decimal(0)),
        (dt.date(2026, 10, 4), "openai", MODEL, day_cost, Decimal(0), -day_cost, Decimal("-100"), "estimated_only", Decimal(0)),
    ]
    # The repulled day replaced the first pull: one usage line for 2026-10-02, the later one.
    day2 = _query(home, "select billed_cost_usd, source_file from core.billing_line_items where charge_date = '2026-10-02'")
    assert day2 == [(day_cost * 2, "billing/openai_costs/2026-10-02-repull.json")]
    # The warning check names the days outside tolerance, worst first.
    assert any("billing_reconciliation variance_within_tolerance" in w and "2 provider-day rows" in w for w in summary.warnings)


def test_tolerance_is_configurable(home):
    _reconciliation_home(home)
    (home.root / "settings.yaml").write_text("reconciliation:\n  tolerance_pct: 0.1\n  tolerance_usd: 0.0001\n")
    run_pipeline(home, progress=_quiet)
    status = _query(home, "select status, tolerance_usd from marts.billing_reconciliation where charge_date = '2026-10-01' and model is not null")
    # 0.1% of $0.05615 is below $0.0001, so the dollar floor applies; the bill is $0.00028 over.
    assert status == [("over_billed", Decimal("0.0001"))]
    (home.root / "settings.yaml").write_text("reconciliation:\n  tolerance_pct: 0.7\n  tolerance_usd: 0\n")
    run_pipeline(home, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 4), progress=_quiet)
    rows = _query(home, "select estimated_cost_usd, tolerance_usd from marts.billing_reconciliation where estimated_cost_usd > 0")
    # 0.7% of each estimate, exact in DECIMAL (it was a DOUBLE product: a DECIMAL divided by 100 is one in DuckDB)
    assert rows and all(tolerance == (estimate * Decimal("0.007")).quantize(Decimal("1e-15")) for estimate, tolerance in rows)


def test_bad_billing_rows_are_rejected_with_field_and_reason(home):
    header = "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,BilledCost,EffectiveCost,BillingCurrency,ProviderName,ServiceName\n"
    body = (
        "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,Usage,,1.50,1.50,USD,Microsoft,Azure OpenAI\n"
        "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,Refund,,1.50,1.50,USD,Microsoft,Azure OpenAI\n"
        "2026-10-01T00:00:00 CEST,2026-10-02T00:00:00Z,Usage,,1.50,1.50,USD,Microsoft,Azure OpenAI\n"
        "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,Usage,,one,1.50,USD,Microsoft,Azure OpenAI\n"
        "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,Usage,Correction,-0.25,-0.25,usd,Microsoft,Azure OpenAI\n"
        "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,Usage\n"
        "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,Usage,,3.00,3.00,USD,Microsoft,Virtual Machines\n"
        "2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,Usage,,1_500,1_500,USD,Microsoft,Azure OpenAI\n"  # DuckDB's cast reads 1500
    )
    _land_bill(home, "focus", "azure.csv", header + body)
    _land_bill(home, "focus", "notes.txt", "not a bill")
    _land_bill(home, "unknown_vendor", "bill.csv", header)
    run_pipeline(home, progress=_quiet)
    rejected = _query(home, "select source_file, row_number, field, reason from audit.rejected_rows order by row_number")
    assert rejected == [
        ("billing/focus/azure.csv", 2, "ChargeCategory", "not a FOCUS ChargeCategory (Usage, Purchase, Tax, Credit, Adjustment): Refund"),
        ("billing/focus/azure.csv", 3, "ChargePeriodStart", "not an ISO 8601 timestamp with an offset: 2026-10-01T00:00:00 CEST"),
        ("billing/focus/azure.csv", 4, "BilledCost", "not a number: one"),
        ("billing/focus/azure.csv", 6, "", "record has 3 cells, the header has 9"),
        ("billing/focus/azure.csv", 8, "BilledCost", "not a number: 1_500"),
    ]
    lines = _query(home, "select source_row, provider, billed_cost_usd, is_correction, correction_reason from core.billing_line_items order by source_row")
    assert lines == [
        (1, "azure_openai", Decimal("1.5"), False, None),
        (5, "azure_openai", Decimal("-0.25"), True, "the export marks it a correction (ChargeClass)"),
        (7, None, Decimal("3"), False, None),
    ]
    errors = dict(_query(home, "select path, error from audit.ingested_files where status = 'failed'"))
    assert errors == {
        "billing/focus/notes.txt": "unsupported file type for billing format 'focus' (expected .csv, .csv.gz, .parquet)",
        "billing/unknown_vendor/bill.csv": (
            "unknown billing format 'unknown_vendor' (files go under landing/billing/<format>/; "
            "supported: anthropic_costs, aws_cur, focus, gcp_billing, openai_costs)"
        ),
    }
    # Only the Azure OpenAI lines reconcile; the virtual machine line is kept but is not AI spend.
    recon = _query(home, "select provider, billed_cost_usd, corrections_usd, status from marts.billing_reconciliation")
    assert recon == [("azure_openai", Decimal("1.25"), Decimal("-0.25"), "billed_only")]


def test_a_billing_file_nested_deeper_than_json_can_be_read_fails_alone_named(home):
    """A cost-report page (one document, or one page per line) or a GCP export nested 3,000 deep — deeper than
    Python's JSON parser goes — is rejected whole with its reason, as an unreadable bill is, and the other bills load;
    it stopped the whole run with a RecursionError."""
    deep = "[" * 3000 + "]" * 3000
    _land_bill(home, "openai_costs", "deep.json", '{"object": "page", "data": ' + deep + "}")
    _land_bill(home, "openai_costs", "deep_pages.jsonl", '{"object": "page", "data": []}\n{"object": "page", "data": ' + deep + "}\n")
    _land_bill(home, "gcp_billing", "deep.json", deep)
    _land_bill(home, "openai_costs", "openai_org_costs_page.json", (FORMATS / "openai_org_costs_page.json").read_bytes())
    run_pipeline(home, progress=_quiet)
    rejected = dict(_query(home, "select source_file, reason from audit.rejected_rows"))
    assert rejected == {
        "billing/openai_costs/deep.json": "JSON nested too deeply to read",
        "billing/openai_costs/deep_pages.jsonl": "line 2: JSON nested too deeply to read",
        "billing/gcp_billing/deep.json": "JSON nested too deeply to read",
    }
    assert _query(home, "select count(*) from core.billing_line_items where source_format = 'openai_costs'") == [(1,)]


def test_a_bill_giving_a_key_twice_in_one_object_fails_alone_named(home):
    """An amount given twice in one cost result ({"value": 12.5, "value": 0.5}) has no one meaning (Python's JSON
    parser keeps the last, DuckDB's the first): the bill is rejected naming the key, as a document or one page a
    line, and the other bills load; a JSON parser's silent choice priced the bill at 0.5."""
    sample = json.loads((FORMATS / "openai_org_costs_page.json").read_text())
    page = json.dumps(sample)
    value = json.dumps(sample["data"][0]["results"][0]["amount"]["value"])
    twice = page.replace('"value": ' + value, '"value": ' + value + ', "value": 0.5', 1)
    assert twice != page
    _land_bill(home, "openai_costs", "twice.json", twice)
    _land_bill(home, "openai_costs", "twice_pages.jsonl", '{"object": "page", "data": []}\n' + twice + "\n")
    _land_bill(home, "openai_costs", "openai_org_costs_page.json", page)
    run_pipeline(home, progress=_quiet)
    rejected = dict(_query(home, "select source_file, reason from audit.rejected_rows"))
    reason = "the key 'value' is given twice in one object (which value is meant is ambiguous)"
    assert rejected == {"billing/openai_costs/twice.json": f"not read: {reason}", "billing/openai_costs/twice_pages.jsonl": f"line 2: {reason}"}
    assert _query(home, "select count(*) from core.billing_line_items where source_format = 'openai_costs'") == [(1,)]


def test_focus_parquet_and_redelivery_replace_and_withdraw(home):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = list(csv.DictReader(io.StringIO((FORMATS / "focus_1_2_bedrock_row.csv").read_text())))
    table = pa.table({k: [r[k] or None for r in rows] for k in rows[0]})
    table = table.set_column(0, "BilledCost", pa.array([Decimal("0.0024"), Decimal("-5.00")], pa.decimal128(18, 6)))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    _land_bill(home, "focus", "BILLING_PERIOD=2024-11/part-1.parquet", buffer.getvalue())
    _land_bill(home, "focus", "BILLING_PERIOD=2024-11/part-2.csv", (FORMATS / "focus_1_2_bedrock_row.csv").read_bytes())
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select count(*), sum(billed_cost_usd) from core.billing_line_items") == [(4, Decimal("-9.9952"))]
    # The export is delivered again with one part: the other part's rows are withdrawn.
    (home.landing / "billing" / "focus" / "BILLING_PERIOD=2024-11" / "part-2.csv").unlink()
    said: list[str] = []
    run_pipeline(home, progress=said.append)
    # the run said "1 file(s) ingested: 0 rows loaded" of the file that was withdrawn
    assert "landing/billing: 0 file(s) ingested, 1 no longer in landing: their rows withdrawn: 0 rows loaded, 0 rejected, 0 duplicate" in said
    assert _query(home, "select count(*), sum(billed_cost_usd) from core.billing_line_items") == [(2, Decimal("-4.9976"))]
    removed = _query(home, "select status, rows_read, error from audit.ingested_files where path like '%part-2.csv'")
    assert removed == [("removed", 0, "no longer in landing; its 2 rows were withdrawn")]


def test_bill_delivered_after_close_is_a_correction(home):
    _reconciliation_home(home)
    run_pipeline(home, progress=_quiet)
    close_month(home, "2026-10")
    _land_bill(home, "openai_costs", "late.json", _openai_page(dt.date(2026, 10, 4), [(f"{MODEL}, input", "0.05615")]))
    run_pipeline(home, progress=_quiet)
    late = _query(home, "select is_correction, correction_reason from core.billing_line_items where source_file like '%late.json'")
    assert late == [(True, "delivered after 2026-10 was closed")]
    assert _query(home, "select status, corrections_usd from marts.billing_reconciliation where charge_date = '2026-10-04'") == [
        ("matched", Decimal("0.05615"))
    ]
    # A copy of a bill delivered before the close, saved under a name that sorts first (`2026-10-02 (1).json`): its
    # lines count from the copy now, but the content was delivered before the close, so nothing is a correction (they
    # were all flagged, and the day's whole bill became corrections_usd)
    original = home.landing / "billing" / "openai_costs" / "2026-10-02.json"
    original.with_name("2026-10-02 (1).json").write_bytes(original.read_bytes())
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select source_file, is_correction from core.billing_line_items where charge_date = '2026-10-02'") == [
        ("billing/openai_costs/2026-10-02 (1).json", False)]
    assert _query(home, "select corrections_usd from marts.billing_reconciliation where charge_date = '2026-10-02'") == [(Decimal(0),)]
    # The first day pulled again after the close, with its credit restated: the line the pull repeats was delivered
    # before the close; only the changed credit is a correction (the whole day's bill was, $0.56 of usage with it)
    day_one = _query(home, "select billed_cost from core.billing_line_items where charge_date = '2026-10-01' and description is not null")
    _land_bill(home, "openai_costs", "2026-10-01 repull.json",
               _openai_page(dt.date(2026, 10, 1), [(f"{MODEL}, input", str(day_one[0][0])), (None, "-3.00")]))
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select billed_cost, is_correction from core.billing_line_items where charge_date = '2026-10-01' order by 1") == [
        (Decimal("-3.00"), True), (day_one[0][0], False)]
    assert _query(home, "select sum(corrections_usd) from marts.billing_reconciliation where charge_date = '2026-10-01'") == [(Decimal("-3.00"),)]
    # The third day pulled again with its line twice (two identical lines, as a CUR without resource ids has them): the
    # second is new after the close, a correction (lines were matched as a set, and the added $0.25 was not)
    _land_bill(home, "openai_costs", "2026-10-03 repull.json",
               _openai_page(dt.date(2026, 10, 3), [(f"{MODEL}, output", 0.25), (f"{MODEL}, output", 0.25)]))
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select billed_cost, is_correction from core.billing_line_items where charge_date = '2026-10-03' order by 2") == [
        (Decimal("0.25"), False), (Decimal("0.25"), True)]


def test_focus_export_has_every_column_and_sums_to_the_ledger(home, tmp_path, capsys):
    _reconciliation_home(home)
    land(home, "unknown.jsonl", [envelope("r_unknown", "openai", "gpt-6-preview", {"prompt_tokens": 5, "completion_tokens": 1})])
    # gpt-4o (not its audio preview) has no audio price: unpriced, on the day, model and tier of 10 priced requests
    audio = {"prompt_tokens": 50, "completion_tokens": 1, "prompt_tokens_details": {"audio_tokens": 40}}
    land(home, "audio.jsonl", [envelope("r_audio", "openai", MODEL, audio, timestamp="2026-10-01T13:00:00Z")])
    run_pipeline(home, progress=_quiet)
    ledger = _query(home, "select sum(cost_usd) from core.request_costs")[0][0]
    assert ledger == REQUEST_COST * 30
    assert _query(home, "select request_id, unpriced_reason from core.request_costs where not is_priced order by 1") == [
        ("r_audio", "no_price_for_bucket:audio_input"), ("r_unknown", "unknown_model")]
    for name in ("focus.parquet", "focus.csv"):
        out = tmp_path / name
        assert main(["export", "focus", "--home", str(home.root), "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "2 requests without a price are left out" in printed
        with duckdb.connect() as con:
            path = sql_literal(str(out))
            reader = f"read_parquet({path})" if name.endswith(".parquet") else f"read_csv({path}, all_varchar = true)"
            columns = [r[0] for r in con.execute(f"describe select * from {reader}").fetchall()]
            total, features, tier, unpriced, starts = con.execute(
                f"select sum(cast(EffectiveCost as decimal(38, 15))), string_agg(distinct x_feature), string_agg(distinct SkuPriceId), "
                f"sum(cast(x_unpriced_requests as int)), list(distinct cast(ChargePeriodStart as varchar) order by cast(ChargePeriodStart as varchar)) from {reader}"
            ).fetchall()[0]
        # the audio request is counted on its price entry's row; the unknown model has no price entry, so no row: only the
        # command's count
        assert unpriced == 1
        if name.endswith(".csv"):  # FOCUS 1.2 Date/Time Format (DuckDB wrote '2026-10-01 00:00:00+00')
            assert starts == ["2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "2026-10-04T00:00:00Z"]
        assert set(FOCUS_COLUMNS) <= set(columns)
        assert {"x_feature", "x_user_segment", "x_customer_id"} <= set(columns)
        assert total == ledger
        assert features == "support_chat"
        assert tier == f"openai/{MODEL}@2024-10-01/standard"
    # an output that is a folder, or under a file, is one line naming it (a traceback before)
    (tmp_path / "a_file").write_text("x")
    for out, message in ((tmp_path, f"tokenledger: {tmp_path} is a folder: name the file to write"),
                         (tmp_path / "a_file" / "f.parquet", f"tokenledger: cannot write {tmp_path / 'a_file' / 'f.parquet'}: ")):
        assert main(["export", "focus", "--home", str(home.root), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, err


def test_export_needs_a_warehouse(tmp_path, capsys):
    assert main(["export", "focus", "--home", str(tmp_path / "empty"), "--out", str(tmp_path / "f.parquet")]) == 2
    assert "run `tokenledger run` first" in capsys.readouterr().err
    assert main(["export", "focus", "--home", str(tmp_path / "empty"), "--out", str(tmp_path / "f.xlsx")]) == 2


def test_gcp_timestamps_as_bigquery_writes_them_load_as_utc(home):
    """`bq extract` and console downloads write a TIMESTAMP as `2025-10-06 07:00:00 UTC` (reported, with bq load
    reading the same form, in github.com/bxparks/bigquery-schema-generator issue #19); the row is the shared
    Cloud Billing export sample with its times in that form, one with a fraction of a second."""
    row = json.loads((FORMATS / "gcp_billing_export_v1_vertex_row.json").read_text())
    rows = []
    for start, end in (("2025-10-06 07:00:00 UTC", "2025-10-06 08:00:00 UTC"), ("2025-10-06 08:00:00.123456 UTC", "2025-10-06 09:00:00 UTC")):
        rows.append(json.dumps({**row, "usage_start_time": start, "usage_end_time": end, "export_time": "2025-10-06 10:12:00 UTC"}))
    rows.append(json.dumps({**row, "usage_start_time": "2025-10-06 09:00:00 CEST"}))  # a zone name other than UTC is not guessed
    _land_bill(home, "gcp_billing", "bq_extract.jsonl", "\n".join(rows) + "\n")
    run_pipeline(home, progress=_quiet)
    got = _query(home, "select strftime(timezone('UTC', charge_period_start), '%Y-%m-%d %H:%M:%S.%f'), "
                       "strftime(timezone('UTC', charge_period_end), '%Y-%m-%d %H:%M:%S'), charge_date, billed_cost "
                       "from core.billing_line_items where source_format = 'gcp_billing' order by all")
    assert got == [
        ("2025-10-06 07:00:00.000000", "2025-10-06 08:00:00", dt.date(2025, 10, 6), Decimal("0.0012")),
        ("2025-10-06 08:00:00.123456", "2025-10-06 09:00:00", dt.date(2025, 10, 6), Decimal("0.0012")),
    ]
    assert _query(home, "select row_number, field, reason from audit.rejected_rows") == [
        (3, "usage_start_time", "not an ISO 8601 timestamp with an offset: 2025-10-06 09:00:00 CEST")
    ]


def test_openai_cost_line_items_name_tier_model_bucket_and_band():
    """line_item strings as the Costs API (/v1/organization/costs, group_by line_item) writes them in a real
    organisation's export: a tier before `|`, a long-context band after the kind, an audio model's bucket after its
    name, and fee lines that name no model."""
    from pipelines.records.billing.formats import parse_openai_costs

    items = [
        ("priority | gpt-5.6-sol, output, long context", "1.50"),
        ("gpt-audio-mini-2025-12-15 audio, input", "0.20"),
        ("gpt-audio-mini-2025-12-15, output", "0.10"),
        ("gpt-4o-2024-08-06, batch input", "0.05"),
        ("flex | o3-2025-04-16, cached input", "0.01"),
        ("web search tool calls", "0.30"),
        ("gpt-4o-2024-08-06, input", "0.40"),
    ]
    result = parse_openai_costs(_openai_page(dt.date(2026, 11, 2), items).encode(), "costs.json")
    assert result.rejected.num_rows == 0
    assert [(r["model"], r["token_bucket"], r["service_tier"]) for r in result.rows.to_pylist()] == [
        ("gpt-5.6-sol", "output", "priority"),
        ("gpt-audio-mini-2025-12-15", "audio_input", None),
        ("gpt-audio-mini-2025-12-15", "output", None),
        ("gpt-4o-2024-08-06", "input", "batch"),
        ("o3-2025-04-16", "cache_read", "flex"),
        (None, None, None),
        ("gpt-4o-2024-08-06", "input", None),
    ]


def test_azure_foundry_meters_and_vertex_caching_skus_get_provider_and_bucket():
    """FOCUS rows Azure exports for its current service name "Foundry Models" with the abbreviated meters Azure
    writes (`gpt-4o-0806-Inp-glbl`, `...-Outp-glbl`, `...-cached-Inp-glbl`), and a Vertex AI SKU "Input Text
    Caching" (a cache read) beside "Context Caching Storage" (storage by the hour, no token bucket)."""
    from pipelines.records.billing.clouds import parse_gcp_billing
    from pipelines.records.billing.formats import parse_focus

    with open(FORMATS / "focus_1_2_bedrock_row.csv", newline="") as handle:
        template = next(csv.DictReader(handle))
    rows = []
    for meter, cost in (("gpt-4o-0806-Inp-glbl", "0.50"), ("gpt-4o-0806-Outp-glbl", "1.00"), ("gpt-4o-0806-cached-Inp-glbl", "0.05")):
        rows.append({**template, "ServiceName": "Foundry Models", "ProviderName": "Microsoft", "PublisherName": "Microsoft",
                     "InvoiceIssuerName": "Microsoft", "SkuMeter": meter, "ChargeDescription": meter, "BilledCost": cost,
                     "EffectiveCost": cost, "ListCost": cost, "ContractedCost": cost, "Tags": ""})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(template))
    writer.writeheader()
    writer.writerows(rows)
    focus = parse_focus(out.getvalue().encode(), "azure.csv")
    assert focus.rejected.num_rows == 0
    assert [(r["provider"], r["token_bucket"]) for r in focus.rows.to_pylist()] == [
        ("azure_openai", "input"), ("azure_openai", "output"), ("azure_openai", "cache_read")]

    gcp = json.loads((FORMATS / "gcp_billing_export_v1_vertex_row.json").read_text())
    lines = [json.dumps({**gcp, "sku": {**gcp["sku"], "description": sku}}) for sku in
             ("Gemini 2.5 Pro Input Text Caching", "Gemini 2.5 Pro Context Caching Storage", "Gemini 2.5 Pro Text Input")]
    vertex = parse_gcp_billing(("\n".join(lines) + "\n").encode(), "gcp.jsonl")
    assert vertex.rejected.num_rows == 0
    assert [r["token_bucket"] for r in vertex.rows.to_pylist()] == ["cache_read", None, "input"]


def _cur(rows: list[dict]) -> bytes:
    """CUR 2.0 rows with the shared sample's columns, plus product_product_name and bill_billing_entity."""
    with open(FORMATS / "aws_cur2_bedrock_rows.csv", newline="") as handle:
        template = next(csv.DictReader(handle))
    base = {**template, "line_item_operation": "", "pricing_unit": "", "line_item_unblended_rate": "", "product_product_name": "",
            "bill_billing_entity": "AWS"}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(base))
    writer.writeheader()
    writer.writerows({**base, **row} for row in rows)
    return out.getvalue().encode()


def test_claude_on_bedrock_billed_through_aws_marketplace_is_bedrock_usage():
    """Anthropic's models on Bedrock are an AWS Marketplace product in the CUR: product_product_name "Claude Sonnet
    4.6 (Amazon Bedrock Edition)", a Marketplace product code, usage types USE1-MP:USE1_InputTokenCount-Units."""
    from pipelines.records.billing.clouds import parse_aws_cur

    marketplace = {"line_item_product_code": "prod-2r3dl0z2j1yk4g6m", "product_servicecode": "",
                   "product_product_name": "Claude Sonnet 4.6 (Amazon Bedrock Edition)", "bill_billing_entity": "AWS Marketplace"}
    rows = [
        {**marketplace, "line_item_usage_type": "USE1-MP:USE1_InputTokenCount-Units", "line_item_usage_amount": "1000000", "line_item_unblended_cost": "3.00"},
        {**marketplace, "line_item_usage_type": "USE1-MP:USE1_OutputTokenCount-Units", "line_item_usage_amount": "100000", "line_item_unblended_cost": "1.50"},
        {**marketplace, "line_item_usage_type": "USE1-MP:USE1_CacheReadInputTokenCount-Units", "line_item_usage_amount": "1000000", "line_item_unblended_cost": "0.30"},
        {**marketplace, "line_item_usage_type": "USE1-MP:USE1_CacheWriteInputTokenCount-Units", "line_item_usage_amount": "1000000", "line_item_unblended_cost": "3.75"},
        {"line_item_product_code": "AmazonEC2", "product_servicecode": "AmazonEC2", "line_item_usage_type": "USE1-BoxUsage:m5.large",
         "line_item_usage_amount": "24", "line_item_unblended_cost": "2.30", "product_product_name": "Amazon Elastic Compute Cloud"},
    ]
    result = parse_aws_cur(_cur(rows), "cur.csv")
    assert result.rejected.num_rows == 0
    assert [(r["provider"], r["model"], r["token_bucket"], r["bill_provider"], r["unit"]) for r in result.rows.to_pylist()] == [
        ("aws_bedrock", "Claude Sonnet 4.6", "input", "AWS Marketplace", "tokens"),
        ("aws_bedrock", "Claude Sonnet 4.6", "output", "AWS Marketplace", "tokens"),
        ("aws_bedrock", "Claude Sonnet 4.6", "cache_read", "AWS Marketplace", "tokens"),
        ("aws_bedrock", "Claude Sonnet 4.6", "cache_write_5m", "AWS Marketplace", "tokens"),
        (None, None, None, "AWS", None),
    ]


@pytest.mark.parametrize(
    ("usage_type", "bucket", "tier"),
    [
        ("USE1-MP:USE1_InputTokenCount-Units", "input", None),
        ("USE1-MP:USE1_InputTokenCount_Batch-Units", "input", "batch"),
        ("USE1-MP:USE1_InputTokenCount_Global_Batch-Units", "input", "batch"),
        ("USE1-MP:USE1_output_tokens_batch-Units", "output", "batch"),
        ("USE1-MP:USE1_MillionBatchInputTokens-Units", "input", "batch"),
        ("USW2-MP:USW2_cache_read_tokens_standard-Units", "cache_read", None),
        ("USE1-MP:USE1_CacheWrite1hInputTokenCount_Global-Units", "cache_write_1h", None),
        ("USE1-MP:USE1_cache_write_tokens_1h_long_ctx_global_standard-Units", "cache_write_1h", None),
        ("USE1-MP:USE1_Reserved_3Month_OutputTPM_Global-Units", None, None),
        ("USE1-MP:USE1_Reserved_1Month_InputTokensPerMinute-Units", None, None),
        ("USE1-MP:output_tokens_batch-Units", "output", "batch"),  # no region code after MP:
        ("USE1-MP:USE1_InputImageCount-Units", None, None),
    ],
)
def test_a_bedrock_marketplace_usage_type_names_its_tier_and_only_tokens_name_a_bucket(usage_type, bucket, tier):
    """The Marketplace usage types of Claude (and other third-party models) on Bedrock, in the AWS Price List's
    AmazonBedrockFoundationModels products: CamelCase (`InputTokenCount_Global_Batch`) and the newer snake case
    (`output_tokens_batch`, `cache_write_tokens_1h_long_ctx_global_standard`). A batch row was stored without its
    tier, and a reserved-throughput commitment (`OutputTPM`) or an image count as output or input tokens."""
    from pipelines.records.billing.clouds import parse_aws_cur

    row = {"line_item_product_code": "prod-2r3dl0z2j1yk4g6m", "product_servicecode": "", "line_item_usage_type": usage_type,
           "product_product_name": "Claude Sonnet 4.6 (Amazon Bedrock Edition)", "line_item_usage_amount": "10",
           "line_item_unblended_cost": "1.10"}
    result = parse_aws_cur(_cur([row]), "cur.csv")
    assert result.rejected.num_rows == 0
    [line] = result.rows.to_pylist()
    assert (line["provider"], line["model"], line["token_bucket"], line["service_tier"]) == (
        "aws_bedrock", "Claude Sonnet 4.6", bucket, tier)


def test_claude_on_bedrock_is_found_in_cur2s_product_map_as_csv_and_parquet():
    """CUR 2.0 has no product_product_name column: `product` is a map<string,string> holding product_name (AWS Data
    Exports, "CUR 2.0 table dictionary: product", docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2-product.html).
    A CSV export writes the map as JSON text, a Parquet export as a map. Neither was read: the Marketplace rows of
    Claude on Bedrock had no provider and never reached the reconciliation."""
    from pipelines.records.billing.clouds import parse_aws_cur

    def product(name: str) -> dict:
        return {"product_name": name, "region": "us-east-1"}

    rows = [
        {"line_item_product_code": "prod-2r3dl0z2j1yk4g6m", "line_item_usage_type": "USE1-MP:USE1_InputTokenCount-Units",
         "line_item_usage_amount": "1000000", "line_item_unblended_cost": "3.30", "product": product("Claude Sonnet 4.6 (Amazon Bedrock Edition)")},
        {"line_item_product_code": "AmazonEC2", "line_item_usage_type": "USE1-BoxUsage:m5.large", "line_item_usage_amount": "24",
         "line_item_unblended_cost": "2.30", "product": product("Amazon Elastic Compute Cloud")},
    ]
    common = {"bill_billing_period_start_date": "2026-11-01T00:00:00.000Z", "line_item_usage_start_date": "2026-11-02T00:00:00.000Z",
              "line_item_usage_end_date": "2026-11-03T00:00:00.000Z", "line_item_line_item_type": "Usage",
              "line_item_usage_account_id": "333344445555", "line_item_currency_code": "USD"}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*common, *rows[0]])
    writer.writeheader()
    writer.writerows({**common, **row, "product": json.dumps(row["product"])} for row in rows)
    as_csv = parse_aws_cur(out.getvalue().encode(), "cur2.csv")
    table = pa.table({**{k: [v] * 2 for k, v in common.items()}, **{k: [r[k] for r in rows] for k in rows[0] if k != "product"},
                      "product": pa.array([list(r["product"].items()) for r in rows], pa.map_(pa.string(), pa.string()))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    as_parquet = parse_aws_cur(buffer.getvalue(), "cur2.parquet")
    for result in (as_csv, as_parquet):
        assert result.rejected.num_rows == 0
        assert [(r["provider"], r["model"], r["token_bucket"], r["bill_provider"]) for r in result.rows.to_pylist()] == [
            ("aws_bedrock", "Claude Sonnet 4.6", "input", "AWS Marketplace"), (None, None, None, "AWS")]


@pytest.mark.parametrize(
    ("usage_type", "model", "bucket", "tier"),
    [
        ("USE1-Claude2.0-input-tokens", "Claude2.0", "input", None),
        ("USE1-moonshotai.kimi-k2.5-input", "moonshotai.kimi-k2.5", "input", None),
        ("USE1-moonshotai.kimi-k2.5-output", "moonshotai.kimi-k2.5", "output", None),
        ("USE1-anthropic.claude-sonnet-4-5-20250929-v1:0-output-tokens-cross-region-global", "anthropic.claude-sonnet-4-5-20250929-v1:0", "output", None),
        ("USW2-anthropic.claude-haiku-4-5-20251001-v1:0-cache-write-input-token-count-1-hour", "anthropic.claude-haiku-4-5-20251001-v1:0", "cache_write_1h", None),
        ("USE1-anthropic.claude-haiku-4-5-20251001-v1:0-cache-write-input-token-count", "anthropic.claude-haiku-4-5-20251001-v1:0", "cache_write_5m", None),
        ("EUC1-meta.llama3-1-70b-instruct-v1:0-input-tokens-batch", "meta.llama3-1-70b-instruct-v1:0", "input", "batch"),
        ("USE1-amazon.nova-pro-v1:0-cache-read-input-token-count-flex", "amazon.nova-pro-v1:0", "cache_read", "flex"),
    ],
)
def test_bedrock_usage_types_give_model_bucket_ttl_and_tier(usage_type, model, bucket, tier):
    """Usage-type forms of AWS's Bedrock price list: with and without `-tokens`, `-cross-region-global`, 1-hour
    cache writes, batch and flex."""
    from pipelines.records.billing.clouds import parse_aws_cur

    result = parse_aws_cur(_cur([{"line_item_usage_type": usage_type}]), "cur.csv")
    assert [(r["provider"], r["model"], r["token_bucket"], r["service_tier"]) for r in result.rows.to_pylist()] == [
        ("aws_bedrock", model, bucket, tier)]


def test_a_first_run_with_bills_and_no_gateway_requests_succeeds(home, capsys):
    """Finance often drops bills in before any gateway log: `tokenledger run` exits 0, says there is no spend yet,
    and the bill is reconciled against no estimate."""
    _land_bill(home, "openai_costs", "costs.json", _openai_page(dt.date(2026, 11, 2), [("gpt-4o-2024-08-06, input", "0.40")]))
    code = main(["run", "--home", str(home.root)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "no spend yet" in out
    assert _query(home, "select provider, model, estimated_cost_usd, billed_cost_usd from marts.billing_reconciliation") == [
        ("openai", "gpt-4o-2024-08-06", Decimal(0), Decimal("0.4"))]


def test_the_pages_of_one_pull_landed_as_separate_files_add_up(home):
    """docs/billing.md: follow next_page and land every page, one page per file allowed. An analytics pull whose two
    pages hold the same workspace-day (one model each) counted only the newest file: the haiku line was lost. A page
    pulled again still replaces its own line."""
    page = lambda model, cents, more: json.dumps({  # noqa: E731
        "data": [{"starting_at": "2026-10-04T00:00:00Z", "ending_at": "2026-10-05T00:00:00Z",
                  "group": {"workspace_id": "wrk_split", "model": model, "service_tier": "standard", "cost_type": "tokens",
                            "token_type": "output_tokens"}, "cost": {"amount": cents, "currency": "USD"}}],
        "has_more": more, "next_page": "p2" if more else None})
    _land_bill(home, "anthropic_costs", "analytics-page-1.json", page("claude-haiku-4-5", "10000", True))
    _land_bill(home, "anthropic_costs", "analytics-page-2.json", page("claude-sonnet-4-5", "20000", False))
    run_pipeline(home, progress=_quiet)
    lines = "select model, billed_cost from core.billing_line_items where account = 'wrk_split' order by model"
    assert _query(home, lines) == [("claude-haiku-4-5", Decimal("100")), ("claude-sonnet-4-5", Decimal("200"))]
    _land_bill(home, "anthropic_costs", "analytics-repull.json", page("claude-sonnet-4-5", "25000", False))
    run_pipeline(home, progress=_quiet)
    assert _query(home, lines) == [("claude-haiku-4-5", Decimal("100")), ("claude-sonnet-4-5", Decimal("250"))]


def test_a_repull_that_reverts_to_an_earlier_pulls_content_is_the_newest(home):
    """A day pulled (1.00), pulled again after the provider restated it (2.00), then pulled a third time after it
    reverted: the third file is byte for byte the first. The latest pull counts (1.00, from the third file), though its
    content was first delivered with the first (a copy's delivery time must not make it older than the pull between)."""
    day = dt.date(2026, 10, 5)
    _land_bill(home, "openai_costs", "2026-10-05.json", _openai_page(day, [(f"{MODEL}, input", "1.00")]))
    run_pipeline(home, progress=_quiet)
    _land_bill(home, "openai_costs", "2026-10-05 r1.json", _openai_page(day, [(f"{MODEL}, input", "2.00")]))
    run_pipeline(home, progress=_quiet)
    _land_bill(home, "openai_costs", "2026-10-05 r2.json", _openai_page(day, [(f"{MODEL}, input", "1.00")]))
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select billed_cost, source_file, is_correction from core.billing_line_items where charge_date = ?", [day]) == [
        (Decimal("1"), "billing/openai_costs/2026-10-05 r2.json", False)]


def test_a_paged_line_that_returns_after_the_close_to_an_earlier_content_is_a_correction(home):
    """A day pulled at 1.00, restated to 2.00 before the close (the closed month holds 2.00), then pulled after the
    close at 1.00 again: the line changed what was closed, so it is a correction, though its content was first
    delivered before the close (it was not flagged, and the month's closed 2.00 silently became 1.00). Pulled once more
    at 1.00 (the same bytes): still the same correction. A day whose re-pull after the close repeats it is not one."""
    _reconciliation_home(home)  # requests in 2026-10, so the month can be closed
    day, same = dt.date(2026, 10, 5), dt.date(2026, 10, 6)
    _land_bill(home, "openai_costs", "2026-10-05.json", _openai_page(day, [(f"{MODEL}, input", "1.00")]))
    # two lines of one key (the same model, bucket and dimensions) in one pull, both repeated after the close
    _land_bill(home, "openai_costs", "2026-10-06.json", _openai_page(same, [(f"{MODEL}, input", "3.00"), (f"{MODEL}, input", "4.00")]))
    run_pipeline(home, progress=_quiet)
    _land_bill(home, "openai_costs", "2026-10-05 r1.json", _openai_page(day, [(f"{MODEL}, input", "2.00")]))
    run_pipeline(home, progress=_quiet)
    close_month(home, "2026-10")
    _land_bill(home, "openai_costs", "2026-10-05 r2.json", _openai_page(day, [(f"{MODEL}, input", "1.00")]))
    _land_bill(home, "openai_costs", "2026-10-06 r1.json", _openai_page(same, [(f"{MODEL}, input", "4.00"), (f"{MODEL}, input", "3.00")]))
    run_pipeline(home, progress=_quiet)
    query = ("select charge_date, billed_cost, source_file, is_correction, correction_reason from core.billing_line_items "
             "where charge_date >= '2026-10-05' order by 1, 2")
    expected = [
        (day, Decimal("1"), "billing/openai_costs/2026-10-05 r2.json", True, "changed after 2026-10 was closed"),
        (same, Decimal("3"), "billing/openai_costs/2026-10-06 r1.json", False, None),
        (same, Decimal("4"), "billing/openai_costs/2026-10-06 r1.json", False, None),
    ]
    assert _query(home, query) == expected
    _land_bill(home, "openai_costs", "2026-10-05 r3.json", _openai_page(day, [(f"{MODEL}, input", "1.00")]))
    run_pipeline(home, progress=_quiet)
    assert _query(home, query) == expected  # r3 is r2 byte for byte: a copy, its first path's lines count


def test_the_same_export_landed_under_two_names_is_billed_once(home):
    """A FOCUS export saved twice (`export-2026-10.csv` and `export-2026-10 (1).csv`) doubled the billed cost and
    showed the day over-billed. Files of the same content count once, the first path's, whatever was read first."""
    export = ("BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ProviderName,ServiceName,EffectiveCost,SubAccountId\n"
              "10.00,USD,2026-10-03T00:00:00Z,2026-10-04T00:00:00Z,Usage,OpenAI,OpenAI API,10.00,dupfile\n")
    _land_bill(home, "focus", "export-2026-10 (1).csv", export)
    run_pipeline(home, progress=_quiet)
    _land_bill(home, "focus", "export-2026-10.csv", export)
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select billed_cost, source_file from core.billing_line_items where account = 'dupfile'") == [
        (Decimal("10"), "billing/focus/export-2026-10 (1).csv")]


def test_openai_cost_lines_of_different_api_keys_add_up_and_a_repull_replaces_its_own(home):
    """The Costs API can be pulled per API key (`api_key_ids`; each result names its `api_key_id`): two pulls of one
    day, project and line item for different keys are different lines. The later file replaced the earlier one's lines
    whole: key_A's $4 and key_B's $6 were lost to key_C's $8, with nothing in the audit."""
    day = dt.date(2026, 11, 2)

    def page(keys: list[tuple[str, str]]) -> str:
        document = json.loads(_openai_page(day, [("gpt-4.1-2025-04-14, input", value) for _, value in keys]))
        for result, (key, _) in zip(document["data"][0]["results"], keys):
            result["api_key_id"] = key
        return json.dumps(document)

    _land_bill(home, "openai_costs", "keys-a-b.json", page([("key_A", "4.00"), ("key_B", "6.00")]))
    _land_bill(home, "openai_costs", "key-c.json", page([("key_C", "8.00")]))
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select sum(billed_cost_usd) from core.billing_line_items") == [(Decimal("18"),)]
    _land_bill(home, "openai_costs", "key-a-again.json", page([("key_A", "5.00")]))  # key_A's day pulled again
    run_pipeline(home, progress=_quiet)
    rows = _query(home, "select extra ->> 'api_key_id', billed_cost_usd from core.billing_line_items order by 1")
    assert rows == [("key_A", Decimal("5")), ("key_B", Decimal("6")), ("key_C", Decimal("8"))]


def test_a_focus_csv_writing_null_as_the_text_NULL_loads_every_row():
    """SQL engines export an empty cell as the text NULL, and so does the FOCUS project's sample data: a Credit row
    with `NULL` in ListUnitPrice, ConsumedQuantity and PricingQuantity was rejected ("not a number: NULL")."""
    from pipelines.records.billing.formats import parse_focus

    with open(FORMATS / "focus_1_2_bedrock_row.csv", newline="") as handle:
        usage, credit = list(csv.DictReader(handle))[:2]
    nulls = {name: "NULL" for name in ("ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit", "ListUnitPrice",
                                      "ContractedUnitPrice", "SkuId", "SkuMeter", "ResourceId", "Tags")}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(usage))
    writer.writeheader()
    writer.writerows([usage, {**credit, **nulls}])
    focus = parse_focus(out.getvalue().encode(), "focus-sample.csv")
    assert focus.rejected.num_rows == 0
    usage_extra = focus.rows.to_pylist()[0]["extra"]
    assert "user:team" in usage_extra
    assert [(r["charge_category"], r["billed_cost"], r["token_bucket"], r["quantity"], r["extra"]) for r in focus.rows.to_pylist()] == [
        ("usage", Decimal("0.0024"), "cache_read", Decimal("8000"), usage_extra), ("credit", Decimal("-5"), None, None, None)]
    written = parse_focus(out.getvalue().replace(",NULL,", ",NaN,", 1).encode(), "focus-sample.csv")
    assert written.rejected.num_rows == 1  # only the exact text NULL is empty: another word in a number is still refused


def test_a_credit_reversal_adds_back_what_it_reverses():
    """A credit keeps the sign the export gave it. FOCUS writes a credit negative and its reversal as a positive Credit
    row of ChargeClass `Correction` (FOCUS 1.2, ChargeClass: "a correction to one or more charges invoiced in a previous
    billing period"); CUR reverses a Credit line with a positive one; a GCP row's `credits[]` may hold a credit and its
    reversal. Each credit and its reversal net to zero (every credit was made negative, so a reversal doubled it)."""
    from pipelines.records.billing.clouds import parse_aws_cur, parse_gcp_billing
    from pipelines.records.billing.formats import parse_focus

    with open(FORMATS / "focus_1_2_bedrock_row.csv", newline="") as handle:
        template = next(csv.DictReader(handle))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(template))
    writer.writeheader()
    for cost, charge_class in (("-5.00", ""), ("5.00", "Correction")):
        writer.writerow({**template, "ChargeCategory": "Credit", "ChargeClass": charge_class, "BilledCost": cost,
                         "EffectiveCost": cost, "ListCost": "0", "ContractedCost": "0"})
    focus = parse_focus(out.getvalue().encode(), "focus.csv")
    assert focus.rejected.num_rows == 0
    assert [(r["charge_category"], r["billed_cost"]) for r in focus.rows.to_pylist()] == [("credit", Decimal("-5")), ("credit", Decimal("5"))]

    cur = parse_aws_cur(_cur([{"line_item_line_item_type": "Credit", "line_item_unblended_cost": "-3.00"},
                              {"line_item_line_item_type": "Credit", "line_item_unblended_cost": "3.00"}]), "cur.csv")
    assert cur.rejected.num_rows == 0
    assert sum(r["billed_cost"] for r in cur.rows.to_pylist()) == 0

    gcp = json.loads((FORMATS / "gcp_billing_export_v1_vertex_row.json").read_text())
    row = {**gcp, "credits": [{"name": "Free trial credit", "amount": -1.0}, {"name": "Free trial credit", "amount": 1.5}]}
    vertex = parse_gcp_billing((json.dumps(row) + "\n").encode(), "gcp.jsonl")
    assert vertex.rejected.num_rows == 0
    assert vertex.rows.to_pylist()[0]["included_credits"] == Decimal("0.5")


def test_a_gcp_rounding_error_row_is_an_adjustment_however_its_cost_type_is_spelled():
    """Google's page on the detailed export's schema spells the cost type "rounding error", and code reading the export
    matches both that and `rounding_error`: either is an adjustment, never usage compared with the requests' cost."""
    from pipelines.records.billing.clouds import parse_gcp_billing

    gcp = json.loads((FORMATS / "gcp_billing_export_v1_vertex_row.json").read_text())
    rows = [json.dumps({**gcp, "cost_type": cost_type}) for cost_type in ("regular", "rounding_error", "rounding error", "Tax")]
    parsed = parse_gcp_billing(("\n".join(rows) + "\n").encode(), "gcp.jsonl")
    assert parsed.rejected.num_rows == 0
    assert [r["charge_category"] for r in parsed.rows.to_pylist()] == ["usage", "adjustment", "adjustment", "tax"]


def test_a_bill_line_in_a_currency_without_a_rate_is_unknown_not_zero(home):
    """A FOCUS line billed in GBP with no GBP rate in landing/fx has no USD amount: the day's bill is unknown
    (status no_fx_rate, billed and variance null), not $0 against the estimate and `under_billed`. With the rate
    landed it reconciles (0.0163125 GBP / 0.75 = 0.02175 USD)."""
    land(home, "day.jsonl", [envelope("r1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 5_000, "completion_tokens": 925})])
    header = "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,BilledCost,EffectiveCost,BillingCurrency,ProviderName,ServiceName\n"
    _land_bill(home, "focus", "gbp.csv", header + "2026-11-27T00:00:00Z,2026-11-28T00:00:00Z,Usage,,0.0163125,0.0163125,GBP,OpenAI,OpenAI API\n")
    summary = run_pipeline(home, progress=_quiet)
    query = "select estimated_cost_usd, billed_cost_usd, variance_usd, status, unconverted_lines from marts.billing_reconciliation"
    # gpt-4o-2024-08-06: 5,000 x $2.50 + 925 x $10 per 1M = 0.02175
    assert _query(home, query) == [(Decimal("0.02175"), None, None, "no_fx_rate", 1)]
    assert any("a currency without an exchange rate" in warning for warning in summary.warnings)
    (home.landing / "fx").mkdir(parents=True)
    (home.landing / "fx" / "rates.csv").write_text("date,currency,rate\n2026-11-01,GBP,0.75\n")
    run_pipeline(home, progress=_quiet)
    assert _query(home, query) == [(Decimal("0.02175"), Decimal("0.02175"), Decimal("0"), "matched", 0)]
