"""Monthly budgets from `<home>/budgets.yaml`, month-to-date spend and the month-end projection.

```yaml
# USD per calendar month
features:
  support_chat: 1500
  code_assist: 4000.00
segments:
  enterprise: 6000
```

The projection extends the month's burn rate to its last day: the month-to-date spend divided by
the days observed (from the month's first day with data in the warehouse, or the 1st, to its last),
times the days left. A past month's projection is its actual spend. Money is Decimal throughout.
"""

from __future__ import annotations

import calendar
import datetime as dt
import decimal
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.settings import ConfigError, as_number, clipped, fits_decimal, problems_text, read_yaml, shown, shown_kind
from pipelines.storage.database import sql_text, table_exists

BUDGETS_FILE = "budgets.yaml"
SCOPES = {"features": "feature", "segments": "segment"}
MONEY_PLACES = Decimal(1).scaleb(-15)
"""DECIMAL(38, 15), the warehouse's money type."""

STATUS_SCHEMA = pa.schema(
    [
        ("month", pa.string()),
        ("scope", pa.string()),
        ("name", pa.string()),
        ("budget_usd", pa.decimal128(38, 15)),
        ("spent_usd", pa.decimal128(38, 15)),
        ("first_day", pa.date32()),
        ("last_day", pa.date32()),
        ("days_observed", pa.int64()),
        ("days_remaining", pa.int64()),
        ("days_in_month", pa.int64()),
        ("burn_rate_usd_per_day", pa.decimal128(38, 15)),
        ("projected_usd", pa.decimal128(38, 15)),
        ("projected_pct_of_budget", pa.decimal128(38, 2)),
        ("unpriced_requests", pa.int64()),
        ("status", pa.string()),
    ]
)


class BudgetError(ConfigError):
    """budgets.yaml is not valid; the message names the file and every bad field."""


@dataclass(frozen=True)
class Budget:
    scope: str
    """`feature` or `segment`."""
    name: str
    monthly_usd: Decimal


def load_budgets(home_root: Path) -> list[Budget]:
    """The budgets in <home>/budgets.yaml (empty when there is no file); BudgetError names each bad field."""
    path = home_root / BUDGETS_FILE
    document = read_yaml(path, BudgetError) if os.path.lexists(path) else None
    if document is None:
        return []
    if not isinstance(document, dict):
        raise BudgetError(f"{path.name}: expected a mapping with 'features' and/or 'segments', got {shown_kind(document)}")
    problems = [f"{path.name}: unknown key {shown(key)} (known: currency, features, segments)" for key in document if key not in {*SCOPES, "currency"}]
    currency = document.get("currency", "USD")
    if currency != "USD":
        problems.append(f"{path.name}: currency: budgets are in USD, got {shown(currency)}")
    budgets = []
    for key, scope in SCOPES.items():
        entries = {} if document.get(key) is None else document[key]
        if not isinstance(entries, dict):
            problems.append(f"{path.name}: {key}: expected a mapping of {scope} name to monthly USD, got {shown_kind(entries)}")
            entries = {}
        for name, amount in entries.items():
            value = _amount(amount)
            if not isinstance(name, str) or not name.strip():
                problems.append(f"{path.name}: {key}: {scope} name must be text, got {shown(name)}")
            elif value is None:
                problems.append(f"{path.name}: {key}.{clipped(name)}: expected a monthly amount in USD (a number >= 0), got {shown(amount)}")
            else:
                budgets.append(Budget(scope, name, value))
    if problems:
        raise BudgetError(problems_text("budgets", problems))
    return budgets


def _amount(value: object) -> Decimal | None:
    """A monthly budget: a number (never a boolean, text, .nan or .inf), at least 0, that DECIMAL(38, 15) holds."""
    amount = as_number(value)
    return amount if amount is not None and amount >= 0 and fits_decimal(amount, 15) else None


@dataclass(frozen=True)
class MonthSpan:
    """One calendar month and the days of it the warehouse has seen."""

    month: str
    first_day: dt.date
    last_day: dt.date

    @property
    def start(self) -> dt.date:
        return month_start(self.month)

    @property
    def end(self) -> dt.date:
        """The first day of the next month (exclusive end)."""
        return self.start + dt.timedelta(days=self.days_in_month)

    @property
    def days_in_month(self) -> int:
        return calendar.monthrange(self.start.year, self.start.month)[1]

    @property
    def days_observed(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def days_remaining(self) -> int:
        return (self.end - self.last_day).days - 1

    def burn_rate(self, spent: Decimal) -> Decimal:
        """Spend per observed day."""
        with decimal.localcontext(prec=60):
            return (spent / self.days_observed).quantize(MONEY_PLACES)

    def project(self, spent: Decimal) -> Decimal:
        """Month-end spend at the observed burn rate: spent + spent / days_observed x days_remaining."""
        with decimal.localcontext(prec=60):
            return (spent + spent * self.days_remaining / self.days_observed).quantize(MONEY_PLACES)


def month_start(month: str) -> dt.date:
    """`2026-11` -> 2026-11-01; ValueError names the bad text."""
    if not isinstance(month, str) or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):  # strptime also takes 2026-1
        raise ValueError(f"not a month (YYYY-MM): {month!r}")
    return dt.datetime.strptime(month, "%Y-%m").date()


def observed_month(con: duckdb.DuckDBPyConnection, month: str | None = None) -> MonthSpan | None:
    """The month (default: the latest with spend) and its observed days in marts.daily_spend; None without data."""
    if month is not None:
        month_start(month)
    if not table_exists(con, "marts.daily_spend"):
        return None
    found = con.execute(sql_text("queries/month_span"), {"month": month}).fetchall()
    return MonthSpan(*found[0]) if found else None


def budget_status(con: duckdb.DuckDBPyConnection, budgets: list[Budget], month: str | None = None) -> pa.Table:
    """One row per budget: month-to-date spend, burn rate, month-end projection and status (read-only)."""
    span = observed_month(con, month)
    if span is None or not budgets:
        return STATUS_SCHEMA.empty_table()
    spend = {
        (scope, name): (spent, unpriced)
        for scope, name, spent, unpriced in con.execute(
            sql_text("queries/budget_month_spend"), {"month_start": span.start, "month_end": span.end}
        ).fetchall()
    }
    rows = []
    for budget in budgets:
        spent, unpriced = spend.get((budget.scope, budget.name), (Decimal(0), 0))
        spent = Decimal(spent or 0)
        projected = span.project(spent)
        rows.append(
            {
                "month": span.month,
                "scope": budget.scope,
                "name": budget.name,
                "budget_usd": budget.monthly_usd,
                "spent_usd": spent,
                "first_day": span.first_day,
                "last_day": span.last_day,
                "days_observed": span.days_observed,
                "days_remaining": span.days_remaining,
                "days_in_month": span.days_in_month,
                "burn_rate_usd_per_day": span.burn_rate(spent),
                "projected_usd": projected,
                "projected_pct_of_budget": (projected * 100 / budget.monthly_usd).quantize(Decimal("0.01")) if budget.monthly_usd else None,
                "unpriced_requests": unpriced,
                "status": _status(spent, projected, budget.monthly_usd),
            }
        )
    return pa.Table.from_pylist(rows, schema=STATUS_SCHEMA)


def _status(spent: Decimal, projected: Decimal, budget: Decimal) -> str:
    if spent > budget:
        return "over_budget"
    if projected > budget:
        return "projected_over"
    return "on_track"
