"""Closing a month: freeze its marts in `finance.*` so later changes show as restatements, not rewrites."""

from __future__ import annotations

import datetime as dt
import re

from pipelines.home import Home
from pipelines.runner import run_lock
from pipelines.warehouse import connect, table_exists

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class CloseError(RuntimeError):
    """The month cannot be closed (bad month, no data, already closed)."""


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """'2025-10' -> (2025-10-01, 2025-11-01)."""
    match = MONTH.match(month)
    if not match:
        raise CloseError(f"not a month (YYYY-MM): {month!r}")
    year, number = int(match[1]), int(match[2])
    start = dt.date(year, number, 1)
    end = dt.date(year + (number == 12), number % 12 + 1, 1)
    return start, end


def close_month(home: Home, month: str) -> dict:
    """Snapshot marts.daily_spend for the month into finance.daily_spend and record the close."""
    start, end = month_bounds(month)
    with run_lock(home), connect(home) as con:
        if not table_exists(con, "marts.daily_spend"):
            raise CloseError("there is no marts.daily_spend yet: run the pipeline first")
        ensure_finance_tables(con)
        closed = con.execute("select closed_at from finance.closed_periods where month = ?", [month]).fetchall()
        if closed:
            raise CloseError(f"{month} was closed at {closed[0][0]:%Y-%m-%d %H:%M} UTC; closed months do not change")
        params = {"start": start, "end": end, "month": month}
        requests, cost = con.execute(
            "select coalesce(sum(requests), 0), coalesce(sum(cost_usd), 0) from marts.daily_spend "
            "where event_date >= $start and event_date < $end",
            {"start": start, "end": end},
        ).fetchall()[0]
        if not requests:
            raise CloseError(f"marts.daily_spend has no rows in {month}: nothing to close")
        con.execute("begin transaction")
        try:
            con.execute(
                "insert into finance.daily_spend by name select $month as month, now() as closed_at, * from marts.daily_spend "
                "where event_date >= $start and event_date < $end",
                params,
            )
            con.execute(
                "insert into finance.closed_periods values ($month, now(), $requests, $cost)",
                {**{"month": month}, "requests": requests, "cost": cost},
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return {"month": month, "requests": requests, "cost_usd": cost}


def ensure_finance_tables(con) -> None:
    """finance.closed_periods and finance.daily_spend (same columns as marts.daily_spend plus month and closed_at)."""
    con.execute("create schema if not exists finance")
    con.execute(
        "create table if not exists finance.closed_periods (month varchar primary key, closed_at timestamptz, "
        "requests bigint, cost_usd decimal(38, 15))"
    )
    con.execute(
        "create table if not exists finance.daily_spend as "
        "select cast(null as varchar) as month, cast(null as timestamptz) as closed_at, * from marts.daily_spend with no data"
    )
