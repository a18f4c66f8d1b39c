"""A run killed with SIGKILL leaves a readable warehouse with good marts; a second run never interleaves; a close
killed at any moment closes the month whole or not at all. A `--reprice` killed at two moments is finished by the
next plain run: the corpus scenarios `reprice-killed-*` (tests/corpus/scenarios.yaml)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal

import duckdb
import pytest

from pipelines.demo.gateway import generate_gateway_logs
from pipelines.storage.home import Home
from pipelines.storage.lock import RunInProgress, run_lock

KEY = {"TOKENLEDGER_PSEUDONYM_KEY": "crash-test-key"}
DAY = dt.date(2026, 11, 20)


def _marts(home: Home) -> str:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = con.execute("select * from marts.daily_spend order by all").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _run(home: Home) -> subprocess.Popen:
    env = {**os.environ, **KEY, "PYTHONUNBUFFERED": "1"}  # each progress line as it is printed: the tests wait for one
    env.pop("TOKENLEDGER_HOME", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home.root)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )


def _land(home: Home, start: dt.date, days: int) -> None:
    generate_gateway_logs(home.landing, start=start, days=days, requests_per_day=1500, seed=11)


@pytest.fixture
def homes(tmp_path):
    return Home.at(tmp_path / "killed").ensure(), Home.at(tmp_path / "clean").ensure()


def test_sigkill_mid_run_keeps_good_marts_and_the_next_run_matches_a_clean_run(homes):
    killed, clean = homes
    _land(killed, DAY, 2)
    assert _run(killed).wait(timeout=600) == 0
    before = _marts(killed)

    _land(killed, DAY + dt.timedelta(days=2), 3)
    process = _run(killed)
    for line in process.stdout:
        if "materializing" in line:
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)

    _land(clean, DAY, 5)
    assert _run(clean).wait(timeout=600) == 0
    after_clean = _marts(clean)
    assert _marts(killed) in {before, after_clean}

    rerun = _run(killed)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, output[-3000:]
    assert _marts(killed) == after_clean


def test_a_second_run_on_the_same_home_fails_at_once_with_a_clear_message(homes):
    home, _ = homes
    with run_lock(home):
        with pytest.raises(RunInProgress, match=f"another tokenledger run is writing {home.root} \\(pid {os.getpid()}\\)"):
            with run_lock(home):
                pass
    with run_lock(home):
        pass


def test_deleting_the_lock_file_during_a_run_does_not_let_a_second_run_start(homes):
    home, _ = homes
    with run_lock(home):
        (home.root / ".run.lock").unlink()  # a tidy-up script or a person clearing "stale" files
        with pytest.raises(RunInProgress, match="another tokenledger run is writing"):
            with run_lock(home):
                pass
    with run_lock(home):
        assert (home.root / ".run.lock").read_text() == str(os.getpid())
    assert (home.root / ".run.lock").read_text() == ""


def test_cli_reports_a_run_in_progress(homes):
    home, _ = homes
    shutil.rmtree(home.secrets)
    with run_lock(home):
        process = _run(home)
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "another tokenledger run is writing" in output


def test_a_close_killed_at_any_moment_leaves_the_month_closed_whole_or_not_at_all(homes):
    home, _ = homes
    _land(home, DAY, 2)
    assert _run(home).wait(timeout=600) == 0
    marts = _marts(home)
    env = {**os.environ, **KEY}
    env.pop("TOKENLEDGER_HOME", None)
    outcomes = set()
    for delay in (0.5, 1.5, 2.5, 3.5, None):
        process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "close", "2026-11", "--home", str(home.root)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        if delay is None:  # the last close is left to finish, however slow the machine: it must close the month
            output, _ = process.communicate(timeout=600)
            assert process.returncode == 0, output[-3000:]
        else:
            try:
                process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=60)
        with duckdb.connect(str(home.warehouse), read_only=True) as con:
            closed = con.execute("select requests, cost_usd from finance.closed_periods where month = '2026-11'").fetchall()
            frozen = con.execute("select sum(requests), sum(cost_usd) from finance.daily_spend where month = '2026-11'").fetchall()
        assert closed == [] and frozen == [(None, None)] or closed == frozen, (delay, closed, frozen)
        outcomes.add(bool(closed))
        if closed:
            break
    assert outcomes == {False, True} or outcomes == {True}
    rerun = _run(home)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, output[-3000:]
    assert _marts(home) == marts


def _written(home: Home) -> list[str]:
    """What the runs recorded in `.work/unfinished_runs.json` have written so far (storage.unfinished)."""
    from pipelines.storage.unfinished import FILE

    try:
        return [name for names in json.loads((home.work_warehouse.parent / FILE).read_text()).values() for name in names]
    except (OSError, ValueError):
        return []


@pytest.mark.parametrize(("signum", "written"), [(signal.SIGTERM, "marts."), (signal.SIGINT, "*days")])
def test_a_run_interrupted_after_ingestion_publishes_nothing_and_the_next_run_matches_a_clean_run(homes, signum, written):
    """SIGINT or SIGTERM in the daily or whole-history stage published what the run had written: new daily spend
    beside whole-history marts built before it (the kill review: 11 of 11). Readers now keep the last good state.
    The signal is sent once the run has written a day's table (SIGINT) or a first whole-history mart (SIGTERM)."""
    killed, clean = homes
    _land(killed, DAY, 2)
    assert _run(killed).wait(timeout=600) == 0
    before = _marts(killed)
    published = killed.warehouse.stat().st_mtime_ns

    _land(killed, DAY + dt.timedelta(days=2), 3)
    process = _run(killed)
    deadline = time.monotonic() + 300
    while not any(name.startswith(written) for name in _written(killed)) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signum)
    output = process.communicate(timeout=120)[0]
    # 130 when the signal lands between steps, 2 when inside one (Dagster reports the step as interrupted)
    assert process.returncode in (2, 130), output[-3000:]
    assert "is left as the last good run published it" in output
    assert killed.warehouse.stat().st_mtime_ns == published and _marts(killed) == before

    _land(clean, DAY, 5)
    assert _run(clean).wait(timeout=600) == 0
    rerun = _run(killed)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, output[-3000:]
    assert _marts(killed) == _marts(clean)


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_a_run_stopped_by_ctrl_c_or_sigterm_says_interrupted_in_one_line_and_the_next_run_finishes(homes, stop):
    """Ctrl-C (SIGINT to the terminal's process group) or SIGTERM mid-run printed ~100 lines: Dagster's RUN_FAILURE
    log with its stack trace, its log watchers' KeyboardInterrupt tracebacks, and `tokenledger: run ... failed:
    ... DagsterExecutionInterruptedError`, exit 2; a signal that landed while Dagster wrote an event was swallowed (the
    run went on, exit 0), one that landed in a DuckDB query failed the run as "Query interrupted". It now ends with
    `interrupted`, exit 130, wherever it lands."""
    home, clean = homes
    _land(home, DAY, 3)
    env = {**os.environ, **KEY, "PYTHONUNBUFFERED": "1"}
    env.pop("TOKENLEDGER_HOME", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home.root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a suite started with `&` ignores SIGINT
    )
    for line in process.stdout:
        if "materializing" in line:
            break
    time.sleep(1.0)
    if stop == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, (out[-2000:], err[-3000:])
    assert err.strip().splitlines() == ["interrupted"], err[-3000:]
    assert "Traceback" not in out + err and "Stack Trace" not in out + err

    rerun = _run(home)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, output[-3000:]
    _land(clean, DAY, 3)
    assert _run(clean).wait(timeout=600) == 0
    assert _marts(home) == _marts(clean)


