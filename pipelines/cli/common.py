"""What every `tokenledger` command shares: the one user error, --home, and how dates, months and money read.

A handler raises `UserError` for a mistake the user can fix (one line on stderr, exit 2, no traceback) and
returns its exit code otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable
from decimal import Decimal

from pipelines.settings import DEFAULT_HOME, HOME_ENV
from pipelines.storage.home import Home


class UserError(Exception):
    """An error to show the user in one line, without a traceback (exit code 2)."""


def with_home(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --home to a command."""
    sub.add_argument("--home", help=f"home folder (default: ${HOME_ENV} or {DEFAULT_HOME})")
    return sub


def home_of(args: argparse.Namespace) -> Home:
    return Home.at(args.home)


def warehouse_of(args: argparse.Namespace) -> Home:
    """The home, which must have a warehouse already."""
    home = home_of(args)
    if not home.warehouse.is_file():
        raise UserError(f"no warehouse at {home.warehouse}: run `tokenledger run --home {home.root}` (or `tokenledger demo`) first")
    return home


def date_arg(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def month_arg(text: str) -> str:
    try:
        dt.datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a month (YYYY-MM): {text!r}") from None
    return text


def money(value: Decimal | None, places: int = 2) -> str:
    """A USD amount for people: rounded to `places` for display only, with thousands separators."""
    if value is None:
        return "n/a"
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-places)):,}"


def pipe_safe(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`tokenledger prices list | head` ends quietly instead of with a BrokenPipeError traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except BrokenPipeError:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter flushes stdout at exit
            return 0

    return run
