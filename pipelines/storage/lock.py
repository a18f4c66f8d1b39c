"""Locks in the home folder (always local disk, even when landing and the lake are in a bucket).

- `run_lock`: one `tokenledger run` (or close, or writing command) per home at a time; a second fails at once.
- `ingest_lock`: one ingestion of a landed source at a time, whoever started it: a CLI run, the schedule, the
  landing sensor. The Dagster run queue keeps tagged runs apart (`tokenledger/ingest`); this lock also keeps a CLI
  run, which the queue does not see, from ingesting beside them. A second ingestion waits for the first.
- `pending_lock`: the read-modify-write of the pending dates file, from ingestion, sensors and runs.
- `short_lock`: any other brief exclusive step (the first copy of the working warehouse).

Every lock is an flock on a file (the run lock on the home folder): the kernel drops it when its process dies, so a killed run never leaves one.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from pipelines.storage.home import Home

WAIT_REPORT_SECONDS = 60.0
"""While waiting for an ingestion lock, say so every this many seconds."""


class RunInProgress(RuntimeError):
    """Another tokenledger run holds this home's run lock."""


def _holder(handle: IO[str]) -> str:
    """The pid the holder wrote; it writes it just after taking the lock, so an empty file is read again briefly."""
    for _ in range(20):
        handle.seek(0)
        pid = handle.read().strip()
        if pid:
            return pid
        time.sleep(0.025)
    return "unknown"


def _claim(handle: IO[str]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()


@contextmanager
def _held(handle: IO[str], locked: IO[str] | int | None = None) -> Iterator[None]:
    """Write our pid into `handle` while the lock is held; then clear it and let go of the flock on `locked`
    (`handle` itself unless another file or folder is the lock)."""
    _claim(handle)
    try:
        yield
    finally:
        handle.seek(0)
        handle.truncate()
        fcntl.flock(handle if locked is None else locked, fcntl.LOCK_UN)


@contextmanager
def run_lock(home: Home) -> Iterator[None]:
    """Hold the home's run lock: a second run fails at once with a clear message, never interleaves.

    The lock is an flock on the home folder itself, which cannot be deleted while it holds anything: a lock on
    `.run.lock` alone was lost when someone deleted that file during a run (the next run locked a new file and
    ran beside the first). `.run.lock` holds the holder's pid, for the message. Where a folder cannot be flocked
    (NFS emulates flock with byte-range locks, which need a file open for writing) `.run.lock` itself is the lock."""
    home.root.mkdir(parents=True, exist_ok=True)
    folder = os.open(home.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with open(home.root / ".run.lock", "a+") as handle:
            locked: IO[str] | int = folder
            try:
                try:
                    fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise
                except OSError:  # EBADF, ENOLCK: no flock on a folder here
                    locked = handle
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunInProgress(f"another tokenledger run is writing {home.root} (pid {_holder(handle)}); try again when it finishes") from None
            with _held(handle, locked):
                yield
    finally:
        os.close(folder)


def _lock_file(home: Home, name: str) -> Path:
    folder = home.root / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.lock"


@contextmanager
def ingest_lock(home: Home, source: str, progress: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """Hold the lock of one landed source's ingestion, waiting (and saying so) while another process holds it."""
    path = _lock_file(home, f"ingest-{source}")
    with open(path, "a+") as handle:
        waited = 0.0
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited % WAIT_REPORT_SECONDS == 0:
                    progress(f"waiting for another ingestion of {source} (pid {_holder(handle)}) to finish")
                time.sleep(0.5)
                waited += 0.5
        with _held(handle):
            yield


def ingestion_running(home: Home, source: str) -> bool:
    """Whether a process holds `source`'s ingestion lock now."""
    with open(_lock_file(home, f"ingest-{source}"), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@contextmanager
def short_lock(home: Home, name: str) -> Iterator[None]:
    """Hold the lock `name`, waiting for it: for work that takes a moment (the pending dates file's read and
    write, the first copy of the working warehouse)."""
    with open(_lock_file(home, name), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with _held(handle):
            yield


def pending_lock(home: Home):
    """The lock of the pending dates file."""
    return short_lock(home, "pending")
