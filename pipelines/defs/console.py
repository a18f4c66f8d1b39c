"""Progress of long steps: always in the Dagster log, and on the terminal of a command that runs the pipeline in
this process (`tokenledger run`) when the work is slow enough to want it.

A run of a few thousand requests prints only its stage lines; a day of ten million also prints each landed file
as it is ingested and each daily table as it is built, so a minute of work is never a minute of silence.

    with printed_to(print):          # the runner, around its Dagster runs
        ...
    say = Progress(context)          # a step
    say("[3/8] gateway/envelope/a.jsonl.gz: 1250000 loaded, 0 rejected, 0 duplicate")

Ctrl-C and SIGTERM stop such a run wherever they land (`stop_signals_noted`, `stop_requested`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg

SLOW_SECONDS = 2.0
"""A step's line reaches the terminal when this long has passed since the step started or its last line."""

_sinks: list[Callable[[str], None]] = []
_wakeups: list[int] = []  # the read ends of the signal wake-up pipes of the open `stop_signals_noted` blocks
_stopped: set[int] = set()
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
_UNSET = object()


@contextmanager
def printed_to(sink: Callable[[str], None]) -> Iterator[None]:
    """Within the block, slow steps of runs in this process also send their progress lines to `sink`."""
    _sinks.append(sink)
    try:
        yield
    finally:
        _sinks.remove(sink)


class Progress:
    """One step's progress: every line to the step's Dagster log; to the terminal sinks, a line only once
    SLOW_SECONDS have passed since the step started or since its last line shown there, or one that starts with
    "warning: "."""

    def __init__(self, context: dg.AssetExecutionContext | dg.OpExecutionContext) -> None:
        self._log = context.log
        self._shown = time.monotonic()

    def __call__(self, message: str) -> None:
        warning = message.startswith("warning: ")  # always shown
        (self._log.warning if warning else self._log.info)(message)
        if stop_requested():  # the signal may have landed in Dagster's writing of that record, which swallows it
            raise dg.DagsterExecutionInterruptedError()
        now = time.monotonic()
        if _sinks and (warning or now - self._shown >= SLOW_SECONDS):
            self._shown = now
            for sink in list(_sinks):
                sink(message)


@contextmanager
def stop_signals_noted() -> Iterator[None]:
    """Within the block (on the main thread), every SIGINT or SIGTERM the process receives is noted, whatever becomes
    of it: `stop_requested` then says so. Dagster turns one into an error inside a step, but one that lands while it
    writes an event or a log record is caught there and the run goes on to success; DuckDB turns one into its own
    "Query interrupted" error. Python writes each signal's number to the wake-up file descriptor before any handler
    runs, so the noting misses none. Within the block SIGTERM raises KeyboardInterrupt, as SIGINT does, and an error
    the block ends with after either is KeyboardInterrupt ("interrupted", exit 130, in the command line)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    if not _wakeups:
        _stopped.clear()  # a block left by a signal in its cleanup must not stop the next one
    _wakeups.append(read_end)
    previous_term = previous = _UNSET
    previous_hook = sys.unraisablehook

    def quiet_interrupts(unraisable) -> None:
        # a signal whose handler raised inside a finalizer or a weakref callback (SQLAlchemy's, while Dagster writes an
        # event) cannot stop anything there: Python prints "Exception ignored in ..." with a traceback. It is noted
        # (`stop_requested`) and stops the run at its next step or line of progress; the traceback is noise
        if not isinstance(unraisable.exc_value, (KeyboardInterrupt, dg.DagsterExecutionInterruptedError)):
            previous_hook(unraisable)

    sys.unraisablehook = quiet_interrupts
    quiet_logs = _QuietInterrupts()  # and SQLAlchemy's pool logs one it caught while closing a connection
    logging.lastResort.addFilter(quiet_logs)
    try:
        previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
        previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        yield
    except Exception as exc:
        if stop_requested():  # whatever error the signal became: DuckDB's "Query interrupted", a failed run
            raise KeyboardInterrupt from exc
        raise
    finally:  # most needed first: a second Ctrl-C may land in here
        _wakeups.remove(read_end)
        if not _wakeups:
            _stopped.clear()  # runs outside a block (`tokenledger dev`'s) are not stopped by it
        if previous is not _UNSET:
            signal.set_wakeup_fd(previous)
        if previous_term is not _UNSET:
            signal.signal(signal.SIGTERM, previous_term)
        sys.unraisablehook = previous_hook
        logging.lastResort.removeFilter(quiet_logs)
        os.close(read_end)
        os.close(write_end)


class _QuietInterrupts(logging.Filter):
    """Drops a log record whose error is the interrupt `stop_signals_noted` has noted."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, (KeyboardInterrupt, dg.DagsterExecutionInterruptedError))


def stop_requested() -> bool:
    """Whether a SIGINT or SIGTERM has reached the process within an open `stop_signals_noted` block."""
    for fd in _wakeups:
        try:
            while received := os.read(fd, 4096):
                _stopped.update(received)
        except BlockingIOError:  # nothing more in the pipe
            pass
    return not _stopped.isdisjoint(STOP_SIGNALS)
