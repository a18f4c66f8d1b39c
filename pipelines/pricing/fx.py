"""Dated exchange rates from `<home>/landing/fx/` (the reporting currency is in `pipelines.settings`).

Rate files are CSV with a header `date,currency,rate`, where rate is units of `currency` per 1 USD on that date (UTC). A
day without its own rate uses the latest earlier one; the marts record the rate and its date.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl
import pyarrow as pa

from pipelines.settings import CURRENCY

RATES_SCHEMA = pa.schema(
    [
        ("rate_date", pa.date32()),
        ("currency", pa.string()),
        ("usd_rate", pa.decimal128(38, 12)),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
    ]
)
REJECTED_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("row_number", pa.int64()), ("field", pa.string()), ("reason", pa.string())]
)


def load_rates(landing: Path) -> tuple[pa.Table, pa.Table]:
    """Every valid rate row under landing/fx/*.csv, and the rejected rows with file, row, field and reason."""
    rates, rejected = [], []
    folder = landing / "fx"
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        name = path.relative_to(landing).as_posix()
        try:
            frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        except (pl.exceptions.PolarsError, OSError) as exc:
            rejected.append({"source_file": name, "row_number": 0, "field": "", "reason": f"unreadable CSV: {exc}"})
            continue
        missing = {"date", "currency", "rate"} - set(frame.columns)
        if missing:
            rejected.append({"source_file": name, "row_number": 1, "field": ",".join(sorted(missing)), "reason": "missing column"})
            continue
        for number, row in enumerate(frame.select("date", "currency", "rate").iter_rows(), start=2):
            problem = _problem(*row)
            if problem:
                rejected.append({"source_file": name, "row_number": number, "field": problem[0], "reason": problem[1]})
            else:
                rates.append({"rate_date": dt.date.fromisoformat(row[0].strip()), "currency": row[1].strip(),
                              "usd_rate": Decimal(row[2].strip()), "source_file": name, "source_row": number})
    return pa.Table.from_pylist(rates, schema=RATES_SCHEMA), pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA)


def _problem(date: str | None, currency: str | None, rate: str | None) -> tuple[str, str] | None:
    try:
        dt.date.fromisoformat((date or "").strip())
    except ValueError:
        return "date", f"not a date (YYYY-MM-DD): {date!r}"
    if not CURRENCY.match((currency or "").strip()):
        return "currency", f"not an ISO 4217 code: {currency!r}"
    try:
        value = Decimal((rate or "").strip())
    except InvalidOperation:
        return "rate", f"not a number: {rate!r}"
    if not value.is_finite() or value <= 0:
        return "rate", f"must be a positive number: {rate!r}"
    return None
