"""A process named so that another process on the same machine can tell, later, whether it is still alive.

An identity is `<host> <boot> <pid namespace> <pid> <start>`: the host name; the kernel's boot id
(/proc/sys/kernel/random/boot_id) with the machine id (/etc/machine-id) after a slash; the pid namespace
(/proc/self/ns/pid); the process id; and its start time in clock ticks since boot (field 22 of /proc/<pid>/stat).
Any of them is `-` where the system does not say (not Linux). The start time tells a reused process id from the
process it named; the boot id, a process of an earlier boot (the machine restarted: it is gone); the namespace, a
process another container sees under the same number. Whatever cannot be compared leaves the answer unknown, never
"gone".
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

PROC = Path("/proc")
UNKNOWN = "-"


def _read(path: Path | str) -> str:
    try:
        return Path(path).read_bytes().decode("ascii", "replace").strip() or UNKNOWN
    except OSError:
        return UNKNOWN


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None without that file. The name,
    in parentheses, may hold spaces, ')' and bytes that are not UTF-8."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].decode("ascii", "replace").split()
    return fields if len(fields) > 19 else None


def _boot() -> str:
    machine = _read("/etc/machine-id")
    return f"{_read(PROC / 'sys/kernel/random/boot_id')}/{_read('/var/lib/dbus/machine-id') if machine == UNKNOWN else machine}"


def _namespace() -> str:
    try:
        return os.readlink(PROC / "self/ns/pid").replace(" ", "")
    except OSError:
        return UNKNOWN


def identity(pid: int) -> str:
    """The identity of process `pid`, seen from this process."""
    fields = _stat(pid)
    return f"{socket.gethostname().replace(' ', '_')} {_boot()} {_namespace()} {pid} {fields[19] if fields else UNKNOWN}"


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
        if here == pid:
            return True
        if here <= 1:
            return False
    return False


def alive(named: str) -> bool | None:
    """Whether the process of identity `named` still runs: None when this process cannot tell (another host or pid
    namespace, not an identity), False when it is gone (or a zombie, or of an earlier boot of this machine), True
    otherwise."""
    try:
        host, boot, namespace, pid_text, start = named.split(" ")
        pid = int(pid_text)
    except ValueError:
        return None
    if host != socket.gethostname().replace(" ", "_") or pid <= 0:
        return None
    here_boot = _boot()
    if boot != here_boot:  # an earlier boot of this machine (same machine id): its processes are gone; else unknown
        (old_boot, _, machine), (new_boot, _, here_machine) = boot.partition("/"), here_boot.partition("/")
        return False if UNKNOWN not in (old_boot, new_boot, machine) and machine == here_machine else None
    if namespace != _namespace():
        return None
    fields = _stat(pid)
    if fields is not None:
        return fields[0] != "Z" and start in (UNKNOWN, fields[19])
    return pid_alive(pid)  # no /proc entry: gone, or hidden from this user (hidepid): ask the kernel


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (the kernel's answer; another user's process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
