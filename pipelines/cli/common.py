"""What every `tokenledger` command shares: the one user error, --home, and how dates, months and money read.

A handler raises `UserError` for a mistake the user can fix (one line on stderr, exit 2, no traceback) and
returns its exit code otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from pipelines.settings import DEFAULT_HOME, HOME_ENV, as_date
from pipelines.storage.home import Home
from pipelines.storage.relations import printable


class UserError(Exception):
    """An error to show the user in one line, without a traceback (exit code 2)."""


def with_home(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --home to a command."""
    sub.add_argument("--home", help=f"home folder (default: ${HOME_ENV} or {DEFAULT_HOME})")
    return sub


def home_of(args: argparse.Namespace) -> Home:
    if args.home is not None and not args.home.strip():  # Path("") is the current folder: init would make it a home
        raise UserError("--home is empty: give it a folder (or leave it out for $" + HOME_ENV + f" or {DEFAULT_HOME})")
    home = Home.at(args.home)
    if "?" in str(home.root):  # DuckDB reads what follows a '?' in a database path as options (its log went to 'a.wal?b/')
        raise UserError(f"{home.root}: a home folder's path may not contain '?' (DuckDB cuts database paths there); rename it")
    if home.root.exists() and not home.root.is_dir():
        raise UserError(f"{home.root} is not a folder: give --home a folder (`tokenledger init` makes one)")
    return home


def warehouse_of(args: argparse.Namespace) -> Home:
    """The home, which must have a warehouse already."""
    home = home_of(args)
    if not home.warehouse.is_file():
        raise UserError(f"no warehouse at {home.warehouse}: run `tokenledger run --home {home.root}` (or `tokenledger demo`) first")
    return home


def check_home(home: Home) -> None:
    """Before a run starts (after main() has read the TOKENLEDGER_* variables): read every file the user wrote in the home as the run will (settings.yaml,
    price_overrides.yaml, budgets.yaml, experiments.yaml, model_tiers.yaml, attribution.yaml, energy.yaml, chargeback.yaml) and the price book, and make sure no
    other run holds the home and no other process is writing the warehouse. A bad file is a ConfigError (or
    AttributionConfigError) naming it, a busy home a RunInProgress, a busy warehouse a WarehouseBusyError: one line
    for the user instead of a failed Dagster step."""
    from pipelines.adapters.attribution import AttributionConfig
    from pipelines.insights.budgets import load_budgets
    from pipelines.insights.chargeback import load_chargeback
    from pipelines.insights.experiments import load_designs
    from pipelines.pricing.book import load_price_book
    from pipelines.pricing.energy import load_energy
    from pipelines.pricing.overrides import load_overrides
    from pipelines.pricing.tiers import load_tier_rules
    from pipelines.settings import check_settings
    from pipelines.storage.database import connect
    from pipelines.storage.lock import run_lock

    check_settings(home.root)
    load_overrides(home.root)
    load_budgets(home.root)
    load_designs(home.root)
    load_tier_rules(home.root)
    load_energy(home.root)
    load_chargeback(home.root)
    AttributionConfig.load(home.root)
    load_price_book(home_root=home.root)
    with run_lock(home), connect(home):
        pass


def date_arg(text: str) -> dt.date:
    day = as_date(text)  # YYYY-MM-DD only: Python's ISO reader also takes 20261129 and 2026-W48-7
    if day is None:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}")
    return day


def month_arg(text: str) -> str:
    from pipelines.finance.close import FIRST_YEAR, LAST_YEAR, MONTH

    if not MONTH.fullmatch(text):  # strptime's %m also takes 2026-1, a month no table spells that way
        raise argparse.ArgumentTypeError(f"not a month (YYYY-MM): {text!r}")
    month = dt.datetime.strptime(text, "%Y-%m")
    if not FIRST_YEAR <= month.year <= LAST_YEAR:
        raise argparse.ArgumentTypeError(f"not a month from {FIRST_YEAR}-01 to {LAST_YEAR}-12: {text!r}")
    return text


def money(value: Decimal | None, places: int = 2) -> str:
    """A USD amount for people: rounded to `places` for display only, with thousands separators."""
    if value is None:
        return "n/a"
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-places)):,}"


