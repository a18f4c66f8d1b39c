"""Anthropic's Usage and Cost Analytics API cost report in the `anthropic_costs` folder: a page shaped as documented, typed
to the cent, reconciled against the requests of its day, and broken pages and rows rejected with field and reason.

Sources for the shape and the units (GET /v1/organizations/analytics/cost, beta header analytics-usage-cost-2026-08-24):

- Usage and Cost Analytics API guide, https://platform.claude.com/docs/en/manage-claude/usage-cost-analytics-api: the
  two endpoints, `/v1/organizations/analytics/cost` reporting cost in USD; the Admin API cost report is the legacy one.
- API reference, https://platform.claude.com/docs/en/api/python/beta/organization/analytics/cost (and the Go, Java and
  C# pages beside it): `list` returns a ReportPageCursor of BetaAnalyticsCostItem {cost, ending_at, group,
  starting_at}; `cost` is BetaAnalyticsCostMetrics {amount: "Amount (post-discount, pre-credit) in fractional cents
  (minor units)", currency: "Currently always USD", list_amount: "List-price amount (pre-discount) in fractional
  cents", requests: null when group_by includes cost_type or token_type}; `starting_at` / `ending_at` are RFC 3339 UTC
  timestamps, the row's time bucket when a time-bucket width is set; `group` (BetaAnalyticsCostGroup) holds "the
  dimension values one cost row is broken out by, including cost_type and token_type", each null unless grouped by.
- Model classes of the Ruby SDK, https://rubydoc.info/github/anthropics/anthropic-sdk-ruby/Anthropic/Models/Beta/Organization/Analytics/
  (BetaAnalyticsCostItem, BetaAnalyticsCostMetrics: amount, currency and list_amount are Strings; BetaAnalyticsUsageGroup:
  the dimension names) and .../Anthropic/Internal/ReportPageCursor (a page is `data`, `next_page`, `has_more`,
  `data_refreshed_at`).
- The values of cost_type (tokens, web_search, code_execution) and token_type (uncached_input_tokens, output_tokens,
  cache_read_input_tokens, cache_creation.ephemeral_5m_input_tokens, cache_creation.ephemeral_1h_input_tokens) are the
  SDK's BetaAnalyticsCostType and BetaAnalyticsTokenType (anthropic-sdk-python, src/anthropic/types/beta/organization/).

The reference documents the schema field by field; no published example response body was found, so
tests/fixtures/billing/anthropic_analytics/cost_page.json is that schema filled in: every documented group dimension
present (null when not grouped by), amounts as decimal strings of fractional cents, a daily time bucket per row. Its
amounts are illustrative.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
from helpers import envelope, land

from pipelines.records.billing import BILLING_SCHEMA, parse_anthropic_costs
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

PAGE = Path(__file__).resolve().parent / "fixtures" / "billing" / "anthropic_analytics" / "cost_page.json"
LEGACY_PAGE = Path(__file__).resolve().parent / "fixtures" / "billing" / "anthropic_cost_report_page.json"
WORKSPACE = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
DAY = dt.date(2026, 10, 6)
DIMENSIONS = json.loads(PAGE.read_text())["data"][0]["group"].keys()


def _quiet(_: str) -> None:
    return None


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _land_bill(home: Home, name: str, content: str | bytes) -> None:
    path = home.landing / "billing" / "anthropic_costs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def _row(amount: object, model: str | None, token_type: str | None, *, tier: str | None = "standard", cost_type: str = "tokens",
         start: str = f"{DAY}T00:00:00Z", end: str = f"{DAY + dt.timedelta(days=1)}T00:00:00Z", **cost) -> dict:
    """One analytics cost row grouped by model, service_tier, workspace_id, cost_type and token_type."""
    group = {name: None for name in DIMENSIONS}
    group.update(model=model, service_tier=tier if model else None, workspace_id=WORKSPACE, cost_type=cost_type, token_type=token_type)
    return {"starting_at": start, "ending_at": end, "group": group,
            "cost": {"amount": amount, "currency": "USD", "list_amount": amount, "requests": None, **cost}}


def _page(*rows: dict) -> str:
    return json.dumps({"data": list(rows), "has_more": False, "next_page": None, "data_refreshed_at": f"{DAY + dt.timedelta(days=2)}T06:00:00Z"})


def test_a_documented_page_is_typed_to_the_cent():
    parsed = parse_anthropic_costs(PAGE.read_bytes(), PAGE.name)
    assert parsed.rejected.num_rows == 0
    assert parsed.rows.schema == BILLING_SCHEMA
    assert parsed.rows.schema.field("billed_cost").type == pa.decimal128(38, 15)
    rows = [
        (r["source_row"], r["charge_date"], r["account"], r["model"], r["token_bucket"], r["service_tier"], r["unit"],
         r["billed_cost"], r["effective_cost"], r["list_cost"], r["currency"], r["charge_category"], json.loads(r["extra"]))
        for r in parsed.rows.to_pylist()
    ]
    oct6, oct7 = dt.date(2026, 10, 6), dt.date(2026, 10, 7)
    sonnet, tokens = "claude-sonnet-4-5", {"cost_type": "tokens", "context_window": "0-200k"}
    assert rows == [
        # "123.78912" fractional cents: $1.2378912
        (1, oct6, WORKSPACE, sonnet, "input", "standard", "tokens", Decimal("1.2378912"), Decimal("1.2378912"), Decimal("1.2378912"),
         "USD", "usage", {**tokens, "token_type": "uncached_input_tokens"}),
        (2, oct6, WORKSPACE, sonnet, "output", "standard", "tokens", Decimal("4.563"), Decimal("4.563"), Decimal("4.563"),
         "USD", "usage", {**tokens, "token_type": "output_tokens"}),
        (3, oct6, WORKSPACE, sonnet, "cache_read", "standard", "tokens", Decimal("0.120045"), Decimal("0.120045"), Decimal("0.120045"),
         "USD", "usage", {**tokens, "token_type": "cache_read_input_tokens"}),
        (4, oct6, WORKSPACE, sonnet, "cache_write_5m", "standard", "tokens", Decimal("0.3075"), Decimal("0.3075"), Decimal("0.3075"),
         "USD", "usage", {**tokens, "token_type": "cache_creation.ephemeral_5m_input_tokens"}),
        (5, oct6, WORKSPACE, sonnet, "cache_write_1h", "standard", "tokens", Decimal("0.08"), Decimal("0.08"), Decimal("0.08"),
         "USD", "usage", {**tokens, "token_type": "cache_creation.ephemeral_1h_input_tokens"}),
        # the default workspace (no id); the batch tier by its name; the list price above the amount paid
        (6, oct6, None, "claude-haiku-4-5", "input", "batch", "tokens", Decimal("0.0004"), Decimal("0.0004"), Decimal("0.0005"),
         "USD", "usage", {**tokens, "token_type": "uncached_input_tokens"}),
        # Priority Tier, which the analytics report carries (the legacy cost report does not)
        (7, oct6, WORKSPACE, "claude-opus-4-1", "output", "priority", "tokens", Decimal("2.50125"), Decimal("2.50125"), Decimal("2.50125"),
         "USD", "usage", {**tokens, "token_type": "output_tokens"}),
        # non-token costs: web search is the warehouse's web_search bucket, code execution has none
        (8, oct6, None, None, "web_search", None, None, Decimal("1"), Decimal("1"), Decimal("1"), "USD", "usage", {"cost_type": "web_search"}),
        (9, oct6, None, None, None, None, None, Decimal("0.05"), Decimal("0.05"), Decimal("0.05"), "USD", "usage", {"cost_type": "code_execution"}),
        # the second day's bucket: its own charge date
        (10, oct7, WORKSPACE, sonnet, "output", "standard", "tokens", Decimal("0.0024"), Decimal("0.0024"), Decimal("0.0024"),
         "USD", "usage", {"cost_type": "tokens", "context_window": "200k-1M", "token_type": "output_tokens"}),
    ]
    assert sum(r[7] for r in rows) == Decimal("9.8624862")
    first = parsed.rows.to_pylist()[0]
    assert (first["charge_period_start"], first["charge_period_end"]) == (
        dt.datetime(2026, 10, 6, tzinfo=dt.timezone.utc), dt.datetime(2026, 10, 7, tzinfo=dt.timezone.utc))
    assert (first["provider"], first["bill_provider"], first["service_name"], first["description"]) == (
        "anthropic", "Anthropic", "Claude API", None)


def test_fractional_cents_stay_exact_strings_and_numbers_alike():
    # 22 significant digits of cents: through a DOUBLE this would come back as 9999999.991234568 (17 digits)
    rows = [
        _row("999999999.1234567891234", "claude-sonnet-4-5", "output_tokens"),
        _row("1E-13", "claude-sonnet-4-5", "output_tokens"),
        _row("0.000000000001", "claude-sonnet-4-5", "output_tokens", list_amount="0.0000000000015"),
        _row("-250", None, None),
        _row("AMOUNT", "claude-sonnet-4-5", "output_tokens"),
    ]
    # The fifth amount as a JSON number, not a string: read from its text, never through a binary float
    # (0.1 + 0.2 as floats is 0.30000000000000004; 123456789.123456789 as a float is 123456789.12345679).
    text = _page(*rows).replace('"AMOUNT"', "123456789.123456789")
    parsed = parse_anthropic_costs(text.encode(), "page.json")
    assert parsed.rejected.num_rows == 0
    assert [(r["billed_cost"], r["list_cost"], r["charge_category"]) for r in parsed.rows.to_pylist()] == [
        (Decimal("9999999.991234567891234"), Decimal("9999999.991234567891234"), "usage"),
        # 1E-13 cents (exponent notation is a decimal too) is 10^-15 dollars, the money columns' last digit
        (Decimal("0.000000000000001"), Decimal("0.000000000000001"), "usage"),
        # a hundredth of a billionth of a cent: 10^-14 dollars; its list price 1.5 x 10^-14
        (Decimal("0.00000000000001"), Decimal("0.000000000000015"), "usage"),
        # a negative amount is a credit, stored negative
        (Decimal("-2.5"), Decimal("-2.5"), "credit"),
        (Decimal("1234567.89123456789"), Decimal("1234567.89123456789"), "usage"),
    ]


def test_pages_of_both_reports_in_one_file_are_numbered_across_it():
    legacy = json.loads(LEGACY_PAGE.read_text())
    analytics = json.loads(PAGE.read_text())
    parsed = parse_anthropic_costs(json.dumps([legacy, analytics]).encode(), "pages.json")
    assert parsed.rejected.num_rows == 0
    found = [(r["source_row"], r["charge_date"], r["billed_cost"]) for r in parsed.rows.to_pylist()]
    assert len(found) == 19
    assert found[0] == (1, dt.date(2025, 8, 1), Decimal("1.2378912"))
    assert found[8] == (9, dt.date(2025, 8, 2), Decimal("0.0024"))
    assert found[9] == (10, dt.date(2026, 10, 6), Decimal("1.2378912"))
    assert found[-1] == (19, dt.date(2026, 10, 7), Decimal("0.0024"))


def _requests_and_their_analytics_cost_report(home: Home) -> None:
    """Four standard-tier Sonnet 4.5 requests and three batch Haiku 4.5 requests on one day, and the analytics cost report
    for that day grouped by model, service tier, workspace, cost type and token type, priced by the book's rates (per
    million tokens):

    Sonnet 4.5 standard: 1000 input x $3 + 10000 cache read x $0.30 + 1500 5-minute writes x $3.75 + 500 1-hour writes x $6
    + 200 output x $15 = $0.017625 a request, $0.0705 for four. Haiku 4.5 batch: 10000 input x $0.50 + 2000 output x
    $2.50 = $0.01 a request, $0.03 for three. The report names models by their undated names, as its `models[]` filter does.
    """
    sonnet = {"input_tokens": 1000, "cache_read_input_tokens": 10000, "cache_creation_input_tokens": 2000,
              "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500}, "output_tokens": 200}
    haiku = {"input_tokens": 10000, "output_tokens": 2000}
    lines = [envelope(f"s{n}", "anthropic", "claude-sonnet-4-5-20250929", sonnet, timestamp=f"{DAY}T09:00:{n:02d}Z") for n in range(4)]
    lines += [envelope(f"h{n}", "anthropic", "claude-haiku-4-5-20251001", haiku, service_tier="batch",
                       timestamp=f"{DAY}T10:00:{n:02d}Z") for n in range(3)]
    land(home, "anthropic.jsonl", lines)
    _land_bill(home, f"{DAY}.json", _page(
        # fractional cents: 4000 input x $3/M = $0.012 = 1.2 cents, and so on
        _row("1.2", "claude-sonnet-4-5", "uncached_input_tokens"),
        _row("1.2", "claude-sonnet-4-5", "cache_read_input_tokens"),
        _row("2.25", "claude-sonnet-4-5", "cache_creation.ephemeral_5m_input_tokens"),
        _row("1.2", "claude-sonnet-4-5", "cache_creation.ephemeral_1h_input_tokens"),
        _row("1.2", "claude-sonnet-4-5", "output_tokens"),
        _row("1.5", "claude-haiku-4-5", "uncached_input_tokens", tier="batch"),
        _row("1.5", "claude-haiku-4-5", "output_tokens", tier="batch"),
        _row("5", None, None, cost_type="code_execution"),
    ))


def test_the_analytics_cost_report_reconciles_per_model_with_the_requests_of_its_day(home):
    _requests_and_their_analytics_cost_report(home)
    run_pipeline(home, progress=_quiet)

    rows = _query(
        home,
        "select model, estimated_cost_usd, billed_cost_usd, variance_usd, status, requests from marts.billing_reconciliation "
        f"where charge_date = '{DAY}' and provider = 'anthropic' order by model nulls last",
    )
    assert rows == [
        ("claude-haiku-4-5-20251001", Decimal("0.03"), Decimal("0.03"), Decimal(0), "matched", 3),
        ("claude-sonnet-4-5-20250929", Decimal("0.0705"), Decimal("0.0705"), Decimal(0), "matched", 4),
        # code execution names no model: the provider-day's own row, billed with no request behind it
        (None, Decimal(0), Decimal("0.05"), Decimal("0.05"), "billed_only", 0),
    ]

    # Both sides store the tiers by the same names, so each (model, tier, bucket) of the bill meets the requests' cost.
    billed = _query(
        home,
        "select reconcile_model, service_tier, token_bucket, billed_cost_usd from core.billing_line_items "
        f"where charge_date = '{DAY}' and reconcile_model is not null order by all",
    )
    estimated = _query(
        home,
        f"""
        with costs as (
            select coalesce(aliases.model, costs.model) as model, costs.service_tier,
                input_cost_usd as input, cache_read_cost_usd as cache_read, cache_write_5m_cost_usd as cache_write_5m,
                cache_write_1h_cost_usd as cache_write_1h, output_cost_usd as output,
            from core.request_costs as costs
            left join reference.model_aliases as aliases on aliases.provider = costs.provider and aliases.name = costs.model
            where costs.event_date = '{DAY}'
        )
        select model, service_tier, bucket, sum(cost)
        from (unpivot costs on input, cache_read, cache_write_5m, cache_write_1h, output into name bucket value cost)
        where cost <> 0
        group by all
        order by all
        """,
    )
    assert billed == estimated
    assert {(model, tier) for model, tier, _, _ in billed} == {
        ("claude-haiku-4-5-20251001", "batch"), ("claude-sonnet-4-5-20250929", "standard")}
    models = _query(home, f"select distinct model, reconcile_model from core.billing_line_items where charge_date = '{DAY}' order by 1")
    assert models == [
        ("claude-haiku-4-5", "claude-haiku-4-5-20251001"), ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"), (None, None)]


def test_broken_rows_and_pages_are_rejected_with_field_and_reason(home):
    good = _row("1.2", "claude-sonnet-4-5", "output_tokens")
    page = _page(
        good,
        _row("12,50", "claude-sonnet-4-5", "output_tokens"),
        _row("1_000", "claude-sonnet-4-5", "output_tokens"),
        _row(None, "claude-sonnet-4-5", "output_tokens"),
        _row("1.2", "claude-sonnet-4-5", "output_tokens", list_amount="n/a"),
        _row("1" * 22, "claude-sonnet-4-5", "output_tokens"),
        {**good, "cost": {**good["cost"], "currency": "EUR"}},
        {**good, "cost": {**good["cost"], "currency": None}},
        {**good, "cost": "1.2"},
        {key: value for key, value in good.items() if key != "cost"},
        {**good, "group": ["claude-sonnet-4-5"]},
        {**good, "starting_at": None},
        {**good, "starting_at": "2026-10-06T00:00:00"},
        {**good, "ending_at": None},
        {**good, "ending_at": good["starting_at"]},
        # a report pulled without a time-bucket width covers the whole requested range in one row
        _row("1.2", "claude-sonnet-4-5", "output_tokens", end=f"{DAY + dt.timedelta(days=31)}T00:00:00Z"),
        "claude-sonnet-4-5 output",
        # an hour's bucket is within its day
        _row("0.6", "claude-sonnet-4-5", "output_tokens", start=f"{DAY}T10:00:00Z", end=f"{DAY}T11:00:00Z"),
    )
    _land_bill(home, "broken.json", page)
    # a page whose data mixes the legacy report's time buckets with analytics rows cannot be read at all
    legacy_bucket = json.loads(LEGACY_PAGE.read_text())["data"][0]
    _land_bill(home, "mixed.json", json.dumps({"data": [legacy_bucket, good]}))
    run_pipeline(home, progress=_quiet)

    rejected = _query(home, "select source_file, row_number, field, reason from audit.rejected_rows order by source_file, row_number")
    broken = "billing/anthropic_costs/broken.json"
    assert rejected == [
        (broken, 2, "cost.amount", "not a number: 12,50"),
        (broken, 3, "cost.amount", "not a decimal string of cents: 1_000"),
        (broken, 4, "cost.amount", "missing amount"),
        (broken, 5, "cost.list_amount", "not a number: n/a"),
        (broken, 6, "cost.amount", "beyond ±10000000000 is not plausible for one bill line: " + "1" * 22),
        (broken, 7, "cost.currency", "amounts are read as cents of USD, the only currency the cost report gives: EUR"),
        (broken, 8, "cost.currency", "missing currency"),
        (broken, 9, "cost", "not an object (found string)"),
        (broken, 10, "cost", "missing (no amount, list_amount or currency)"),
        (broken, 11, "group", "not an object of dimensions (found array)"),
        (broken, 12, "starting_at", "missing timestamp"),
        (broken, 13, "starting_at", "not an ISO 8601 timestamp with an offset: 2026-10-06T00:00:00"),
        (broken, 14, "ending_at", "missing timestamp"),
        (broken, 15, "ending_at", "not after starting_at: 2026-10-06T00:00:00Z"),
        (broken, 16, "ending_at", "the row spans more than one UTC day (pull the report with a time-bucket width of a day or "
         "less): 2026-11-06T00:00:00Z"),
        (broken, 17, "", "record is not a JSON object (found string)"),
        ("billing/anthropic_costs/mixed.json", None, "", "page 1 mixes time buckets ('results') with cost rows ('group', 'cost')"),
    ]
    files = _query(home, "select path, rows_read, rows_loaded, rows_rejected from audit.ingested_files order by path")
    assert files == [(broken, 18, 2, 16), ("billing/anthropic_costs/mixed.json", 1, 0, 1)]
    lines = _query(home, "select source_row, charge_date, billed_cost_usd from core.billing_line_items order by source_row")
    assert lines == [(1, DAY, Decimal("0.012")), (18, DAY, Decimal("0.006"))]
