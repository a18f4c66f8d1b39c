"""Closing a month: freeze its marts in `finance.*` so later changes show as restatements, not rewrites.

The month's spend (marts.daily_spend) and its chargeback usage (marts.chargeback_usage) are copied, as the last run
built them, in one transaction with the close record; the chargeback statements are then rebuilt from the frozen
copy (status `final`). A month with a statement that cannot be issued (marts.chargeback_statements.blocked_reason)
is not closed.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb

from pipelines.storage.database import publish, sql_text, table_exists, transaction
from pipelines.storage.home import Home
from pipelines.storage.lake import pending_dates
from pipelines.storage.lock import run_lock
from pipelines.storage.schemas import EARLIEST_DATE
from pipelines.storage.unfinished import unfinished_runs
from pipelines.warehouse.tables import build, open_warehouse

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
FIRST_YEAR, LAST_YEAR = int(EARLIEST_DATE[:4]), 2099
"""The months a command takes: from the first partition day's to the end of the century (year 0 and 9999 crashed)."""


class CloseError(RuntimeError):
    """The month cannot be closed (bad month, no data, already closed)."""


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """'2025-10' -> (2025-10-01, 2025-11-01)."""
    match = MONTH.fullmatch(month)
    if not match:
        raise CloseError(f"not a month (YYYY-MM): {month!r}")
    year, number = int(match[1]), int(match[2])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CloseError(f"not a month from {FIRST_YEAR}-01 to {LAST_YEAR}-12: {month!r}")
    start = dt.date(year, number, 1)
    end = dt.date(year + (number == 12), number % 12 + 1, 1)
    return start, end


def close_month(home: Home, month: str, today: dt.date | None = None) -> dict:
    """Snapshot marts.daily_spend and marts.chargeback_usage for the month into finance.* and record the close, in one
    transaction; then rebuild the chargeback statements (final from now on) and publish. A close that committed but
    was killed before it published is finished (`finished` true). `today` is the UTC date the close is made on (the
    default): pending dates up to the day after it hold the close back. Returns the month, its requests and cost."""
    start, end = month_bounds(month)
    with run_lock(home):
        with open_warehouse(home) as con:
            closed = con.execute("select closed_at, requests, cost_usd from finance.closed_periods where month = ?", [month]).fetchall()
            if closed and _published_closed(home, month):
                raise CloseError(f"{month} was closed at {closed[0][0]:%Y-%m-%d %H:%M} UTC; closed months do not change")
            if not closed:
                _refuse_unfinished(home, month, start, end, today or dt.datetime.now(dt.timezone.utc).date())
            requests, cost = closed[0][1:] if closed else _freeze(con, month, start, end)
            for name in ("marts.chargeback_lines", "marts.chargeback_statements"):  # now final, from the frozen copy
                build(con, home, name)
        publish(home)  # readers see the close once it is whole
    return {"month": month, "requests": requests, "cost_usd": cost, "finished": bool(closed)}


def _freeze(con, month: str, start: dt.date, end: dt.date) -> tuple[int, object]:
    """The close record and the month's frozen spend and chargeback usage, in one transaction; (requests, cost)."""
    params = {"month": month, "month_start": start, "month_end": end}
    with transaction(con):
        con.execute(f"insert into finance.closed_periods by name {sql_text('finance.closed_periods')}", params)
        requests, cost = con.execute("select requests, cost_usd from finance.closed_periods where month = $month", {"month": month}).fetchall()[0]
        if not requests:
            raise CloseError(f"marts.daily_spend has no rows in {month}: nothing to close")
        con.execute(f"insert into finance.daily_spend by name {sql_text('finance.daily_spend')}", params)
        _refuse_blocked(con, month)
        con.execute(f"insert into finance.chargeback_usage by name {sql_text('finance.chargeback_usage')}", {"month": month})
    return requests, cost


def _refuse_unfinished(home: Home, month: str, start: dt.date, end: dt.date, today: dt.date) -> None:
    """CloseError when the marts the close would freeze are not those of a finished run: a run stopped after writing
    days but before the whole-history marts (new daily spend beside old chargeback usage), or days of the month
    ingested and not yet materialized."""
    unfinished = unfinished_runs(home)
    if unfinished:
        raise CloseError(
            f"{month} is not closed: run(s) {', '.join(unfinished)} wrote days or marts and the whole-history marts were "
            "not rebuilt after them (failed, stopped or still running), so the month's spend and chargeback usage may "
            "disagree; run `tokenledger run`, then close"
        )
    tomorrow = today + dt.timedelta(days=1)  # later dates wait for their day to come
    waiting = sorted(day for day in pending_dates(home) if start <= day < end and day <= tomorrow)
    if waiting:
        raise CloseError(
            f"{month} is not closed: {len(waiting)} of its dates ({waiting[0]}"
            + (f" .. {waiting[-1]}" if len(waiting) > 1 else "")
            + ") have rows ingested but not materialized; run `tokenledger run`, then close"
        )


def _published_closed(home: Home, month: str) -> bool:
    """Whether readers see the month closed: the published warehouse has its close record."""
    if not home.warehouse.is_file():
        return False
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        if not table_exists(con, "finance.closed_periods"):
            return False
        return bool(con.execute("select count(*) from finance.closed_periods where month = ?", [month]).fetchall()[0][0])


def _refuse_blocked(con, month: str) -> None:
    """CloseError naming every statement of the month that cannot be issued, and why."""
    blocked = con.execute(
        "select statement_id, blocked_reason from marts.chargeback_statements where period = ? and blocked_reason is not null order by 1",
        [month],
    ).fetchall()
    if blocked:
        listed = "; ".join(f"{statement}: {reason}" for statement, reason in blocked)
        raise CloseError(
            f"{month} has chargeback statements that cannot be issued ({listed}); price the requests (or set `unpriced: separate` "
            "in chargeback.yaml), land the missing exchange rates, run `tokenledger run`, then close"
        )