def test_a_stop_signal_is_noted_even_when_a_handler_swallows_it_and_the_error_it_became_is_an_interrupt(capfd):
    """Dagster catches a signal that lands while it writes an event and goes on; DuckDB turns one into its own
    RuntimeError. The signal's wake-up byte is read all the same: `stop_requested` says so, and the block's error is
    KeyboardInterrupt. Real signals to this process, under a handler that does nothing with them."""
    from pipelines.defs.console import stop_requested, stop_signals_noted

    def before(signum, frame):  # the handler the block must put back (a Dagster run in this process leaves its own)
        raise AssertionError("SIGTERM reached the handler from before the block")

    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    saved_term = signal.signal(signal.SIGTERM, before)
    try:
        with pytest.raises(KeyboardInterrupt) as raised, stop_signals_noted():
            assert not stop_requested()
            signal.signal(signal.SIGINT, lambda signum, frame: None)  # the swallower
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # Python runs handlers between bytecodes, on the main thread
            assert stop_requested()
            raise RuntimeError("Query interrupted")
        assert isinstance(raised.value.__cause__, RuntimeError)

        with stop_signals_noted():  # a new block starts clean; SIGTERM within it is KeyboardInterrupt
            assert not stop_requested()
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
            assert stop_requested()
        assert signal.getsignal(signal.SIGTERM) is before  # the block put the handler back
        with pytest.raises(RuntimeError, match="disk full"), stop_signals_noted():  # no signal behind it: stays itself
            raise RuntimeError("disk full")

        class Finalized:  # where SQLAlchemy's weakref callback met the signal: Python printed "Exception ignored in"
            def __del__(self):
                raise KeyboardInterrupt

        hook = sys.unraisablehook
        with stop_signals_noted():
            Finalized()
        assert "Exception ignored" not in capfd.readouterr().err and sys.unraisablehook is hook
    finally:
        signal.signal(signal.SIGINT, saved)
        signal.signal(signal.SIGTERM, saved_term)
    # SQLAlchemy's pool catches one while closing a connection and logs it: Python's last-resort handler printed
    # "Exception closing connection" and its traceback (a process without logging set up, as the command line is)
    script = (
        "import logging\n"
        "from pipelines.defs.console import stop_signals_noted\n"
        "log = logging.getLogger('sqlalchemy.pool.impl.QueuePool')\n"
        "with stop_signals_noted():\n"
        "    try:\n"
        "        raise KeyboardInterrupt\n"
        "    except KeyboardInterrupt:\n"
        "        log.error('Exception closing connection', exc_info=True)\n"
        "log.error('a real error')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "a real error\n")


def test_a_stop_signal_swallowed_while_the_run_publishes_still_ends_it_as_interrupted(home, monkeypatch):
    """The robustness review: SIGTERM sent as the run published was swallowed by a handler inside finish_run or
    publish (Dagster's and SQLAlchemy's writes catch it), and `tokenledger run` exited 0. The run is whole and
    published, and the signal still ends it as interrupted (KeyboardInterrupt: "interrupted", exit 130)."""
    from helpers import envelope, land

    import pipelines.runner as runner

    real_publish = runner.publish

    def publish_and_swallow_a_signal(home):
        real_publish(home)
        swallowing = signal.signal(signal.SIGINT, lambda signum, frame: None)  # as a handler inside a write does
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # Python runs handlers between bytecodes, on the main thread
        finally:
            signal.signal(signal.SIGINT, swallowing)

    land(home, "a.jsonl", [envelope("r1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 100, "completion_tokens": 10})])
    monkeypatch.setattr(runner, "publish", publish_and_swallow_a_signal)
    with pytest.raises(KeyboardInterrupt):
        runner.run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from core.request_costs").fetchone() == (1,)  # published whole


def test_where_a_folder_cannot_be_flocked_the_lock_file_is_the_lock(home, monkeypatch):
    """NFS emulates flock with byte-range locks, which a folder opened read-only cannot take (EBADF): the run lock
    falls back to `.run.lock` itself, and a second run is still refused."""
    import errno
    import fcntl

    import pipelines.storage.lock as lock

    real_flock = fcntl.flock

    def nfs_flock(target, operation):
        if isinstance(target, int) and operation & fcntl.LOCK_EX:  # the folder's descriptor
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real_flock(target, operation)

    monkeypatch.setattr(lock.fcntl, "flock", nfs_flock)
    with run_lock(home):
        assert (home.root / ".run.lock").read_text() == str(os.getpid())
        with pytest.raises(RunInProgress, match="another tokenledger run is writing"):
            with run_lock(home):
                pass
    with run_lock(home):
        pass


def test_a_run_killed_while_it_books_a_bill_corrected_after_the_close_books_it_whole_next_time(homes):
    """A day's OpenAI cost pulled at 1.00, restated to 2.00 before October was closed, and pulled at 1.00 again after
    the close (docs/billing.md, "Late and corrected bills"): the run that books the re-pull is killed at four moments.
    Each time readers see the bill as closed (2.00, no correction) or the whole correction, never a mix; the next run
    books the correction exactly as a run never killed does, and the reconciliation shows it."""
    from test_billing import MODEL, _land_bill, _openai_page

    home, _ = homes
    day = dt.date(2026, 10, 5)
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    requests = home.gateway_landing("envelope") / "october.jsonl"
    requests.write_text(json.dumps({"request_id": "r1", "timestamp": "2026-10-05T12:00:00Z", "provider": "openai", "model": MODEL,
                                    "usage": usage}) + "\n")
    env = {**os.environ, **KEY}
    env.pop("TOKENLEDGER_HOME", None)
    _land_bill(home, "openai_costs", "2026-10-05.json", _openai_page(day, [(f"{MODEL}, input", "1.00")]))
    assert _run(home).wait(timeout=600) == 0
    _land_bill(home, "openai_costs", "2026-10-05 r1.json", _openai_page(day, [(f"{MODEL}, input", "2.00")]))
    assert _run(home).wait(timeout=600) == 0
    close = subprocess.run([sys.executable, "-m", "pipelines.cli", "close", "2026-10", "--home", str(home.root)],
                           capture_output=True, text=True, env=env, timeout=600)
    assert close.returncode == 0, close.stdout[-2000:] + close.stderr[-2000:]
    _land_bill(home, "openai_costs", "2026-10-05 r2.json", _openai_page(day, [(f"{MODEL}, input", "1.00")]))

    lines = "select billed_cost, source_file, is_correction, correction_reason from core.billing_line_items order by all"
    corrections = "select charge_date, corrections_usd from marts.billing_reconciliation where corrections_usd <> 0"

    def booked() -> tuple[list[tuple], list[tuple]]:
        with duckdb.connect(str(home.warehouse), read_only=True) as con:
            return con.execute(lines).fetchall(), con.execute(corrections).fetchall()

    closed = booked()
    assert closed == ([(Decimal("2"), "billing/openai_costs/2026-10-05 r1.json", False, None)], [])
    corrected = ([(Decimal("1"), "billing/openai_costs/2026-10-05 r2.json", True, "changed after 2026-10 was closed")],
                 [(day, Decimal("1"))])
    seen = []
    for after, delay in (("ingesting new landing files", 0.0), ("landing/billing", 0.0), ("refreshing the whole-history marts", 0.3),
                         ("refreshing the whole-history marts", 1.5)):
        process = _run(home)
        for line in process.stdout:
            if after in line:
                break
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        seen.append(booked())
        assert seen[-1] in (closed, corrected), (after, delay, seen[-1])
    assert seen[0] == closed  # killed before it published anything
    rerun = _run(home)
    output, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, output[-3000:]
    assert booked() == corrected
