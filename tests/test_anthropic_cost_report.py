"""Anthropic's Admin API cost report (`anthropic_costs`): a documented page typed to the cent, reconciled against the
requests of the same day, and hostile lines rejected with field and reason.

Sources for the shape and the units:

- Get Cost Report, https://docs.claude.com/en/api/admin-api/usage-cost/get-cost-report: the example 200 response
  (`starting_at`, `ending_at`, `results[]` with `currency`, `amount` "123.78912", `workspace_id`, `description`,
  `cost_type`, `context_window`, `model`, `service_tier`, `token_type`; `has_more`, `next_page`). The first result of
  tests/fixtures/billing/anthropic_cost_report_page.json is that example's result as published.
- CostReport model, https://platform.claude.com/docs/en/api/admin/cost_report (copied in the GitHub repository
  gpambrozio/ClaudeDocs, docs-md/api/api/admin/cost_report.md and cost_report/retrieve.md): `amount` is "Cost amount
  in lowest currency units (e.g. cents) as a decimal string. For example, "123.45" in "USD" represents $1.23";
  `currency` "Currently always USD"; cost_type tokens | web_search | code_execution; token_type
  uncached_input_tokens | output_tokens | cache_read_input_tokens | cache_creation.ephemeral_1h_input_tokens |
  cache_creation.ephemeral_5m_input_tokens; service_tier standard | batch; context_window 0-200k | 200k-1M; model,
  context_window, service_tier and token_type null for non-token costs; workspace_id null for the default workspace;
  inference_geo and speed (beta) null unless grouped by them.
- Usage and Cost API guide, https://platform.claude.com/docs/manage-claude/usage-cost-api: costs are USD in cents as
  decimal strings; code execution is billed under the description "Code Execution Usage"; Priority Tier costs are not
  in the cost report.

The fixture's other results follow those definitions; their descriptions and amounts are illustrative.
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

PAGE = Path(__file__).resolve().parent / "fixtures" / "billing" / "anthropic_cost_report_page.json"
WORKSPACE = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
SONNET = "claude-sonnet-4-20250514"
DAY = dt.date(2026, 10, 6)


def _quiet(_: str) -> None:
    return None


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _land_bill(home: Home, name: str, content: str | bytes) -> None:
    path = home.landing / "billing" / "anthropic_costs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def _result(amount: object, model: str | None, token_type: str | None, *, tier: str | None = "standard",
            cost_type: str = "tokens", **fields) -> dict:
    """One cost report result, its fields in the documented order."""
    return {"currency": "USD", "amount": amount, "workspace_id": WORKSPACE, "description": None, "cost_type": cost_type,
            "context_window": "0-200k" if model else None, "model": model, "service_tier": tier if model else None,
            "token_type": token_type, **fields}


def _page(*buckets: tuple[str | None, list[dict]]) -> str:
    """A cost report page: one day bucket per (starting_at, results)."""
    data = []
    for start, results in buckets:
        day = dt.date.fromisoformat(start[:10]) if start and start.endswith("T00:00:00Z") else None
        end = f"{day + dt.timedelta(days=1)}T00:00:00Z" if day else None
        data.append({"starting_at": start, "ending_at": end, "results": results})
    return json.dumps({"data": data, "has_more": False, "next_page": None})


def test_a_documented_page_is_typed_to_the_cent():
    parsed = parse_anthropic_costs(PAGE.read_bytes(), PAGE.name)
    assert parsed.rejected.num_rows == 0
    assert parsed.rows.schema.field("billed_cost").type == pa.decimal128(38, 15)
    rows = [
        (r["source_row"], r["charge_date"], r["account"], r["model"], r["token_bucket"], r["service_tier"], r["unit"],
         r["billed_cost"], r["effective_cost"], r["currency"], r["charge_category"], json.loads(r["extra"]))
        for r in parsed.rows.to_pylist()
    ]
    aug1, aug2 = dt.date(2025, 8, 1), dt.date(2025, 8, 2)
    tokens = {"cost_type": "tokens", "context_window": "0-200k"}
    assert rows == [
        # "123.78912" cents, the documented example: $1.2378912
        (1, aug1, WORKSPACE, SONNET, "input", "standard", "tokens", Decimal("1.2378912"), Decimal("1.2378912"), "USD", "usage",
         {**tokens, "token_type": "uncached_input_tokens"}),
        (2, aug1, WORKSPACE, SONNET, "output", "standard", "tokens", Decimal("4.563"), Decimal("4.563"), "USD", "usage",
         {**tokens, "token_type": "output_tokens"}),
        (3, aug1, WORKSPACE, SONNET, "cache_read", "standard", "tokens", Decimal("0.120045"), Decimal("0.120045"), "USD", "usage",
         {**tokens, "token_type": "cache_read_input_tokens"}),
        (4, aug1, WORKSPACE, SONNET, "cache_write_5m", "standard", "tokens", Decimal("0.3075"), Decimal("0.3075"), "USD", "usage",
         {**tokens, "token_type": "cache_creation.ephemeral_5m_input_tokens"}),
        (5, aug1, WORKSPACE, SONNET, "cache_write_1h", "standard", "tokens", Decimal("0.08"), Decimal("0.08"), "USD", "usage",
         {**tokens, "token_type": "cache_creation.ephemeral_1h_input_tokens"}),
        # the default workspace has no id; the batch tier keeps its name
        (6, aug1, None, "claude-3-5-haiku-20241022", "input", "batch", "tokens", Decimal("0.0004"), Decimal("0.0004"), "USD", "usage",
         {**tokens, "token_type": "uncached_input_tokens"}),
        # non-token costs: web search is the warehouse's web_search bucket, code execution has none
        (7, aug1, None, None, "web_search", None, None, Decimal("1"), Decimal("1"), "USD", "usage", {"cost_type": "web_search"}),
        (8, aug1, None, None, None, None, None, Decimal("0.05"), Decimal("0.05"), "USD", "usage", {"cost_type": "code_execution"}),
        # the second day bucket: its own charge date
        (9, aug2, WORKSPACE, SONNET, "output", "standard", "tokens", Decimal("0.0024"), Decimal("0.0024"), "USD", "usage",
         {"cost_type": "tokens", "context_window": "200k-1M", "token_type": "output_tokens"}),
    ]
    assert sum(r[7] for r in rows) == Decimal("7.3612362")
    first = parsed.rows.to_pylist()[0]
    assert (first["charge_period_start"], first["charge_period_end"]) == (
        dt.datetime(2025, 8, 1, tzinfo=dt.timezone.utc), dt.datetime(2025, 8, 2, tzinfo=dt.timezone.utc))
    assert (first["provider"], first["bill_provider"], first["description"]) == (
        "anthropic", "Anthropic", "Claude Sonnet 4 Usage - Input Tokens")
    assert parsed.rows.schema == BILLING_SCHEMA


def test_cents_become_dollars_in_decimal_without_a_float_in_between():
    # 22 significant digits of cents: through a DOUBLE this would come back as 9999999.991234568 (17 digits)
    page = _page(("2025-08-01T00:00:00Z", [
        _result("999999999.1234567891234", SONNET, "output_tokens"),
        _result("1E-13", SONNET, "output_tokens"),
        _result("-250", None, None, cost_type="tokens", description="Promotional credit"),
    ]))
    rows = parse_anthropic_costs(page.encode(), "page.json").rows.to_pylist()
    assert [(r["billed_cost"], r["charge_category"]) for r in rows] == [
        (Decimal("9999999.991234567891234"), "usage"),
        # 1E-13 cents (exponent notation is a decimal too) is 10^-15 dollars, the money columns' last digit
        (Decimal("0.000000000000001"), "usage"),
        # a negative amount is a credit, stored negative
        (Decimal("-2.5"), "credit"),
    ]


def _requests_and_their_cost_report(home: Home) -> None:
    """Four standard-tier Sonnet 4.5 requests (sent under its undated alias) and three batch Haiku 4.5 requests on one day,
    and Anthropic's cost report for that day, priced by the book's rates (per million tokens):

    Sonnet 4.5 standard: 1000 input x $3 + 10000 cache read x $0.30 + 1500 5-minute writes x $3.75 + 500 1-hour writes x $6
    + 200 output x $15 = $0.017625 a request, $0.0705 for four. Haiku 4.5 batch: 10000 input x $0.50 + 2000 output x
    $2.50 = $0.01 a request, $0.03 for three.
    """
    sonnet = {"input_tokens": 1000, "cache_read_input_tokens": 10000, "cache_creation_input_tokens": 2000,
              "cache_creation": {"ephemeral_5m_input_tokens": 1500, "ephemeral_1h_input_tokens": 500}, "output_tokens": 200}
    haiku = {"input_tokens": 10000, "output_tokens": 2000}
    lines = [envelope(f"s{n}", "anthropic", "claude-sonnet-4-5", sonnet, timestamp=f"{DAY}T09:00:{n:02d}Z") for n in range(4)]
    lines += [envelope(f"h{n}", "anthropic", "claude-haiku-4-5-20251001", haiku, service_tier="batch",
                       timestamp=f"{DAY}T10:00:{n:02d}Z") for n in range(3)]
    land(home, "anthropic.jsonl", lines)
    sonnet_45, haiku_45 = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"
    _land_bill(home, f"{DAY}.json", _page((f"{DAY}T00:00:00Z", [
        # cents: 4000 input x $3/M = $0.012 = 1.2 cents, and so on
        _result("1.2", sonnet_45, "uncached_input_tokens"),
        _result("1.2", sonnet_45, "cache_read_input_tokens"),
        _result("2.25", sonnet_45, "cache_creation.ephemeral_5m_input_tokens"),
        _result("1.2", sonnet_45, "cache_creation.ephemeral_1h_input_tokens"),
        _result("1.2", sonnet_45, "output_tokens"),
        _result("1.5", haiku_45, "uncached_input_tokens", tier="batch"),
        _result("1.5", haiku_45, "output_tokens", tier="batch"),
        _result("5", None, None, cost_type="code_execution", description="Code Execution Usage"),
    ])))


def test_the_cost_report_reconciles_per_model_with_the_requests_of_its_day(home):
    _requests_and_their_cost_report(home)
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


def test_hostile_lines_are_rejected_with_field_and_reason(home):
    good = _result("1.2", SONNET, "output_tokens")
    page = _page(
        ("2025-08-01T00:00:00Z", [
            good,
            _result("12,50", SONNET, "output_tokens"),
            _result("1_000", SONNET, "output_tokens"),
            _result("NaN", SONNET, "output_tokens"),
            _result(None, SONNET, "output_tokens"),
            {**good, "currency": "EUR"},
            {**good, "currency": None},
            _result("1" * 22, SONNET, "output_tokens"),
            "Claude Sonnet 4 Usage - Output Tokens",
            {**good, "model": "claude-sonnet-4-20250514'); drop table core.billing_line_items; --", "amount": "0.5"},
        ]),
        (None, [good]),
        ("yesterday", [good]),
        ("2025-08-03T00:00:00", [good]),
    )
    _land_bill(home, "hostile.json", page)
    # a page whose bucket holds no list of results cannot be read at all
    _land_bill(home, "broken.json", json.dumps({"data": [{"starting_at": "2025-08-01T00:00:00Z", "results": 5}]}))
    run_pipeline(home, progress=_quiet)

    rejected = _query(home, "select source_file, row_number, field, reason from audit.rejected_rows order by source_file, row_number")
    hostile = "billing/anthropic_costs/hostile.json"
    assert rejected == [
        ("billing/anthropic_costs/broken.json", None, "", "page 1, time bucket 1: 'results' is not a list"),
        (hostile, 2, "amount", "not a number: 12,50"),
        (hostile, 3, "amount", "not a decimal string of cents: 1_000"),
        (hostile, 4, "amount", "not a number: NaN"),
        (hostile, 5, "amount", "missing amount"),
        (hostile, 6, "currency", "amounts are read as cents of USD, the only currency the cost report gives: EUR"),
        (hostile, 7, "currency", "missing currency"),
        (hostile, 8, "amount", "beyond ±10000000000 is not plausible for one bill line: " + "1" * 22),
        (hostile, 9, "", "record is not a JSON object (found string)"),
        (hostile, 11, "starting_at", "missing timestamp"),
        (hostile, 12, "starting_at", "not an ISO 8601 timestamp with an offset: yesterday"),
        (hostile, 13, "starting_at", "not an ISO 8601 timestamp with an offset: 2025-08-03T00:00:00"),
    ]
    files = _query(home, "select path, rows_read, rows_loaded, rows_rejected, error from audit.ingested_files order by path")
    assert files == [
        ("billing/anthropic_costs/broken.json", 1, 0, 1, "1 rows rejected"),
        (hostile, 13, 2, 11, "11 rows rejected"),
    ]
    # The good line and the one with a hostile model name are kept as data, the name as text.
    lines = _query(home, "select source_row, model, billed_cost_usd from core.billing_line_items order by source_row")
    assert lines == [
        (1, SONNET, Decimal("0.012")),
        (10, "claude-sonnet-4-20250514'); drop table core.billing_line_items; --", Decimal("0.005")),
    ]
