"""A process named so that another process on the same machine can tell, later, whether it is still alive.

An identity is `<host> <pid> <start>`: the host name, the process id and, on Linux, the process's start time in
clock ticks since boot (field 22 of /proc/<pid>/stat; `-` elsewhere). The start time tells a reused process id
from the process it named, so a process that died is never taken for alive because another took its number.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

PROC = Path("/proc")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None without that file."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()  # the command name, in parentheses, may hold spaces and ')'


def identity(pid: int) -> str:
    """`<host> <pid> <start>` of process `pid` (start `-` where /proc is not there)."""
    fields = _stat(pid) if PROC.joinpath("self").is_dir() else None
    return f"{socket.gethostname()} {pid} {fields[19] if fields else '-'}"


def is_self_or_ancestor(pid: int) -> bool:
    """Whether `pid` is this process or one of its ancestors (its parent where /proc is not there)."""
    here = os.getpid()
    for _ in range(64):
        if here == pid:
            return True
        fields = _stat(here)
        if fields is None:
            return pid == os.getppid()
        here = int(fields[1])
        if here <= 1:
            return False
    return False


def alive(named: str) -> bool | None:
    """Whether the process of identity `named` still runs: None when it ran on another host (or the identity is not
    one), False when it is gone or a zombie, True otherwise."""
    try:
        host, pid_text, start = named.split(" ")
        pid = int(pid_text)
    except ValueError:
        return None
    if host != socket.gethostname() or pid <= 0:
        return None
    if PROC.joinpath("self").is_dir():
        fields = _stat(pid)
        return fields is not None and fields[0] != "Z" and start in ("-", fields[19])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