def reader_gone() -> int:
    """`tokenledger sql ... | head`: the reader closed the pipe, which is no error. Standard output is pointed at
    /dev/null, so the interpreter's last flush at exit writes nowhere instead of raising again; exit 0."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno())
    os.close(devnull)
    return 0


def cell(value: object) -> str:
    """A value printed inside a line or a table: newlines and tabs escaped too, so one value stays one cell."""
    return printable(str(value)).replace("\n", "\\n").replace("\t", "\\t")


class _Escaped(io.TextIOBase):
    """A text stream that escapes unsafe characters before they reach the terminal. When its reader is gone (`tokenledger
    run | head -1`) the rest goes nowhere and the command goes on to its end and its own exit code: a run stopped by
    its progress line abandoned its work and exited 0."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            self._stream.write(printable(text))
        except BrokenPipeError:
            self._nowhere()
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._nowhere()

    def _nowhere(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def fileno(self) -> int:
        return self._stream.fileno()


@contextmanager
def escaped_output() -> Iterator[None]:
    """Everything a command prints goes through `printable`: values from logs and bills are data, not terminal codes."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Escaped(sys.stdout), _Escaped(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


_HOME_STATE = ("secrets", ".work", ".dagster", ".tmp", ".locks", "lake", "landing", "prices")
"""Folders of a home that hold its state or its inputs: an export or report written there would replace a key, the
warehouse, the run history or a price file, or be read back as a landed file."""


def refuse_home_state(out: Path | None, home) -> None:
    """UserError when `out` names a file of the home's own state: the published warehouse (or its log), a config
    file at the home's top, or anything under _HOME_STATE. `tokenledger report --out <home>/warehouse.duckdb` replaced
    the warehouse with HTML."""
    if out is None or home is None:
        return
    root = home.root.resolve()
    roots = {home.root.absolute(), root}  # as written and as resolved: a state folder or file may be a symlink
    folders = {folder for r in roots for folder in (r / name for name in _HOME_STATE)} | {(root / name).resolve() for name in _HOME_STATE}
    files = {home.warehouse.resolve(), home.warehouse.with_name("warehouse.duckdb.wal").resolve()}
    targets = {Path(out).expanduser().absolute(), Path(out).expanduser().resolve()}
    inside = any(t in files or any(t.is_relative_to(f) for f in folders)
                 or (t.parent in roots and (t.name.startswith("warehouse.duckdb") or t.suffix in (".yaml", ".yml"))) for t in targets)
    if inside:
        raise UserError(f"{out} is part of the home's own state ({root}): write the output elsewhere, "
                        f"for example under {root / 'reports'}")


@contextmanager
def unwritable(out: Path, home=None):
    """An output path that is a folder, a FIFO, socket or device, that is part of the home's state
    (`refuse_home_state`), or that cannot be written (no such device, no permission, a full disk), as one UserError
    naming it instead of a traceback. None is the command's default path (named from the error)."""
    import duckdb

    refuse_home_state(out, home)
    target = Path(out).expanduser() if out is not None else None
    if target is not None and (target.is_dir() or not target.name):
        raise UserError(f"{out} is a folder: name the file to write")
    if target is not None and target.exists() and not target.is_file():  # written by rename: /dev/null would become a file
        raise UserError(f"{out} is not a regular file (a FIFO, socket or device): name a file to write")
    try:
        yield
    except (OSError, duckdb.IOException, duckdb.PermissionException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise UserError(f"cannot write {out if out is not None else getattr(exc, 'filename', None) or 'the output'}: {reason}") from None



@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a command as Ctrl-C does (KeyboardInterrupt: "interrupted", exit 130) instead of killing it
    without a word; the previous handler is back after the block. Outside the main thread nothing changes."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interruptible(con) -> Iterator[None]:
    """Let Ctrl-C stop what DuckDB runs on `con`: printing a result (`relation.show()`) does not check for it, so the
    signal's wake-up byte is read on a thread that interrupts the connection; the query then ends as KeyboardInterrupt
    ("interrupted", exit 130). Outside the main thread (no signal handling there) nothing changes."""
    import signal
    import threading

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        previous = signal.set_wakeup_fd(write_end)
    except ValueError:  # not the main thread
        os.close(read_end)
        os.close(write_end)
        yield
        return

    def interrupt_on_signal() -> None:
        while os.read(read_end, 1):
            con.interrupt()

    watcher = threading.Thread(target=interrupt_on_signal, daemon=True)
    watcher.start()
    try:
        yield
    except RuntimeError as exc:
        if "interrupted" in str(exc).lower():
            raise KeyboardInterrupt from exc
        raise
    finally:
        signal.set_wakeup_fd(previous)
        os.close(write_end)  # the watcher reads the end of the pipe and stops
        watcher.join()
        os.close(read_end)
