"""The corpus's scenarios: hazards that are not one landed file but a sequence (runs, kills, a removed file, config
files, two runs queued together, `tokenledger dev` stopped by a signal), each with its exact outcome.

tests/corpus/scenarios.yaml lists them; each runs here in a home of its own, step by step, through the real command
line (`python -m pipelines.cli`) or the real Dagster run queue. Its vocabulary is documented at the top of the file.
The landed-file hazards are tests/corpus/expected.yaml's, run by test_bad_input_corpus.py; together the two
manifests hold a case for every hazard they declare (tested here).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from pipelines.defs.automation.jobs import INGEST_TAG
from pipelines.ingest.privacy import create_key
from pipelines.runner import instance_for
from pipelines.settings import HOME_ENV
from pipelines.storage.home import Home
from pipelines.storage.lake import read_manifest

CHECKOUT = Path(__file__).resolve().parents[1]
CORPUS = CHECKOUT / "tests" / "corpus"
SCENARIOS: list[dict] = yaml.safe_load((CORPUS / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]
LANDED = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
HAZARDS: dict[str, str] = LANDED["hazards"]
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
DEV_STARTUP_SECONDS, DEV_SETTLE_SECONDS = 90, 5


# ---------------------------------------------------------------- the command line


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TOKENLEDGER_", "DAGSTER_"))}


def _words(command: str, home: Home) -> list[str]:
    """The command's words with {home} replaced by the home's path (which holds a quote, a space, non-ASCII letters)."""
    return [_at(word, home) for word in shlex.split(command)]


def _command(step: dict, home: Home) -> list[str]:
    words = _words(step["run"], home)
    python = [sys.executable, "-X", "importtime"] if step.get("never_imports") else [sys.executable]
    return [*python, "-m", "pipelines.cli", *words, *([] if "--home" in words else ["--home", str(home.root)])]


def _burn(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _imported(stderr: str) -> tuple[set[str], str]:
    """`-X importtime`'s module names, and stderr without its lines."""
    names, rest = set(), []
    for line in stderr.splitlines():
        if line.startswith("import time:"):
            names.add(line.rsplit("|", 1)[1].strip())
        else:
            rest.append(line)
    return names, "\n".join(rest)


def _at(text: str, home: Home) -> str:
    return text.replace("{home}", str(home.root))


def _check_output(step: dict, home: Home, returncode: int, stdout: str, stderr: str) -> None:
    where = f"`tokenledger {step['run']}`"
    if step.get("never_imports"):
        names, stderr = _imported(stderr)
        assert names, f"{where}: -X importtime printed nothing"
        for module in step["never_imports"]:
            found = sorted(n for n in names if n == module or n.startswith(module + "."))
            assert found == [], f"{where} imported {found[:5]}"
    assert returncode == step.get("exit", 0), f"{where} exited {returncode}:\n{stdout[-2000:]}\n{stderr[-3000:]}"
    assert "Traceback" not in stdout + stderr, f"{where}:\n{stderr[-3000:]}"
    if "stderr" in step:
        assert stderr.strip() == _at(step["stderr"], home), f"{where}: stderr was\n{stderr[-3000:]}"
    for text in step.get("stdout_has", []):
        assert _at(text, home) in stdout, f"{where}: {text!r} not in its output:\n{stdout[-3000:]}"
    for text in step.get("output_lacks", []):
        assert text not in stdout + stderr, f"{where}: {text!r} in its output"


def _run(step: dict, home: Home) -> None:
    """One command (or `repeat` of them, beside `busy_cores` busy processes), or one killed after a line it prints."""
    command = _command(step, home)
    if "kill_after" in step:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
        seen = []
        for line in process.stdout:
            seen.append(line)
            if step["kill_after"] in line:
                break
        else:
            process.wait(timeout=60)
            pytest.fail(f"`tokenledger {step['run']}` never printed {step['kill_after']!r}:\n{''.join(seen)[-3000:]}")
        if "kill_when" in step:  # a glob under the home: kill once the work it names has begun, however slow the start
            deadline = time.monotonic() + 60
            while not list(home.root.glob(step["kill_when"])) and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(step.get("kill_delay", 0))
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL, "the process ended before it could be killed"
        return
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(step.get("busy_cores", 0))]
    for burner in burners:
        burner.start()
    try:
        for _ in range(step.get("repeat", 1)):
            done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=600, cwd=CHECKOUT)
            _check_output(step, home, done.returncode, done.stdout, done.stderr)
    finally:
        stop.set()
        for burner in burners:
            burner.join(timeout=30)


# ---------------------------------------------------------------- `tokenledger dev` and a stop signal


