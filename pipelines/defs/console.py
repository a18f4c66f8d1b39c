"""Progress of long steps: always in the Dagster log, and on the terminal of a command that runs the pipeline in
this process (`tokenledger run`) when the work is slow enough to want it.

A run of a few thousand requests prints only its stage lines; a day of ten million also prints each landed file
as it is ingested and each daily table as it is built, so a minute of work is never a minute of silence.

    with printed_to(print):          # the runner, around its Dagster runs
        ...
    say = Progress(context)          # a step
    say("[3/8] gateway/envelope/a.jsonl.gz: 1250000 loaded, 0 rejected, 0 duplicate")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg

SLOW_SECONDS = 2.0
"""A step's line reaches the terminal when this long has passed since the step started or its last line."""

_sinks: list[Callable[[str], None]] = []


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
        now = time.monotonic()
        if _sinks and (warning or now - self._shown >= SLOW_SECONDS):
            self._shown = now
            for sink in list(_sinks):
                sink(message)
