"""A price version's start and its time-of-day windows (the schema is in pricing/README.md).

`effective_from` is a date (the version starts at 00:00 UTC), a time with its UTC offset (a price that changed
during a day), or `unknown`: the provider never published when the price started. An unknown start is stored as
a null `effective_from` in `reference.prices`; the version applies to every request before the next version, and
the requests it prices are marked `price_confidence = 'undated'`.

`windows` lists prices in force during UTC time ranges, every day or on some weekdays (DeepSeek's night
discount, peak hours). A window's tier blocks replace the version's blocks of the same tiers while it is open;
a window that starts on a listed day and ends past midnight runs into the next day. Each version is flattened
into rows that cover the week exactly once: `utc_minute_from`/`utc_minute_to` (minutes of the UTC day,
[from, to)) and `utc_days` (the weekdays as bits, Monday = 1, every day = 127).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from pipelines.settings import as_date, shown

TIERS = ("standard", "batch", "flex", "priority")
UNKNOWN_START = "unknown"
UNDATED = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)
"""The start of an `effective_from: unknown` version while the book is flattened (stored as null)."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY_DAY = 2 ** len(WEEKDAYS) - 1
DAY_MINUTES = 1440
VERSION_KEYS = {"effective_from", "source", "checked", "note", "windows", *TIERS}
WINDOW_KEYS = {"utc", "days", "note", *TIERS}
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


@dataclass(frozen=True)
class Window:
    """Prices in force from `start` to `end` (minutes of the UTC day; end <= start runs past midnight)."""

    start: int
    end: int
    days: int
    blocks: dict
    note: str | None

    @property
    def label(self) -> str:
        text = f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        return text if self.days == EVERY_DAY else f"{text} {days_text(self.days)}"


@dataclass(frozen=True)
class Segment:
    """A part of the week with one price: minutes [start, end) of the UTC day on the `days` bits; `window` is the
    index of the window in force, or None for the version's own prices."""

    start: int
    end: int
    days: int
    window: int | None


ALL_WEEK = (Segment(0, DAY_MINUTES, EVERY_DAY, None),)


def version_start(value: object) -> dt.datetime | None:
    """A version's `effective_from` as the UTC moment it starts: a date starts at 00:00 UTC; a price that changed
    during a day gives the time with its offset (`2025-09-05T16:00:00Z`); `unknown` gives UNDATED. A time without an
    offset is refused (None)."""
    if value == UNKNOWN_START:
        return UNDATED
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value) if len(value) > 10 else dt.date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc) if value.tzinfo is not None else None
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), dt.timezone.utc)
    return None


def start_label(start: dt.date | None) -> str:
    """How a version's start is written in price ids and messages: its date, date and UTC time when it starts during
    a day (`2025-09-05T16:00Z`), or `undated`."""
    if start is None or start == UNDATED:
        return "undated"
    if isinstance(start, dt.datetime):
        return start.date().isoformat() if start.time() == dt.time() else start.strftime("%Y-%m-%dT%H:%MZ")
    return start.isoformat()


def stored_start(start: dt.datetime) -> dt.datetime | None:
    """The `effective_from` stored in reference.prices: null when the start is unknown."""
    return None if start == UNDATED else start


def version_problems(where: str, versions: list, starts: list) -> list[str]:
    """Structural problems of a model's versions: dates, overlaps, keys, source, tiers."""
    problems = []
    seen: set[dt.datetime] = set()
    for position, (version, start) in enumerate(zip(versions, starts)):
        if not isinstance(version, dict):
            problems.append(f"{where}: a version must be a mapping, got {shown(version)}")
            continue
        if start is None:
            problems.append(
                f"{where}: version without a valid effective_from (YYYY-MM-DD, a time with its UTC offset, or unknown): "
                f"{shown(version.get('effective_from'))}"
            )
            continue
        label = f"{where}@{start_label(start)}"
        if start in seen:
            problems.append(f"{label}: overlapping versions: two versions start on {start_label(start)}")
        if start == UNDATED and position and any(s is not None and s != UNDATED for s in starts[:position]):
            problems.append(f"{label}: only the first version can have an unknown start")
        seen.add(start)
        problems += [f"{label}: unknown key {shown(key)}" for key in version if key not in VERSION_KEYS]
        if not version.get("source"):
            problems.append(f"{label}: missing source")
        for key in ("source", "note"):
            if version.get(key) is not None and not isinstance(version[key], str):
                problems.append(f"{label}: {key} must be text, got {shown(version[key])}")
        if version.get("checked") is not None and as_date(version.get("checked")) is None:
            problems.append(f"{label}: checked is not a date (YYYY-MM-DD): {shown(version.get('checked'))}")
        if not any(tier in version for tier in TIERS):
            problems.append(f"{label}: no service tier priced (one of {', '.join(TIERS)})")
    return problems


