"""Negotiated prices: `<home>/price_overrides.yaml`, which wins over list prices for the dates it covers.

Each override applies to a provider, optionally narrowed to one model (a price-book model name),
one account (the request's `tags.account`) and one service tier, from `effective_from` (a UTC date)
up to `effective_to` (exclusive, optional). It gives either `discount_pct` off every list rate, or
explicit `rates` (USD per 1M tokens, per bucket; buckets not named keep their list rate, less
`discount_pct` when both are given). When several match a request, the most specific wins
(model and account, then model, then account, then provider-wide; a tier narrows further).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from pipelines.pricing.book import BUCKETS, PriceBookError
from pipelines.settings import as_date, read_yaml

OVERRIDES_FILE = "price_overrides.yaml"
KEYS = {"id", "provider", "model", "account", "service_tier", "effective_from", "effective_to", "discount_pct", "rates", "note"}

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
    if not path.is_file():
        return OVERRIDE_SCHEMA.empty_table()
    document = read_yaml(path, PriceBookError) or {}
    entries = document.get("overrides") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise PriceBookError(f"{path.name}: expected a mapping with a list under 'overrides'")
    rows, problems = [], []
    for index, entry in enumerate(entries, start=1):
        row, entry_problems = _row(path.name, index, entry)
        rows.append(row)
        problems += entry_problems
    ids = [r["override_id"] for r in rows if r]
    problems += [f"{path.name}: override id '{i}' is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise PriceBookError("invalid price overrides:\n  " + "\n  ".join(problems))
    return pa.Table.from_pylist(rows, schema=OVERRIDE_SCHEMA)


def _row(name: str, index: int, entry: object) -> tuple[dict | None, list[str]]:
    where = f"{name}: override #{index}"
    if not isinstance(entry, dict):
        return None, [f"{where}: expected a mapping"]
    if entry.get("id"):
        where = f"{name}: override '{entry['id']}'"
    problems = [f"{where}: unknown key '{key}'" for key in entry if key not in KEYS]
    if not entry.get("provider"):
        problems.append(f"{where}: missing provider")
    start, end = as_date(entry.get("effective_from")), as_date(entry.get("effective_to"))
    if start is None:
        problems.append(f"{where}: missing or invalid effective_from (YYYY-MM-DD)")
    if entry.get("effective_to") is not None and (end is None or (start and end <= start)):
        problems.append(f"{where}: effective_to must be a date after effective_from")
    discount = entry.get("discount_pct")
    rates = entry.get("rates") or {}
    if discount is None and not rates:
        problems.append(f"{where}: give discount_pct or rates")
    if discount is not None and not (isinstance(discount, (int, Decimal)) and 0 <= discount <= 100):
        problems.append(f"{where}: discount_pct must be a number from 0 to 100")
    if not isinstance(rates, dict):
        problems.append(f"{where}: rates must map buckets to USD per 1M tokens")
        rates = {}
    for bucket, value in rates.items():
        if bucket not in BUCKETS:
            problems.append(f"{where}: unknown bucket key '{bucket}' in rates")
        elif not isinstance(value, (int, Decimal)) or value < 0:
            problems.append(f"{where}: rate for {bucket} must be a non-negative number")
    row = {
        "override_id": str(entry.get("id") or f"override-{index}"),
        "provider": entry.get("provider"),
        "model": entry.get("model"),
        "account": entry.get("account"),
        "service_tier": entry.get("service_tier"),
        "effective_from": start,
        "effective_to": end,
        "discount_pct": Decimal(discount) if isinstance(discount, (int, Decimal)) else Decimal(0),
        **{f"{bucket}_per_mtok": Decimal(rates[bucket]) if bucket in rates and bucket in BUCKETS else None for bucket in BUCKETS},
        "specificity": 4 * bool(entry.get("model")) + 2 * bool(entry.get("account")) + bool(entry.get("service_tier")),
        "note": entry.get("note"),
    }
    return row, problems

