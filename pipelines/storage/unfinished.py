"""Runs that wrote the marts and have not been followed by a whole rebuild: the working warehouse contradicts itself
until one is (`.work/unfinished_runs.json`).

A day's models (staging, core.request_costs, marts.daily_spend) and the whole-history marts (chargeback,
reconciliation, coverage, ...) are built by separate steps. A run that dies or fails between them, or part way
through the whole-history marts, leaves new days beside whole-history marts built from the old ones. Such a state
is never published (`storage.database.publish` refuses it) and never closed (`finance.close`): readers keep the
last good warehouse.

Every step that writes the marts records its run here first, with the whole-history tables it rebuilt; a run
that rebuilt every whole-history table and succeeded covers itself and every run that had ended before it
started (`cover`), since its rebuild read all they wrote. A run that rebuilt some whole-history marts and wrote no
day is finished when it succeeds; stopped part way, it too waits for a whole rebuild.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from pipelines.storage.home import Home
from pipelines.storage.lock import short_lock

FILE = "unfinished_runs.json"


def _path(home: Home):
    return home.work_warehouse.parent / FILE


def _read(home: Home) -> dict[str, list[str]]:
    try:
        runs = json.loads(_path(home).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # unreadable or torn by hand: keep refusing rather than publish a mix
        return {f"unreadable {_path(home).name} ({exc})": []}
    return runs if isinstance(runs, dict) else {f"unreadable {_path(home).name}": []}


def _write(home: Home, runs: dict[str, list[str]]) -> None:
    write_runs(_path(home), runs)


def write_runs(path: Path, runs: dict[str, list[str]]) -> None:
    """Replace the JSON file of runs at `path` whole (removed when empty), so a reader never sees it half-written."""
    if not runs:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(runs, sort_keys=True))
    os.replace(temporary, path)


DAILY = "*days"
"""In a run's list: it wrote a day's tables."""


def writing(home: Home, run_id: str, built: str | None = None, daily: bool = False) -> None:
    """Record that run `run_id` writes the marts (before it does), `daily` a day's tables; with `built`, that it
    rebuilt that whole-history table (after it did)."""
    with short_lock(home, "unfinished-runs"):
        runs = _read(home)
        tables = runs.setdefault(run_id, [])
        for name in (DAILY if daily else None, built):
            if name is not None and name not in tables:
                tables.append(name)
        _write(home, runs)


def cover(home: Home, run_ids: list[str], history: Iterable[str], ended_before_it: Callable[[str], bool]) -> bool:
    """After run `run_ids[0]` succeeded (the others: the runs it re-executed, whose steps it did not repeat). When
    they rebuilt every table of `history` between them, they are finished, and so is every recorded run for which
    `ended_before_it(other)` holds (the rebuild read all they wrote); runs that wrote no day are finished too (each
    mart they rebuilt read the days as they were). Returns whether the run is finished."""
    with short_lock(home, "unfinished-runs"):
        runs = _read(home)
        chain = [run for run in dict.fromkeys(run_ids) if run in runs]
        if not chain:
            return True  # it wrote no marts
        built = {table for run in chain for table in runs[run]}
        complete = set(history) <= built
        if not complete and DAILY in built:
            return False
        done = set(chain) if complete else {run_ids[0]}
        _write(home, {other: tables for other, tables in runs.items() if other not in done and not (complete and ended_before_it(other))})
        return True


def unfinished_runs(home: Home) -> list[str]:
    """The runs whose writes no whole rebuild has followed yet (empty: the working warehouse is consistent)."""
    return sorted(_read(home))
