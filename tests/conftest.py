"""Shared fixtures: a temporary home with a key. Helpers that build inputs are in tests/helpers.py.

Every test's temporary folder lives under a base whose name holds an apostrophe, a space and non-ASCII
letters (unless --basetemp is given): every home, lake, warehouse and Dagster instance of the suite sits on
such a path, so a path pasted into SQL or a URL unquoted fails the suite. The base is removed when the
suite passes and kept for a look when it does not.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from pipelines.ingest.privacy import create_key
from pipelines.storage.home import Home

HOSTILE_BASE_PREFIX = "tokenledger o'brien dürüm "
_CREATED = pytest.StashKey[Path]()
_PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.option.basetemp is None and not hasattr(config, "workerinput"):  # xdist workers get theirs from here
        config.option.basetemp = Path(tempfile.mkdtemp(prefix=HOSTILE_BASE_PREFIX)) / "tests"
        config.stash[_CREATED] = config.option.basetemp.parent


def pytest_unconfigure(config: pytest.Config) -> None:
    created = config.stash.get(_CREATED, None)
    if created is not None and config.stash.get(_PASSED, False):
        shutil.rmtree(created, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_PASSED] = exitstatus == 0


@event.listens_for(Engine, "connect")
def _dagster_sqlite_without_fsync(dbapi_connection, _record) -> None:
    """Dagster's SQLite run and event storage, in the suite's in-process runs, commits without fsync: it opens a
    connection per event and syncs each commit and each close (a WAL checkpoint): tests/test_pipeline.py took 12m52s
    with the syncs and 7m38s without, the same CPU time (2 cores). A crash of the process loses nothing (the writes are in the OS); only a power loss could,
    which no test makes. `tokenledger` itself, and every test that runs it in a subprocess, keeps SQLite's default."""
    if type(dbapi_connection).__module__ == "sqlite3":
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.close()


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """An empty home folder with a pseudonymization key."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    return home


@pytest.fixture(autouse=True)
def _signal_handlers_restored():
    """Each test starts with the process's SIGINT and SIGTERM handlers as they were: an in-process Dagster run leaves
    SIGTERM on the SIGINT handler (its `capture_interrupts`), which a later test, or a child process that inherits an
    ignored signal, would otherwise see."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        if handler is not None:
            signal.signal(signum, handler)
