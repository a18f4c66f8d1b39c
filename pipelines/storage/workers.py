"""The process running each run's steps (its run worker), by run: `<home>/.work/run_workers.json`.

Each step records its run's worker when it starts (`defs.resources`), as a process identity (`storage.processes`);
`defs.run_workers.end_dead_runs` reads them to find runs whose worker died, and forgets the runs that ended. An
unreadable file is taken for empty: it only helps find dead runs, and the next step writes it anew.
"""

from __future__ import annotations

import json

from pipelines.storage.home import Home
from pipelines.storage.lock import short_lock
from pipelines.storage.unfinished import write_runs

FILE = "run_workers.json"


def _path(home: Home):
    return home.work_warehouse.parent / FILE


def _read(home: Home) -> dict[str, list[str]]:
    try:
        runs = json.loads(_path(home).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(runs, dict):
        return {}
    return {run: [named for named in names if isinstance(named, str)] for run, names in runs.items() if isinstance(names, list)}


def _write(home: Home, runs: dict[str, list[str]]) -> None:
    write_runs(_path(home), runs)


def record_worker(home: Home, run_id: str, named: str) -> None:
    """Record that process `named` runs run `run_id`'s steps."""
    with short_lock(home, "run-workers"):
        runs = _read(home)
        if named not in runs.get(run_id, []):
            runs.setdefault(run_id, []).append(named)
            _write(home, runs)


def recorded_workers(home: Home) -> dict[str, list[str]]:
    """Every recorded run with the identities of its workers."""
    with short_lock(home, "run-workers"):
        return _read(home)


def forget_workers(home: Home, run_ids: set[str]) -> None:
    """Forget the workers of runs that ended."""
    if run_ids:
        with short_lock(home, "run-workers"):
            _write(home, {run: names for run, names in _read(home).items() if run not in run_ids})
