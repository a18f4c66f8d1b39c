"""`tokenledger export usage`: a month's chargeback for a billing system, as CSV statement lines, CloudEvents 1.0 or
Stripe billing meter events (JSON Lines).

- csv: every line of the month's statements (marts.chargeback_lines: usage, unpriced, and for a closed month the
  credit, debit and adjustment lines of '<statement_id>-ADJ'); amounts as decimal text (sql/queries/usage_export_lines.sql).
- cloudevents: one event per payer x day x meter (requests, tokens, outcomes, charge), zero values left out, from the
  month's priced usage (sql/queries/usage_export_days.sql). OpenMeter ingests CloudEvents, matches an event to a meter
  by `type`, aggregates by `subject`, and reads the value at a meter's JSONPath `valueProperty` from `data`, a number or
  a numeric string; it deduplicates on `source` + `id` (https://openmeter.io/docs/concepts/usage-events,
  https://openmeter.io/docs/guides/meters/best-practices, github.com/openmeterio/openmeter docs/event-ingestion.md).
  So: type `tokenledger.usage.<meter>` (one meter per type, valueProperty `$.value`, aggregation SUM), subject the
  payer, data.value an integer for counts and a decimal string for the charge.
- stripe: one meter event per payer x day with a positive charge, the value in the currency's minor unit. Stripe
  (https://docs.stripe.com/api/billing/meter-event/object, create parameters): event_name and identifier at most 100
  characters, payload values are strings, identifier unique within a rolling period of at least 24 hours, timestamp
  in Unix seconds within the past 35 calendar days (or up to 5 minutes ahead).

A day's charge is rounded cumulatively within its statement, so the days add up to the statement's charge exactly;
the export refuses, before writing, a file that would not. Ids are UUIDv5 of the statement, the day and the meter (and
the event name for Stripe): exporting a month again gives the same ids and, for a closed month, the same bytes.
A closed month's adjustment lines are not usage: they are in the CSV and belong on a credit note or an invoice item.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from pipelines.finance.close import MONTH
from pipelines.insights.chargeback import CHARGEBACK_FILE, load_chargeback
from pipelines.storage.database import connect, sql_text, table_exists
from pipelines.storage.home import Home
from pipelines.storage.relations import spreadsheet_safe, sql_literal

FORMATS = ("csv", "cloudevents", "stripe")
METERS = ("requests", "tokens", "outcomes", "charge")
LINE_TYPES = ("usage", "unpriced", "credit", "debit", "adjustment")
SOURCE = "tokenledger/chargeback"
"""The CloudEvents `source` of every event (a URI reference); `source` + `id` identify an event."""
TYPE_PREFIX = "tokenledger.usage."
DEFAULT_EVENT_NAME = "tokenledger_charge"
ID_NAMESPACE = uuid.UUID("5f4bec2e-aabd-526c-a89d-b6d7631544a0")  # uuid5(NAMESPACE_URL, "tokenledger:usage-export")
"""Event ids are uuid5(ID_NAMESPACE, 'CB-2026-10-acme/2026-10-20/tokens') (CloudEvents) and
uuid5(ID_NAMESPACE, 'stripe/<event_name>/CB-2026-10-acme/2026-10-20') (Stripe). Billing systems deduplicate on them:
never change the namespace or the names."""
STRIPE_NAME_LIMIT = 100
STRIPE_WINDOW = dt.timedelta(days=35)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


class UsageExportError(RuntimeError):
    """The usage export cannot be written (no warehouse or statements, a blocked statement, a payer without a Stripe id)."""


@dataclass(frozen=True)
class CurrencyTotal:
    """The month's charge in one currency: what the file carries and what the statements say."""

    currency: str
    places: int
    exported: Decimal
    statements: Decimal
    adjustment_lines: int = 0
    adjustments: Decimal = Decimal(0)


