"""Negotiated prices: `<home>/price_overrides.yaml`, which wins over list prices for the dates it covers.

Each override applies to a provider, optionally narrowed to one model (a price-book model name),
one account (the request's `tags.account`) and one service tier, from `effective_from` (a UTC date)
up to `effective_to` (exclusive, optional). It gives either `discount_pct` off every list rate, or
explicit `rates` (USD per 1M tokens, per bucket; buckets not named keep their list rate, less
`discount_pct` when both are given). When several match a request, the most specific wins
(model and account, then model, then account, then provider-wide; a tier narrows further).
"""

from __future__ import annotations

import os
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from pipelines.pricing.book import BUCKETS, PriceBookError
from pipelines.settings import MAX_PER_MTOK, as_date, as_number, clipped, fits_decimal, problems_text, read_yaml, shown

OVERRIDES_FILE = "price_overrides.yaml"
KEYS = {"id", "provider", "model", "account", "service_tier", "effective_from", "effective_to", "discount_pct", "rates", "note"}
TEXT_KEYS = ("id", "provider", "model", "account", "service_tier", "note")
"""Keys whose value is text: a number or a list there is an error, never turned into text."""

OVERRIDE_SCHEMA = pa.schema(
    [
        ("override_id", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("account", pa.string()),
        ("service_tier", pa.string()),
        ("effective_from", pa.date32()),
        ("effective_to", pa.date32()),
        ("discount_pct", pa.decimal128(38, 9)),
        *[(f"{bucket}_per_mtok", pa.decimal128(38, 9)) for bucket in BUCKETS],
        ("specificity", pa.int64()),
        ("note", pa.string()),
    ]
)


def load_overrides(home_root: Path) -> pa.Table:
    """The overrides table (empty when the home has no overrides file); PriceBookError names file and entry."""
    path = home_root / OVERRIDES_FILE
    if not os.path.lexists(path):
        return OVERRIDE_SCHEMA.empty_table()
    document = read_yaml(path, PriceBookError) or {}
    entries = document.get("overrides") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise PriceBookError(f"{path.name}: expected a mapping with a list under 'overrides', got {shown(document)}")
    rows, problems = [], []
    for index, entry in enumerate(entries, start=1):
        row, entry_problems = _row(path.name, index, entry)
        rows.append(row)
        problems += entry_problems
    ids = Counter(r["override_id"] for r in rows if r)
    problems += [f"{path.name}: override id '{clipped(i)}' is used twice" for i in sorted(i for i, count in ids.items() if count > 1)]
    if problems:
        raise PriceBookError(problems_text("price overrides", problems))
    return pa.Table.from_pylist(rows, schema=OVERRIDE_SCHEMA)


def _row(name: str, index: int, entry: object) -> tuple[dict | None, list[str]]:
    where = f"{name}: override #{index}"
    if not isinstance(entry, dict):
        return None, [f"{where}: expected a mapping, got {shown(entry)}"]
    if isinstance(entry.get("id"), str) and entry["id"]:
        where = f"{name}: override '{clipped(entry['id'])}'"
    problems = [f"{where}: unknown key {shown(key)}" for key in entry if key not in KEYS]
    problems += [
        f"{where}: {key} must be text, got {shown(entry[key])}" + (" (quote it)" if isinstance(entry[key], (int, Decimal)) else "")
        for key in TEXT_KEYS
        if entry.get(key) is not None and not isinstance(entry[key], str)
    ]
    if not entry.get("provider"):
        problems.append(f"{where}: missing provider")
    start, end = as_date(entry.get("effective_from")), as_date(entry.get("effective_to"))
    if start is None:
        problems.append(f"{where}: missing or invalid effective_from (YYYY-MM-DD), got {shown(entry.get('effective_from'))}")
    if entry.get("effective_to") is not None and (end is None or (start and end <= start)):
        problems.append(f"{where}: effective_to must be a date after effective_from, got {shown(entry.get('effective_to'))}")
    raw_discount = entry.get("discount_pct")
    discount = as_number(raw_discount)
    rates = entry.get("rates") or {}
    if raw_discount is None and not rates:
        problems.append(f"{where}: give discount_pct or rates")
    if raw_discount is not None and (discount is None or not 0 <= discount <= 100 or not fits_decimal(discount, 9)):
        problems.append(f"{where}: discount_pct must be a number from 0 to 100, got {shown(raw_discount)}")
        discount = None
    if not isinstance(rates, dict):
        problems.append(f"{where}: rates must map buckets to USD per 1M tokens, got {shown(rates)}")
        rates = {}
    prices = {}
    for bucket, value in rates.items():
        rate = as_number(value)
        if bucket not in BUCKETS:
            problems.append(f"{where}: unknown bucket key {shown(bucket)} in rates")
        elif rate is None or rate < 0 or rate > MAX_PER_MTOK or not fits_decimal(rate, 9):
            problems.append(f"{where}: rates.{bucket} must be a number of USD per 1M tokens from 0 to {MAX_PER_MTOK:,}, got {shown(value)}")
        else:
            prices[bucket] = rate
    text = {key: entry.get(key) if isinstance(entry.get(key), str) else None for key in TEXT_KEYS}
    row = {
        "override_id": text["id"] or f"override-{index}",
        "provider": text["provider"],
        "model": text["model"],
        "account": text["account"],
        "service_tier": text["service_tier"],
        "effective_from": start,
        "effective_to": end,
        "discount_pct": discount if discount is not None else Decimal(0),
        **{f"{bucket}_per_mtok": prices.get(bucket) for bucket in BUCKETS},
        "specificity": 4 * bool(text["model"]) + 2 * bool(text["account"]) + bool(text["service_tier"]),
        "note": text["note"],
    }
    return row, problems
