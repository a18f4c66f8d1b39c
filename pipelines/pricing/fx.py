"""Dated exchange rates from `<home>/landing/fx/` (the reporting currency is in `pipelines.settings`).

Rate files are CSV with a header `date,currency,rate`, where rate is units of `currency` per 1 USD on that date (UTC). A
day without its own rate uses the latest earlier one; the marts record the rate and its date.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import stat
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterator

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


DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
RATE_PLACES = 12
"""Decimal places a rate may have (reference.fx_rates.usd_rate is DECIMAL(38, 12))."""
MIN_RATE, MAX_RATE = Decimal("0.000001"), Decimal(1_000_000_000)
"""Units of a currency per 1 USD outside these are a typo, not a rate (the extremes today: KWD ~0.3, IRR ~10^6)."""


def load_rates(landing: Path) -> tuple[pa.Table, pa.Table]:
    """Every valid rate row under landing/fx/*.csv, and the rejected rows with file, row, field and reason."""
    rates, rejected = [], []
    folder = landing / "fx"
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        name = path.relative_to(landing).as_posix()
        unreadable = _not_a_rate_file(path, landing)
        if unreadable:
            rejected.append({"source_file": name, "row_number": 0, "field": "", "reason": unreadable})
            continue
        try:
            rows = _csv_rows(path)
            header = next(rows, None)
        except (csv.Error, OSError) as exc:
            rejected.append({"source_file": name, "row_number": 0, "field": "", "reason": f"unreadable CSV: {exc}"})
            continue
        columns = [c.strip() for c in header[1]] if header else []
        missing = {"date", "currency", "rate"} - set(columns)
        if missing:
            rejected.append({"source_file": name, "row_number": 1, "field": ",".join(sorted(missing)), "reason": "missing column"})
            continue
        at, number = [columns.index(c) for c in ("date", "currency", "rate")], header[0]
        try:
            for number, fields in rows:
                if len(fields) != len(columns):
                    rejected.append({"source_file": name, "row_number": number, "field": "",
                                     "reason": f"{len(fields)} fields where the header has {len(columns)}"})
                    continue
                row = [fields[i] for i in at]
                problem = _problem(*row)
                if problem:
                    rejected.append({"source_file": name, "row_number": number, "field": problem[0], "reason": problem[1]})
                else:
                    rates.append({"rate_date": dt.date.fromisoformat(row[0].strip()), "currency": row[1].strip(),
                                  "usd_rate": Decimal(row[2].strip()), "source_file": name, "source_row": number})
        except csv.Error as exc:  # a field past the csv module's limit: the rows before it stand
            rejected.append({"source_file": name, "row_number": number + 1, "field": "", "reason": f"unreadable CSV: {exc}"})
    rates, conflicts = _one_rate_per_day(rates)
    return pa.Table.from_pylist(rates, schema=RATES_SCHEMA), pa.Table.from_pylist(rejected + conflicts, schema=REJECTED_SCHEMA)


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number where the row starts, its fields) for each non-blank row: line numbers stay true across blank lines
    and quoted line breaks, and a row with more or fewer fields than the header is seen as such (a table reader
    raised for the whole file)."""
    reader = csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig", errors="replace"), newline=""))
    start = 1
    for fields in reader:
        if any(f.strip() for f in fields):
            yield start, fields
        start = reader.line_num + 1


def _one_rate_per_day(rates: list[dict]) -> tuple[list[dict], list[dict]]:
    """One rate per currency and day: the first in file and row order; a later different rate for the same day is
    rejected naming the one kept (which of two applied was arbitrary), the same rate again is simply the same."""
    kept: dict[tuple, dict] = {}
    conflicts = []
    for rate in rates:
        first = kept.setdefault((rate["rate_date"], rate["currency"]), rate)
        if first is not rate and first["usd_rate"] != rate["usd_rate"]:
            conflicts.append({"source_file": rate["source_file"], "row_number": rate["source_row"], "field": "rate",
                              "reason": f"another rate for {rate['currency']} on {rate['rate_date']} is kept: {first['usd_rate']} "
                                        f"({first['source_file']} row {first['source_row']})"})
    return list(kept.values()), conflicts


def _problem(date: str | None, currency: str | None, rate: str | None) -> tuple[str, str] | None:
    try:
        if not DAY.fullmatch((date or "").strip()):  # Python also reads 20261203 and 2026-W49-4
            raise ValueError
        dt.date.fromisoformat((date or "").strip())
    except ValueError:
        return "date", f"not a date (YYYY-MM-DD): {date!r}"
    if not CURRENCY.fullmatch((currency or "").strip()):
        return "currency", f"not an ISO 4217 code: {currency!r}"
    try:
        value = Decimal((rate or "").strip())
    except InvalidOperation:
        return "rate", f"not a number: {rate!r}"
    if not value.is_finite() or value <= 0:
        return "rate", f"must be a positive number: {rate!r}"
    if value.as_tuple().exponent < -RATE_PLACES:
        return "rate", f"more than {RATE_PLACES} decimal places: {rate!r}"
    if not MIN_RATE <= value <= MAX_RATE:
        return "rate", f"not a plausible rate (units per 1 USD, {MIN_RATE} to {MAX_RATE:,}): {rate!r}"
    return None


def _not_a_rate_file(path: Path, landing: Path) -> str | None:
    """Why a landed rate file is not read (a FIFO would block the run; a link out of landing would show another
    file's first column in audit.rejected_fx_rows), or None: the checks every landed file has."""
    try:
        if path.is_symlink() and not path.resolve().is_relative_to(landing.resolve()):
            return "symlink points outside the landing folder; not followed"
        if not stat.S_ISREG(path.stat().st_mode):
            return "not a regular file (a FIFO, socket or device); not read"
    except (OSError, RuntimeError) as exc:  # a broken link, a loop
        return f"unreadable: {getattr(exc, 'strerror', None) or exc}"
    return None