@dataclass(frozen=True)
class UsageExportSummary:
    path: Path
    fmt: str
    month: str
    final: bool
    statements: int
    lines: int
    counts: dict[str, int]
    """csv: lines per line type; cloudevents: events per meter; stripe: {'charge': events}."""
    totals: tuple[CurrencyTotal, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def adjustment_lines(self) -> int:
        return sum(total.adjustment_lines for total in self.totals)


@dataclass(frozen=True)
class _Statement:
    statement_id: str
    payer: str
    status: str
    currency: str
    currency_places: int
    charge: Decimal | None
    adjustment_lines: int
    adjustments: Decimal
    blocked_reason: str | None

    @property
    def charge_minor(self) -> int:
        """The charge (rounded to the minor unit) in minor units: 0.06 USD -> 6."""
        return int((self.charge or Decimal(0)).scaleb(self.currency_places).to_integral_value())


def export_usage(
    home: Home, month: str, fmt: str, out: Path, event_name: str = DEFAULT_EVENT_NAME, now: dt.datetime | None = None
) -> UsageExportSummary:
    """Write the month's chargeback to out in fmt ('csv', 'cloudevents' or 'stripe'), atomically; return what was written.
    `now` (default: the current time) dates the Stripe 35-day window warning."""
    if fmt not in FORMATS:
        raise UsageExportError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if not MONTH.fullmatch(month or ""):
        raise UsageExportError(f"not a month (YYYY-MM): {month!r}")
    _check_event_name(event_name)
    if not home.warehouse.is_file():
        raise UsageExportError(f"there is no warehouse at {home.warehouse} yet: run `tokenledger run` first")
    out = out.expanduser().resolve()
    with connect(home, read_only=True) as con:
        statements = _statements(con, home, month)
        final = all(statement.status == "final" for statement in statements)
        if fmt == "csv":
            lines, counts, exported = _write_csv(con, month, out, statements)
            warnings: list[str] = []
        else:
            days = _fetch(con, "usage_export_days", month)
            stripe = load_chargeback(home.root).stripe_customers if fmt == "stripe" else {}
            _check_days(days, statements, stripe if fmt == "stripe" else None, month)
            events = _cloudevents(days, final) if fmt == "cloudevents" else _stripe_events(days, stripe, event_name)
            _write(out, [json.dumps(event, ensure_ascii=False, separators=(",", ":")) for _, event in events])
            lines, counts, exported = len(events), _count(meter for meter, _ in events), _exported(days, fmt)
            warnings = _warnings(month, final, days, fmt, now)
    return UsageExportSummary(
        path=out, fmt=fmt, month=month, final=final, statements=len(statements), lines=lines, counts=counts,
        totals=_totals(statements, exported), warnings=tuple(warnings),
    )


def _check_event_name(event_name: str) -> None:
    fits = 0 < len(event_name or "") <= STRIPE_NAME_LIMIT and event_name == event_name.strip()
    if not fits or _UNSAFE_NAME.search(event_name):
        raise UsageExportError(
            f"--event-name: Stripe's event_name is 1-{STRIPE_NAME_LIMIT} characters without control characters or surrounding "
            f"spaces, got {event_name[:120]!r}"
        )


def _fetch(con, query: str, month: str) -> list[dict]:
    cursor = con.execute(sql_text(f"queries/{query}"), {"month": month})
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _statements(con, home: Home, month: str) -> list[_Statement]:
    """The month's statements; UsageExportError when there are none or one of them cannot be issued."""
    rows = _fetch(con, "usage_export_statements", month) if table_exists(con, "marts.chargeback_statements") else []
    if not rows:
        if os.path.lexists(home.root / CHARGEBACK_FILE):
            raise UsageExportError(
                f"no chargeback statements for {month}: no payer of {home.root / CHARGEBACK_FILE} has usage in that month "
                "(land its logs and run `tokenledger run`)"
            )
        raise UsageExportError(
            f"no chargeback statements for {month}: add {home.root / CHARGEBACK_FILE} and run `tokenledger run`"
        )
    statements = [_Statement(**row) for row in rows]
    blocked = [f"{s.statement_id}: {s.blocked_reason or 'no charge'}" for s in statements if s.blocked_reason or s.charge is None]
    if blocked:
        raise UsageExportError(
            f"{month} has chargeback statements that cannot be issued ({'; '.join(blocked)}): price the requests (or set "
            "`unpriced: separate` in chargeback.yaml), land the missing exchange rates, run `tokenledger run`, then export"
        )
    return statements


def _write_csv(con, month: str, out: Path, statements: list[_Statement]) -> tuple[int, dict[str, int], dict[str, Decimal]]:
    """Copy the month's lines to a temporary file beside out, read it back, check its usage lines add up to the
    statements, then move it over out."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        query = spreadsheet_safe(con, sql_text("queries/usage_export_lines"), {"month": month})
        con.execute(f"copy ({query}) to {sql_literal(tmp.as_posix())} (format csv, header true)", {"month": month})
        written = con.execute(
            "select line_type, currency, count(*), coalesce(sum(cast(charge as decimal(38, 15))), 0) "
            f"from read_csv({sql_literal(tmp.as_posix())}, header = true, delim = ',', all_varchar = true) "
            "group by all order by all"
        ).fetchall()
        exported: dict[str, Decimal] = {}
        for line_type, currency, _, charge in written:
            if line_type == "usage":
                exported[currency] = exported.get(currency, Decimal(0)) + charge
        _check_totals(statements, exported, "the CSV's usage lines")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    counts = {kind: sum(lines for line_type, _, lines, _ in written if line_type == kind) for kind in LINE_TYPES}
    return sum(counts.values()), {kind: lines for kind, lines in counts.items() if lines}, exported


def _check_days(days: list[dict], statements: list[_Statement], stripe: dict[str, str | None] | None, month: str) -> None:
    """The days of each statement add up to its charge; for Stripe, every payer with a charge has a customer id and no
    day takes usage back."""
    by_statement: dict[str, int] = {}
    for day in days:
        by_statement[day["statement_id"]] = by_statement.get(day["statement_id"], 0) + day["charge_minor"]
    wrong = [
        f"{s.statement_id}: days {_amount(by_statement.get(s.statement_id, 0), s.currency_places)}, "
        f"statement {_amount(s.charge_minor, s.currency_places)} {s.currency}"
        for s in statements
        if by_statement.get(s.statement_id, 0) != s.charge_minor
    ]
    if wrong:
        raise UsageExportError(f"the days of {month} do not add up to their statements ({'; '.join(wrong)}); nothing was written")
    if stripe is None:
        return
    unmapped = [s for s in statements if s.charge and not stripe.get(s.payer)]
    missing = [f"{s.payer} ({_amount(s.charge_minor, s.currency_places)} {s.currency})" for s in unmapped]
    if missing:
        raise UsageExportError(
            f"no stripe_customer_id in chargeback.yaml for the payers charged in {month}: {', '.join(missing)}; add one to each "
            "payer (stripe_customer_id: cus_...)"
        )
    negative = sorted({day["statement_id"] for day in days if day["charge_minor"] < 0})
    if negative:
        raise UsageExportError(
            f"{', '.join(negative)}: a day with a negative charge cannot be a Stripe meter event; bill the month with an invoice "
            "item and a credit note (export --format csv)"
        )


def _amount(minor: int, places: int) -> str:
    """Minor units as decimal text with the currency's decimals (6 -> '0.06'; JPY 2 -> '2')."""
    return f"{Decimal(minor).scaleb(-places):f}"


def _cloudevents(days: list[dict], final: bool) -> list[tuple[str, dict]]:
    """One CloudEvents 1.0 event per payer x day x meter with a value, keys in a fixed order."""
    events = []
    for day in days:
        for meter in METERS:
            value = _amount(day["charge_minor"], day["currency_places"]) if meter == "charge" else day[meter]
            if (day["charge_minor"] if meter == "charge" else value) == 0:
                continue
            data = {"value": value, "unit": day["currency"] if meter == "charge" else meter}
            if meter == "charge":
                data["currency"] = day["currency"]
            data |= {"statement_id": day["statement_id"], "period": day["period"], "status": "final" if final else "draft"}
            events.append((meter, {
                "specversion": "1.0",
                "id": str(uuid.uuid5(ID_NAMESPACE, f"{day['statement_id']}/{day['event_date']}/{meter}")),
                "source": SOURCE,
                "type": TYPE_PREFIX + meter,
                "subject": _ce_string(day["payer"]),
                "time": f"{day['event_date']}T00:00:00Z",
                "datacontenttype": "application/json",
                "data": data,
            }))
    return events


_NOT_IN_CE_STRING = re.compile(
    "[\x00-\x1f\x7f-\x9f%\ufdd0-\ufdef" + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17)) + "]"
)


