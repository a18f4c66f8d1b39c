"""`tokenledger dev` as systemd, a container runtime or a terminal runs it: started from the checkout, the UI answers
and the start-up prints no warning; SIGTERM (or SIGINT, Ctrl-C) then stops every process it started within 10 seconds.

The process tree is read from /proc while the command runs. A process is known by its pid and start time (so a
reused pid is not mistaken for it) and counts as left while it exists and is not a zombie.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 90
SETTLE_SECONDS = 5
STOP_SECONDS = 10

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads the process tree from /proc")


@pytest.fixture
def port() -> int:
    """A free local port; the test is skipped when none can be bound."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]
    except OSError as exc:
        pytest.skip(f"cannot bind a local port: {exc}")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, pgid, ...; None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _descendants(root: int) -> set[tuple[int, str]]:
    """Every process below `root`, as (pid, start time)."""
    children: dict[int, set[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), set()).add((int(entry), fields[19]))
    found: set[tuple[int, str]] = set()
    todo = [root]
    while todo:
        new = children.get(todo.pop(), set()) - found
        found |= new
        todo.extend(pid for pid, _ in new)
    return found


def _running(process: tuple[int, str]) -> bool:
    pid, start_time = process
    fields = _stat(pid)
    return fields is not None and fields[19] == start_time and fields[0] != "Z"


def _command(pid: int) -> str:
    try:
        return f"{pid} " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:200]
    except OSError:
        return str(pid)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_every_process_it_started_and_startup_prints_no_warning(tmp_path, port, stop):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENLEDGER_", "DAGSTER_"))}
    command = [sys.executable, "-m", "pipelines.cli", "dev", "--home", str(tmp_path / "home"), "--port", str(port)]
    output = tmp_path / "dev.log"
    with open(output, "wb") as log:
        dev = subprocess.Popen(command, cwd=CHECKOUT, env=env, stdout=log, stderr=subprocess.STDOUT)
    started: set[tuple[int, str]] = set()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(f"http://127.0.0.1:{port}/"):
            started |= _descendants(dev.pid)
            if dev.poll() is not None:
                text = output.read_text(errors="replace")
                if "address already in use" in text.lower():
                    pytest.skip(f"port {port} was taken before the UI could bind it")
                pytest.fail(f"tokenledger dev exited with {dev.returncode} before the UI answered:\n{text[-3000:]}")
            assert time.monotonic() < deadline, f"the UI did not answer within {STARTUP_SECONDS}s"
            time.sleep(0.5)
        settled = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < settled:
            started |= _descendants(dev.pid)
            time.sleep(0.5)
        startup = output.read_text(errors="replace")
        assert len(started) >= 2, f"expected the UI and the daemon among {sorted(started)}"

        dev.send_signal(stop)
        stopped = time.monotonic() + STOP_SECONDS
        while (dev.poll() is None or any(_running(process) for process in started)) and time.monotonic() < stopped:
            time.sleep(0.2)
        assert dev.poll() is not None, f"tokenledger dev still runs {STOP_SECONDS}s after {stop.name}"
        left = sorted(pid for pid, start_time in started if _running((pid, start_time)))
        assert left == [], f"left running {STOP_SECONDS}s after {stop.name}: " + "; ".join(_command(pid) for pid in left)
        assert "warning" not in startup.lower(), startup
    finally:
        for process in started:
            if _running(process):
                os.kill(process[0], signal.SIGKILL)
        if dev.poll() is None:
            dev.kill()
        dev.wait()
