"""`tokenledger dev`: the Dagster UI and daemon on one home, started and stopped together.

In: the home and a port. Out: `dagster-webserver` on http://127.0.0.1:<port> and `dagster-daemon run` (schedules,
sensors, the run queue), both on the home's instance (<home>/.dagster, its dagster.yaml copied from the shipped one)
and the `pipelines.definitions` code location, until either exits or the command gets SIGINT, SIGTERM or SIGHUP.

The rule: nothing the command starts outlives it. Each service runs in a session of its own, and the code servers
and runs it starts stay in its process group; to stop, every group gets SIGINT, as Ctrl-C in a terminal gives a
foreground group, and whatever is left after `STOP_GRACE_SECONDS` is killed. These are the two services `dagster dev`
runs; it is not used because Dagster 1.13 supersedes it and it warns so on every start.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from pipelines.cli.common import UserError, home_of
from pipelines.settings import HOME_ENV

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_SECONDS = 6.0
POLL_SECONDS = 0.2
WORKSPACE = "load_from:\n  - python_module:\n      module_name: pipelines.definitions\n      location_name: tokenledger\n"


def dev_command(args: argparse.Namespace) -> int:
    from pipelines.runner import instance_for

    home = home_of(args).ensure()
    if any(char in str(home.dagster_home) for char in "[]*"):
        raise UserError(f"{home.root}: `tokenledger dev` cannot use a home whose path holds [, ] or *: Dagster's webserver and "
                        "daemon find dagster.yaml by a glob of its path and would run without its settings; rename it")
    instance_for(home).dispose()
    workspace = home.dagster_home / "workspace.yaml"
    workspace.write_text(WORKSPACE)
    env = {**os.environ, HOME_ENV: str(home.root), "DAGSTER_HOME": str(home.dagster_home)}
    print(f"opening the Dagster UI on http://127.0.0.1:{args.port} for {home.root}", flush=True)
    # `dagster-webserver` and `dagster-daemon run`, with the interpreter that runs this command
    return serve(
        {
            "the Dagster webserver": [sys.executable, "-m", "dagster_webserver", "-w", str(workspace), "-p", str(args.port)],
            "the Dagster daemon": [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)],
        },
        env,
    )


def serve(commands: dict[str, list[str]], env: dict[str, str]) -> int:
    """Run each command in a session of its own until one exits or a stop signal comes, then stop them all.

    Returns 0 after a stop signal, else the exit code of the service that stopped first.
    """
    received: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _frame: received.append(signum)) for signum in STOP_SIGNALS}
    services: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            if not received:
                services[name] = subprocess.Popen(command, env=env, start_new_session=True)
        while not received and all(service.poll() is None for service in services.values()):
            time.sleep(POLL_SECONDS)
    finally:
        exited = next((name for name, service in services.items() if service.poll() is not None), None)
        _stop(list(services.values()))
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        return 0
    print(f"tokenledger: {exited} stopped (exit code {services[exited].returncode}); stopped the rest", file=sys.stderr)
    return services[exited].returncode


def _stop(services: list[subprocess.Popen]) -> None:
    """SIGINT to each service's process group; after STOP_GRACE_SECONDS, SIGKILL to what is left."""
    for service in services:
        _signal_group(service, signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(_group_alive(service) for service in services) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    for service in services:
        if _group_alive(service):
            _signal_group(service, signal.SIGKILL)
        service.wait()


def _signal_group(service: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(service.pid, signum)
    except ProcessLookupError:
        pass


def _group_alive(service: subprocess.Popen) -> bool:
    """Whether any process is left in the service's group (its leader is reaped first, so it counts only while it runs)."""
    service.poll()
    try:
        os.killpg(service.pid, 0)
    except ProcessLookupError:
        return False
    return True