def _ce_string(text: str) -> str:
    """The text as a CloudEvents String attribute: U+0000-U+001F and U+007F-U+009F (and noncharacters) are not
    allowed in one (CloudEvents 1.0, Type System), and a CR or LF would break the `ce-subject` header of an HTTP
    binary-mode event. They are written percent-encoded (UTF-8), and so is `%`, so two payers never share a subject
    (a customer `a\nb` is `a%0Ab`; one named `a%0Ab` is `a%250Ab`)."""
    return _NOT_IN_CE_STRING.sub(lambda m: "".join(f"%{byte:02X}" for byte in m[0].encode()), text)


def _stripe_events(days: list[dict], customers: dict[str, str | None], event_name: str) -> list[tuple[str, dict]]:
    """One Stripe meter event per payer x day with a positive charge, the value in minor units as a string."""
    return [
        ("charge", {
            "event_name": event_name,
            "identifier": str(uuid.uuid5(ID_NAMESPACE, f"stripe/{event_name}/{day['statement_id']}/{day['event_date']}")),
            "timestamp": _day_start(day["event_date"]),
            "payload": {"stripe_customer_id": customers[day["payer"]], "value": str(day["charge_minor"])},
        })
        for day in days
        if day["charge_minor"] > 0
    ]


def _day_start(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())