def _free_port() -> int:
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
    """Every process below `root`, as (pid, start time): a reused pid is not taken for a process it started."""
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
    """A process counts as left while it exists with the same start time and is not a zombie."""
    pid, start_time = process
    fields = _stat(pid)
    return fields is not None and fields[19] == start_time and fields[0] != "Z"


def _cmdline(pid: int) -> str:
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


def _dev(step: dict, home: Home, log: Path) -> None:
    """Start `tokenledger dev`, wait for its UI, send the signal; every process it started must be gone in time."""
    if sys.platform != "linux":
        pytest.skip("reads the process tree from /proc")
    stop, expected = getattr(signal, step["dev"]), step["expect"]
    port = _free_port()
    command = [sys.executable, "-m", "pipelines.cli", "dev", "--home", str(home.root), "--port", str(port)]
    with open(log, "wb") as out:
        dev = subprocess.Popen(command, cwd=CHECKOUT, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    started: set[tuple[int, str]] = set()
    try:
        deadline = time.monotonic() + DEV_STARTUP_SECONDS
        while not _answers(f"http://127.0.0.1:{port}/"):
            started |= _descendants(dev.pid)
            if dev.poll() is not None:
                text = log.read_text(errors="replace")
                if "address already in use" in text.lower():
                    pytest.skip(f"port {port} was taken before the UI could bind it")
                pytest.fail(f"tokenledger dev exited with {dev.returncode} before the UI answered:\n{text[-3000:]}")
            assert time.monotonic() < deadline, f"the UI did not answer within {DEV_STARTUP_SECONDS}s"
            time.sleep(0.5)
        settled = time.monotonic() + DEV_SETTLE_SECONDS
        while time.monotonic() < settled:
            started |= _descendants(dev.pid)
            time.sleep(0.5)
        startup = log.read_text(errors="replace")
        assert len(started) >= expected["processes_at_least"], f"expected the UI and the daemon among {sorted(started)}"

        dev.send_signal(stop)
        seconds = expected["stopped_within_seconds"]
        stopped = time.monotonic() + seconds
        while (dev.poll() is None or any(_running(process) for process in started)) and time.monotonic() < stopped:
            time.sleep(0.2)
        assert dev.poll() is not None, f"tokenledger dev still runs {seconds}s after {stop.name}"
        left = sorted(pid for pid, start_time in started if _running((pid, start_time)))
        assert [_cmdline(pid) for pid in left] == expected["left_running"], f"left running {seconds}s after {stop.name}"
        warnings = [line for line in startup.splitlines() if "warning" in line.lower()]
        assert warnings == expected["startup_warnings"], startup
    finally:
        for process in started:
            if _running(process):
                os.kill(process[0], signal.SIGKILL)
        if dev.poll() is None:
            dev.kill()
        dev.wait()


# ---------------------------------------------------------------- runs submitted to the instance's run queue


def _remote_job(workspace, job_name: str):
    (location,) = workspace.code_locations
    (repository,) = location.get_repositories().values()
    return repository.get_full_job(job_name)


def _submit_one(instance: dg.DagsterInstance, workspace, job_name: str) -> str:
    """Create a run of the job with its own tags (as the schedule and sensor daemons do) and hand it to the run queue."""
    from pipelines.definitions import defs

    remote_job = _remote_job(workspace, job_name)
    run = instance.create_run_for_job(
        defs().resolve_job_def(job_name),
        tags=remote_job.run_tags,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
    )
    instance.submit_run(run.run_id, workspace)
    return run.run_id


def _wait_until_finished(instance: dg.DagsterInstance, run_id: str, timeout: float = 240) -> dg.DagsterRunStatus:
    deadline = time.monotonic() + timeout
    while (status := instance.get_run_by_id(run_id).status) not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.5)
    return status


def _failures(instance: dg.DagsterInstance, run_id: str) -> str:
    events = [entry.dagster_event for entry in instance.all_logs(run_id) if entry.is_dagster_event]
    return "\n".join(str(event.event_specific_data) for event in events if event.is_failure)