def parse_windows(label: str, spec: object, version: dict) -> tuple[list[Window], list[str]]:
    """The version's `windows`, checked: a UTC range `HH:MM-HH:MM`, optional `days`, tier blocks of tiers the version
    prices."""
    if spec is None:
        return [], []
    if not isinstance(spec, list) or not spec:
        return [], [f"{label}: windows must be a non-empty list of {{utc, days, <tier>}} mappings, got {shown(spec)}"]
    windows, problems = [], []
    for position, item in enumerate(spec):
        where = f"{label}/windows[{position}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping with utc and tier prices, got {shown(item)}")
            continue
        problems += [f"{where}: unknown key {shown(key)} (known: {', '.join(sorted(WINDOW_KEYS))})" for key in item if key not in WINDOW_KEYS]
        found = _RANGE.fullmatch(item["utc"]) if isinstance(item.get("utc"), str) else None
        start = int(found[1]) * 60 + int(found[2]) if found else None
        end = int(found[3]) * 60 + int(found[4]) if found else None
        if found is None or end > DAY_MINUTES or start == end % DAY_MINUTES:
            problems.append(f"{where}: utc must be a UTC time range HH:MM-HH:MM of less than a day, got {shown(item.get('utc'))}")
            continue
        days = _days(item.get("days"))
        if days is None:
            problems.append(f"{where}: days must be a list of {', '.join(WEEKDAYS)}, got {shown(item.get('days'))}")
            continue
        blocks = {tier: item[tier] for tier in TIERS if tier in item}
        if not blocks:
            problems.append(f"{where}: no tier priced in the window (one of {', '.join(TIERS)})")
        problems += [f"{where}: prices {tier}, which the version does not" for tier in blocks if tier not in version]
        if item.get("note") is not None and not isinstance(item["note"], str):
            problems.append(f"{where}: note must be text, got {shown(item['note'])}")
        windows.append(Window(start, end % DAY_MINUTES, days, blocks, item.get("note")))
    return windows, problems


def days_text(days: int) -> str:
    """Weekday bits as people write them: `mon-fri`, `sat,sun`, `mon,wed`."""
    listed = [i for i in range(len(WEEKDAYS)) if days >> i & 1]
    if len(listed) > 2 and listed == list(range(listed[0], listed[-1] + 1)):
        return f"{WEEKDAYS[listed[0]]}-{WEEKDAYS[listed[-1]]}"
    return ",".join(WEEKDAYS[i] for i in listed)


def _days(value: object) -> int | None:
    if value is None:
        return EVERY_DAY
    if not isinstance(value, list) or not value or any(day not in WEEKDAYS for day in value) or len(set(value)) != len(value):
        return None
    return sum(1 << WEEKDAYS.index(day) for day in value)


def segments(label: str, windows: list[Window]) -> tuple[list[Segment], list[str]]:
    """The week cut where the windows open and close: each part of each day is in at most one window."""
    if not windows:
        return list(ALL_WEEK), []
    week: list[list[int | None]] = [[None] * DAY_MINUTES for _ in WEEKDAYS]
    problems = []
    for index, window in enumerate(windows):
        for day in range(len(WEEKDAYS)):
            if not window.days >> day & 1:
                continue
            spans = [(day, window.start, window.end)] if window.start < window.end or window.end == 0 else [
                (day, window.start, DAY_MINUTES), ((day + 1) % len(WEEKDAYS), 0, window.end)]
            for on, first, last in spans:
                last = last or DAY_MINUTES
                taken = {week[on][m] for m in range(first, last)} - {None}
                if taken:
                    problems.append(f"{label}: windows {window.label} and {windows[min(taken)].label} overlap on {WEEKDAYS[on]}")
                    return list(ALL_WEEK), problems
                week[on][first:last] = [index] * (last - first)
    found: dict[tuple[int, int, int | None], int] = {}
    for day, minutes in enumerate(week):
        start = 0
        for minute in range(1, DAY_MINUTES + 1):
            if minute == DAY_MINUTES or minutes[minute] != minutes[start]:
                key = (start, minute, minutes[start])
                found[key] = found.get(key, 0) | 1 << day
                start = minute
    return [Segment(start, end, days, window) for (start, end, window), days in sorted(found.items(), key=lambda kv: (kv[0][0], kv[1]))], problems
