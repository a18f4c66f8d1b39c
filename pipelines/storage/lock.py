"""One run per home at a time: an exclusive lock file in the home folder."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from pipelines.storage.home import Home


class RunInProgress(RuntimeError):
    """Another tokenledger run holds this home's run lock."""


@contextmanager
def run_lock(home: Home) -> Iterator[None]:
    """Hold the home's run lock: a second run fails at once with a clear message, never interleaves."""
    home.root.mkdir(parents=True, exist_ok=True)
    path = home.root / ".run.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunInProgress(f"another tokenledger run is writing {home.root} (pid {holder}); try again when it finishes") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