def _write(out: Path, lines: list[str]) -> None:
    """Write the lines (JSON Lines, UTF-8, one newline after each) to out through a temporary file beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes("".join(f"{line}\n" for line in lines).encode("utf-8"))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _count(meters) -> dict[str, int]:
    counts: dict[str, int] = {}
    for meter in meters:
        counts[meter] = counts.get(meter, 0) + 1
    return counts


def _exported(days: list[dict], fmt: str) -> dict[str, Decimal]:
    """The charge the events carry, per currency."""
    exported: dict[str, Decimal] = {}
    for day in days:
        sent = day["charge_minor"] > 0 if fmt == "stripe" else day["charge_minor"] != 0
        if sent:
            charge = Decimal(day["charge_minor"]).scaleb(-day["currency_places"])
            exported[day["currency"]] = exported.get(day["currency"], Decimal(0)) + charge
    return exported


def _check_totals(statements: list[_Statement], exported: dict[str, Decimal], what: str) -> None:
    wrong = [
        f"{total.currency}: {total.exported} against {total.statements}"
        for total in _totals(statements, exported)
        if total.exported != total.statements
    ]
    if wrong:
        raise UsageExportError(f"{what} do not add up to the statements' charge ({'; '.join(wrong)}); nothing was written")


def _totals(statements: list[_Statement], exported: dict[str, Decimal]) -> tuple[CurrencyTotal, ...]:
    totals = []
    for currency in sorted({s.currency for s in statements}):
        mine = [s for s in statements if s.currency == currency]
        totals.append(CurrencyTotal(
            currency=currency,
            places=mine[0].currency_places,
            exported=exported.get(currency, Decimal(0)),
            statements=sum((s.charge for s in mine), Decimal(0)),
            adjustment_lines=sum(s.adjustment_lines for s in mine),
            adjustments=sum((s.adjustments for s in mine), Decimal(0)),
        ))
    return tuple(totals)


def _warnings(month: str, final: bool, days: list[dict], fmt: str, now: dt.datetime | None) -> list[str]:
    warnings = []
    if not final:
        warnings.append(
            f"{month} is not closed: its statements are drafts and a day can still change, while a billing system keeps the "
            f"first event of each id; send the month once `tokenledger close {month}` has made it final"
        )
    if fmt == "stripe":
        cutoff = (now or dt.datetime.now(dt.timezone.utc)) - STRIPE_WINDOW
        late = sum(1 for day in days if day["charge_minor"] > 0 and _day_start(day["event_date"]) < cutoff.timestamp())
        if late:
            warnings.append(
                f"Stripe accepts meter events from the last 35 days only: {late} of the events of {month} are dated before "
                f"{cutoff:%Y-%m-%d %H:%M} UTC and will be refused; bill those days with an invoice item instead"
            )
    return warnings
