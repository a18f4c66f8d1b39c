"""Provider bills for the demo, written from the demo's own priced requests with a few real-world stories.

Each provider-day is billed at what the requests cost, per model and token kind, except:
- one day an OpenAI model is billed 12% more than the logs show (requests served at a pricier tier);
- one day OpenAI bills a model the gateway never saw (a batch job run with a key outside the gateway);
- the last day has no bill yet (bills arrive a day late);
- the first Anthropic day carries a promotional credit (beside usage, never usage variance);
- a team calls Claude on Amazon Bedrock outside the gateway: the AWS bill (a CUR 2.0 export) carries it as an AWS
  Marketplace product, "Claude Sonnet 4.6 (Amazon Bedrock Edition)", usage types `USE1-MP:USE1_InputTokenCount-Units`
  (billed only: no gateway request meets it), beside an EC2 line that is not inference.
Models the price book does not know are not billed (they stand for models only the gateway names).
OpenAI pages go to landing/billing/openai_costs/, Anthropic pages to landing/billing/anthropic_costs/ and the AWS
export to landing/billing/aws_cur/.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

from pipelines.storage.database import connect, sql_text
from pipelines.storage.home import Home

OVER_BILLED_MODEL = "gpt-4o-2024-08-06"
UNSEEN_MODEL = "gpt-4.1-nano-2025-04-14"
_KINDS = ("input", "cached input", "output")
_ANTHROPIC_TYPES = (
    "uncached_input_tokens", "cache_read_input_tokens", "cache_creation.ephemeral_5m_input_tokens", "output_tokens",
)


def write_demo_bills(home: Home) -> list[Path]:
    """Write one OpenAI and one Anthropic cost page per billed day; return the files written."""
    with connect(home, read_only=True) as con:
        rows = con.execute(sql_text("queries/demo_bill_costs")).fetchall()
    days = sorted({r[0] for r in rows})
    if len(days) < 2:
        return []
    billed_days = days[:-1]
    over_day = billed_days[len(billed_days) // 2]
    unseen_day = billed_days[0]
    written = []
    for day in billed_days:
        day_rows = [r for r in rows if r[0] == day]
        openai = []
        for _, provider, model, input_cost, cache_read, cache_write, output in day_rows:
            if provider != "openai":
                continue
            factor = Decimal("1.12") if (day == over_day and model == OVER_BILLED_MODEL) else Decimal(1)
            for kind, amount in zip(_KINDS, (input_cost + cache_write, cache_read, output)):
                if amount:
                    openai.append({"line_item": f"{model}, {kind}", "value": str(round(amount * factor, 9))})
        if day == unseen_day:
            openai.append({"line_item": f"{UNSEEN_MODEL}, input", "value": "1.840000"})
            openai.append({"line_item": f"{UNSEEN_MODEL}, output", "value": "2.960000"})
        written.append(_write(home, "openai_costs", day, _openai_page(day, openai)))
        anthropic = []
        for _, provider, model, input_cost, cache_read, cache_write, output in day_rows:
            if provider != "anthropic":
                continue
            for token_type, amount in zip(_ANTHROPIC_TYPES, (input_cost, cache_read, cache_write, output)):
                if amount:
                    anthropic.append({"model": model, "token_type": token_type, "amount": str(round(amount * 100, 7))})
        if day == billed_days[0]:
            anthropic.append(
                {"model": None, "token_type": None, "cost_type": "credit", "amount": "-2500", "description": "Promotional credit"}
            )
        written.append(_write(home, "anthropic_costs", day, _anthropic_page(day, anthropic)))
    written.append(_write_cur(home, billed_days))
    return written


CUR_COLUMNS = (
    "bill_billing_period_start_date", "line_item_usage_start_date", "line_item_usage_end_date", "line_item_usage_account_id",
    "line_item_line_item_type", "product_servicecode", "line_item_product_code", "line_item_usage_type", "line_item_usage_amount",
    "line_item_unblended_cost", "line_item_currency_code", "product_product_name", "bill_billing_entity",
)
"""The CUR 2.0 columns the demo's AWS export carries (AWS's own names; the aws_cur format reads them)."""
MARKETPLACE_CLAUDE = ("prod-2r3dl0z2j1yk4g6m", "Claude Sonnet 4.6 (Amazon Bedrock Edition)")
"""Claude on Bedrock as AWS bills it: a Marketplace product code and name."""
MARKETPLACE_USAGE = (
    # usage type, tokens a day, USD at Claude Sonnet 4.6's $3 / $15 / $0.30 per 1M tokens
    ("USE1-MP:USE1_InputTokenCount-Units", 2_000_000, "6.00"),
    ("USE1-MP:USE1_OutputTokenCount-Units", 150_000, "2.25"),
    ("USE1-MP:USE1_CacheReadInputTokenCount-Units", 4_000_000, "1.20"),
)


def _write_cur(home: Home, days: list[dt.date]) -> Path:
    """One CUR 2.0 CSV for the billed days: each day's Claude-on-Bedrock Marketplace usage and an EC2 line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CUR_COLUMNS)
    for day in days:
        start, end = f"{day.isoformat()}T00:00:00Z", f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00Z"
        period = f"{day.replace(day=1).isoformat()}T00:00:00Z"
        common = (period, start, end, "222222222222", "Usage")
        for usage_type, amount, cost in MARKETPLACE_USAGE:
            writer.writerow((*common, "", MARKETPLACE_CLAUDE[0], usage_type, amount, cost, "USD", MARKETPLACE_CLAUDE[1], "AWS Marketplace"))
        writer.writerow((*common, "AmazonEC2", "AmazonEC2", "USE1-BoxUsage:m5.large", 24, "2.304", "USD", "Amazon Elastic Compute Cloud", "AWS"))
    path = home.landing / "billing" / "aws_cur" / f"{days[0].isoformat()}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def write_demo_budgets(home: Home) -> Path | None:
    """A budgets.yaml sized from the demo's spend: 25% headroom per feature and segment, except the
    costliest feature, whose budget its projection passes. An existing budgets.yaml is kept."""
    path = home.root / "budgets.yaml"
    if path.exists():
        return None
    with connect(home, read_only=True) as con:
        first, last = con.execute("select min(event_date), max(event_date) from marts.daily_spend").fetchall()[0]
        spend = con.execute(sql_text("queries/demo_budget_spend")).fetchall()
    features = [(name, cost) for scope, name, cost in spend if scope == "feature"]
    segments = [(name, cost) for scope, name, cost in spend if scope == "segment"]
    if not features:
        return None
    month_start = max(first, last.replace(day=1))
    month_end = (last.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    observed = (last - month_start).days + 1
    share = Decimal((month_end - month_start).days) / observed / ((last - first).days + 1)

    def monthly(cost: Decimal, headroom: Decimal) -> int:
        """A budget at `headroom` times the month-end projection of this spend (the whole demo's daily rate)."""
        return max(1, int((cost * observed * share * headroom).quantize(Decimal(1))))

    lines = ["# Monthly budgets in USD (demo: sized from the demo's own spend)", "features:"]
    lines += [
        f"  {name}: {monthly(cost, Decimal('0.8') if i == 0 else Decimal('1.25'))}" for i, (name, cost) in enumerate(features)
    ]
    lines += ["segments:"] + [f"  {name}: {monthly(cost, Decimal('1.25'))}" for name, cost in segments]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _openai_page(day: dt.date, items: list[dict]) -> dict:
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())
    results = [
        {"object": "organization.costs.result", "amount": {"value": item["value"], "currency": "usd"},
         "line_item": item["line_item"], "project_id": "proj_demo", "api_key_id": None}
        for item in items
    ]
    bucket = {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": results}
    return {"object": "page", "data": [bucket], "has_more": False, "next_page": None}


def _anthropic_page(day: dt.date, items: list[dict]) -> dict:
    results = [
        {"workspace_id": "wrkspc_demo", "description": item.get("description"), "cost_type": item.get("cost_type", "tokens"),
         "context_window": "0-200k", "model": item["model"], "service_tier": "standard", "token_type": item["token_type"],
         "currency": "USD", "amount": item["amount"]}
        for item in items
    ]
    bucket = {
        "starting_at": f"{day.isoformat()}T00:00:00Z", "ending_at": f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00Z",
        "results": results,
    }
    return {"data": [bucket], "has_more": False, "next_page": None}


def _write(home: Home, fmt: str, day: dt.date, page: dict) -> Path:
    path = home.landing / "billing" / fmt / f"{day.isoformat()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(page, indent=1), encoding="utf-8")
    return path
