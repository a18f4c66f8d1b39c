"""The TOKENLEDGER_* variables checked before any command: a value not of its form is a ConfigError naming it, shown
as one line, instead of a traceback from inside the first step that reads it. Also the memory limit's share for
DuckDB databases working at once."""

from __future__ import annotations

import os
import re
from decimal import Decimal

import duckdb

from pipelines.settings import (
    LAKE_URL_ENV,
    LANDING_URL_ENV,
    MEMORY_LIMIT_ENV,
    SHOWN_CHARS,
    ConfigError,
    env,
    ingest_workers,
    max_line_bytes,
    memory_limit,
)

MEMORY_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
                 "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_limit_share(parts: int) -> str:
    """`memory_limit()` split between `parts` DuckDB databases working at once, in bytes (as DuckDB reads units:
    KB = 1000, KiB = 1024); the limit as it is when it is not a size DuckDB spells that way."""
    limit = memory_limit()
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", limit.lower(), re.ASCII)
    if parts <= 1 or match is None or match.group(2) not in MEMORY_UNITS:
        return limit
    return f"{int(Decimal(match.group(1)) * MEMORY_UNITS[match.group(2)] / parts)}B"


def check_environment() -> None:
    """Read every TOKENLEDGER_* variable with a form as a run will; ConfigError names the first bad one."""
    max_line_bytes()
    ingest_workers()
    check_memory_limit()
    for name in (LANDING_URL_ENV, LAKE_URL_ENV):
        check_storage_url(name)


MIN_MEMORY_BYTES = 128 * 2**20


def check_memory_limit() -> None:
    """$TOKENLEDGER_DUCKDB_MEMORY_LIMIT must be a size DuckDB reads (`1536MB`, `2GiB`, `75%`) of at least 128 MiB;
    ConfigError naming the variable otherwise (DuckDB would fail the first step with its own traceback)."""
    raw = env(MEMORY_LIMIT_ENV)
    if raw is None:
        return
    problem = f"{MEMORY_LIMIT_ENV} must be a memory size such as 1536MB, 2GiB or 75% (at least 128MiB), got {raw[:SHOWN_CHARS]!r}"
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", raw.lower(), re.ASCII)
    if match and match.group(2) in MEMORY_UNITS and Decimal(match.group(1)) * MEMORY_UNITS[match.group(2)] < MIN_MEMORY_BYTES:
        raise ConfigError(problem)
    with duckdb.connect() as con:
        try:
            con.execute("set memory_limit = '" + raw.replace("'", "''") + "'")
        except duckdb.Error:
            raise ConfigError(problem) from None


def check_storage_url(name: str) -> None:
    """$TOKENLEDGER_LANDING_URL / $TOKENLEDGER_LAKE_URL must be s3://bucket[/prefix] or an absolute local folder
    (a relative one would follow whichever folder the command was started in)."""
    raw = env(name)
    if raw is None:
        return
    problem = f"{name} must be s3://bucket/prefix or an absolute local folder, got {raw[:SHOWN_CHARS]!r}"
    if "://" in raw:
        scheme, rest = raw.split("://", 1)
        if scheme.lower() == "s3" and re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?", rest):
            return
        if scheme.lower() == "file" and rest.startswith("/"):
            return
        raise ConfigError(problem)
    if not os.path.isabs(os.path.expanduser(raw)):
        raise ConfigError(problem)