def _submit(step: dict, home: Home, monkeypatch) -> None:
    """Submit the jobs together through the code location served over gRPC, as the schedule and sensor make their
    runs; each pass of the queue daemon may launch only what the run queue's limits allow."""
    monkeypatch.setenv(HOME_ENV, str(home.root))
    target = ModuleTarget("pipelines.definitions", None, None, "tokenledger")
    with instance_for(home) as instance, create_test_daemon_workspace_context(target, instance) as context:
        workspace = context.create_request_context()
        run_ids = [_submit_one(instance, workspace, job_name) for job_name in step["submit"]]
        try:
            assert all(instance.get_run_by_id(run_id).tags.items() >= INGEST_TAG.items() for run_id in run_ids)
            coordinator = QueuedRunCoordinatorDaemon(interval_seconds=1)
            launched: list[int] = []
            for _ in run_ids:
                list(coordinator.run_iteration(context))
                queued = [instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.QUEUED for run_id in run_ids]
                launched.append(queued.count(False))
                for run_id, waiting in zip(run_ids, queued):
                    if not waiting:
                        assert _wait_until_finished(instance, run_id) in FINISHED
            assert launched == step["launched_per_pass"]
            statuses = [instance.get_run_by_id(run_id).status.value for run_id in run_ids]
            assert statuses == step["statuses"], "\n".join(_failures(instance, run_id) for run_id in run_ids)
        finally:
            for run_id in run_ids:
                if instance.get_run_by_id(run_id).status not in FINISHED | {dg.DagsterRunStatus.QUEUED}:
                    instance.run_launcher.terminate(run_id)
                    _wait_until_finished(instance, run_id, timeout=60)


# ---------------------------------------------------------------- landing, config files and checks


def _many_requests(path: Path, recipe: dict) -> None:
    """`lines` envelope requests on one day: a file big enough that ingesting it takes a few seconds."""
    with open(path, "w", encoding="utf-8") as out:
        for n in range(recipe["lines"]):
            out.write(json.dumps({
                "request_id": f"many-{n}", "timestamp": f"2026-11-26T{n % 24:02d}:{n % 60:02d}:00Z", "provider": "openai",
                "model": "gpt-4o-mini-2024-07-18", "feature": "bulk", "user_id": f"u_{n % 97}",
                "usage": {"prompt_tokens": 100, "completion_tokens": 10},
            }) + "\n")


RECIPES = {"many_requests": _many_requests}


def _land(home: Home, files: dict) -> None:
    for target, source in files.items():
        path = home.landing / target
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, dict):
            RECIPES[source["recipe"]](path, source)
        else:
            path.write_bytes((CORPUS / source).read_bytes())


def _write(home: Home, files: dict, encoding: str = "utf-8") -> None:
    for name, text in files.items():
        path = home.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))


def _plain(value: object) -> object:
    """A fetched value as the manifest writes it: decimals as their digits without trailing zeros, dates as ISO text."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _check(then: dict, home: Home) -> None:
    if "sql" in then:
        with duckdb.connect(str(home.warehouse), read_only=True) as con:
            for check in then["sql"]:
                rows = [[_plain(v) for v in row] for row in con.execute(check["query"]).fetchall()]
                assert rows == check["rows"], check["query"]
    if "manifest" in then:
        assert {path: row["status"] for path, row in read_manifest(home).items()} == then["manifest"]
    if "scratch" in then:
        assert sorted(p.name for p in home.scratch.glob("ingest-*")) == then["scratch"]
    if "scratch_count" in then:
        assert len(list(home.scratch.glob("ingest-*"))) == then["scratch_count"]
    if "files" in then:
        for name, exists in then["files"].items():
            assert (home.root / name).exists() == exists, name


# ---------------------------------------------------------------- the tests


def test_every_hazard_has_a_corpus_case_and_every_case_a_known_hazard():
    cases = [*LANDED["cases"], *SCENARIOS]
    covered = {case["hazard"] for case in cases if "hazard" in case}
    assert covered <= set(HAZARDS), covered - set(HAZARDS)
    assert set(HAZARDS) - covered == set()
    assert all("hazard" in scenario and scenario.get("tests") for scenario in SCENARIOS)
    assert len({s["id"] for s in SCENARIOS}) == len(SCENARIOS)


def test_every_scenario_file_is_used():
    committed = {p.relative_to(CORPUS).as_posix() for p in (CORPUS / "scenarios").rglob("*") if p.is_file()}
    used = {source for s in SCENARIOS for step in s["steps"] for source in (step.get("land") or {}).values() if isinstance(source, str)}
    assert committed <= used, committed - used


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_scenario(scenario: dict, tmp_path, monkeypatch):
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    for number, step in enumerate(scenario["steps"], 1):
        if "land" in step:
            _land(home, step["land"])
        if "write" in step:
            _write(home, step["write"])
        if "write_latin1" in step:
            _write(home, step["write_latin1"], "latin-1")
        if "remove" in step:
            (home.landing / step["remove"]).unlink()
        if "run" in step:
            _run(step, home)
        if "dev" in step:
            _dev(step, home, tmp_path / "dev.log")
        if "submit" in step:
            _submit(step, home, monkeypatch)
        if "then" in step:
            try:
                _check(step["then"], home)
            except AssertionError as exc:
                raise AssertionError(f"after step {number} of {scenario['id']}: {exc}") from exc
