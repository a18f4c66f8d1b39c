"""The `tokenledger` command as a user runs it: demo end to end, run, and read-only sql."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from decimal import Decimal

import duckdb

from pipelines.demo.gateway import FEATURES


def _cli(*args: str, home=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TOKENLEDGER_HOME", "TOKENLEDGER_PSEUDONYM_KEY")}
    command = [sys.executable, "-m", "pipelines.cli", *args] + (["--home", str(home)] if home else [])
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_demo_runs_end_to_end_and_prints_spend_per_feature(tmp_path):
    home = tmp_path / "demo"
    done = _cli("demo", "--days", "2", "--requests-per-day", "400", "--end", "2026-11-27", home=home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "spend per feature, 2026-11-26 .. 2026-11-27" in done.stdout
    for feature in FEATURES:
        assert feature in done.stdout
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = {f"{s}.{t}" for s, t in con.execute("select table_schema, table_name from information_schema.tables").fetchall()}
        assert {"core.request_costs", "marts.daily_spend", "marts.price_coverage", "audit.ingested_files", "audit.rejected_rows"} <= tables
        requests, unpriced = con.execute(
            "select sum(requests), sum(unpriced_requests) from marts.daily_spend where not starts_with(provider, 'self_hosted')"
        ).fetchall()[0]
        assert requests == 800 and unpriced > 0
        # Plus the demo's self-hosted requests (a sample of summarize and search served by its own cluster).
        all_requests = con.execute("select sum(requests) from marts.daily_spend").fetchall()[0][0]
        assert all_requests > 800
        assert con.execute("select count(*) from audit.rejected_rows where source_file like 'gateway/%'").fetchall()[0][0] == 8
        read, loaded, rejected, duplicate = con.execute(
            "select sum(rows_read), sum(rows_loaded), sum(rows_rejected), sum(rows_duplicate) from audit.ingested_files "
            "where path like 'gateway/%' and path not like '%self_hosted%'"
        ).fetchall()[0]
        assert (read, loaded, rejected, duplicate) == (810, 800, 8, 2)
        # The demo bills its first day (the last is not billed yet): the over-billed day, the model
        # outside the gateway, Claude on Bedrock billed through AWS Marketplace (CUR 2.0; no gateway request meets it)
        # and the unbilled day each show in the reconciliation.
        statuses = dict(con.execute("select status, count(*) from marts.billing_reconciliation group by status").fetchall())
        assert statuses.get("billed_only") == 2 and statuses.get("estimated_only", 0) >= 1 and statuses.get("matched", 0) >= 1
        marketplace = con.execute(
            "select billed_cost_usd from marts.billing_reconciliation where provider = 'aws_bedrock' and status = 'billed_only'"
        ).fetchall()
        assert marketplace == [(Decimal("9.45"),)]  # 2M input x $3 + 150K output x $15 + 4M cache reads x $0.30 per 1M
        assert con.execute(
            "select count(*) from core.billing_line_items where bill_provider = 'AWS Marketplace' and model = 'Claude Sonnet 4.6'"
        ).fetchall()[0][0] == 3
        # Outcomes, revenue and the self-hosted cluster's GPU bill flow through their marts.
        assert con.execute("select count(*) from marts.cost_per_outcome where outcomes > 0").fetchall()[0][0] > 0
        assert con.execute("select count(*) from marts.revenue_ratio where revenue_usd > 0").fetchall()[0][0] > 0
        gpu = con.execute("select sum(gpu_cost_usd), sum(allocated_cost_usd + idle_cost_usd) from marts.self_hosted_costs").fetchall()[0]
        assert gpu[0] > 0 and gpu[0] == gpu[1]
    assert "estimate vs bill" in done.stdout
    report = home / "reports" / "spend-report.html"
    assert report.is_file() and f"spend report: {report}" in done.stdout

    again = _cli("run", home=home)
    assert again.returncode == 0 and "ingested 0 files (3 unchanged)" in again.stdout

    query = _cli("sql", "select sum(requests) as n from marts.daily_spend where not starts_with(provider, 'self_hosted')", home=home)
    assert query.returncode == 0 and "800" in query.stdout
    write = _cli("sql", "drop table marts.daily_spend", home=home)
    assert write.returncode == 2 and "read-only" in write.stderr

    closed = _cli("close", "2026-11", home=home)
    assert closed.returncode == 0 and f"closed 2026-11: {all_requests} requests" in closed.stdout
    twice = _cli("close", "2026-11", home=home)
    assert twice.returncode == 2 and "2026-11 was closed at" in twice.stderr
    assert _cli("run", "--reprice", home=home).returncode == 2
    repriced = _cli("run", "--reprice", "--start", "2026-11-26", "--end", "2026-11-27", home=home)
    assert repriced.returncode == 0 and "(2 dates materialized)" in repriced.stdout
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.restatements").fetchall() == [(0,)]
        assert con.execute("select sum(requests) from finance.daily_spend").fetchall() == [(all_requests,)]

    # the README's Stripe export runs on a demo home (its internal team had no Stripe customer: the export refused)
    stripe = _cli("export", "usage", "--month", "2026-11", "--format", "stripe", "--out", str(tmp_path / "meter.jsonl"), home=home)
    assert stripe.returncode == 0, stripe.stderr[-3000:]
    # `tokenledger sql ... | head -1`: the reader is gone (here before the first write, so the write surely fails);
    # a BrokenPipeError traceback and exit 1 before
    piped = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "sql", "select * from core.request_costs", "--home", str(home)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    piped.stdout.close()
    assert piped.wait(timeout=120) == 0
    assert piped.stderr.read() == b""


def test_run_on_a_missing_home_says_how_to_start(tmp_path):
    done = _cli("run", home=tmp_path / "nowhere")
    assert done.returncode == 2
    assert "does not exist: run `tokenledger init --home" in done.stderr
    (tmp_path / "afile").write_text("")
    for command in ("run", "init"):  # `init` cannot make a home there, so "run tokenledger init" would mislead
        done = _cli(command, home=tmp_path / "afile")
        assert (done.returncode, done.stderr) == (2, f"tokenledger: {tmp_path / 'afile'} is not a folder: give --home a folder (`tokenledger init` makes one)\n")


def test_an_empty_home_is_refused_not_taken_as_the_current_folder(tmp_path):
    """`tokenledger init --home ""` made the folder it ran in a home (Path("") is "."): a script with an unset variable
    in `--home "$HOME_DIR"` wrote landing/, lake/ and secrets/ into the working directory."""
    for command in (["init"], ["run"], ["sql", "select 1"]):
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", *command, "--home", ""], capture_output=True, text=True,
                              cwd=tmp_path, timeout=600)
        assert (done.returncode, done.stderr) == (2, "tokenledger: --home is empty: give it a folder (or leave it out for "
                                                     "$TOKENLEDGER_HOME or ./data)\n"), command
    assert list(tmp_path.iterdir()) == []


def test_a_range_outside_the_daily_partitions_is_refused_before_the_run(tmp_path):
    """The robustness review: `run --reprice --start 2026-12-01 --end 2099-12-31` (a typo) was taken, and its 26,686
    dates no run can materialize stayed pending, one warning on every later run until 2099."""
    tomorrow = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)
    for start, end in (("2026-01-01", "2099-12-31"), ("2019-12-31", "2020-01-05"), ("2026-01-01", str(tomorrow + dt.timedelta(days=1)))):
        done = _cli("run", "--reprice", "--start", start, "--end", end, home=tmp_path / "nowhere")
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == (f"tokenledger: --start and --end must be within the daily partitions, 2020-01-01 .. {tomorrow} "
                               f"(tomorrow, UTC); got {start} .. {end}\n")


def test_a_home_path_duckdb_or_dagster_cannot_use_is_refused_in_one_line(tmp_path):
    """DuckDB reads what follows '?' in a database path as options: `init` made the home, then `run` failed with a
    traceback about 'a.wal?b/.work/warehouse.duckdb'. Dagster's webserver and daemon find dagster.yaml by a glob."""
    for command in ("init", "run", "sql"):
        done = _cli(command, *(["select 1"] if command == "sql" else []), home=tmp_path / "a?b")
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == f"tokenledger: {tmp_path / 'a?b'}: a home folder's path may not contain '?' (DuckDB cuts database paths there); rename it\n"
    assert not (tmp_path / "a?b").exists()
    done = _cli("dev", home=tmp_path / "h [x]")
    assert done.returncode == 2 and "`tokenledger dev` cannot use a home whose path holds [, ] or *" in done.stderr


def test_a_bad_environment_variable_is_one_line_before_the_run_starts(tmp_path, monkeypatch):
    home = tmp_path / "h"
    assert _cli("init", home=home).returncode == 0
    for name, value, message in (
        ("TOKENLEDGER_INGEST_WORKERS", "abc", "TOKENLEDGER_INGEST_WORKERS must be a whole number from 1 to 16, got 'abc'"),
        ("TOKENLEDGER_MAX_LINE_BYTES", "12", "TOKENLEDGER_MAX_LINE_BYTES must be a whole number of bytes of at least 1024, got '12'"),
        ("TOKENLEDGER_DUCKDB_MEMORY_LIMIT", "lots",
         "TOKENLEDGER_DUCKDB_MEMORY_LIMIT must be a memory size such as 1536MB, 2GiB or 75% (at least 128MiB), got 'lots'"),
        ("TOKENLEDGER_DUCKDB_MEMORY_LIMIT", "1KB",
         "TOKENLEDGER_DUCKDB_MEMORY_LIMIT must be a memory size such as 1536MB, 2GiB or 75% (at least 128MiB), got '1KB'"),
        ("TOKENLEDGER_LANDING_URL", "ftp://x/y", "TOKENLEDGER_LANDING_URL must be s3://bucket/prefix or an absolute local folder, got 'ftp://x/y'"),
        ("TOKENLEDGER_LANDING_URL", "s3://", "TOKENLEDGER_LANDING_URL must be s3://bucket/prefix or an absolute local folder, got 's3://'"),
        # a relative folder followed the folder the command started in: a new, empty lake there, everything ingested again
        ("TOKENLEDGER_LAKE_URL", "not-a-url", "TOKENLEDGER_LAKE_URL must be s3://bucket/prefix or an absolute local folder, got 'not-a-url'"),
    ):
        monkeypatch.setenv(name, value)
        done = _cli("run", home=home)
        monkeypatch.delenv(name)
        assert done.returncode == 2
        assert done.stderr.strip() == f"tokenledger: {message}"  # no Dagster run, no traceback
    assert not (home / ".dagster").exists() and not (tmp_path / "not-a-url").exists()
    monkeypatch.setenv("TOKENLEDGER_DUCKDB_MEMORY_LIMIT", "lots")
    done = _cli("sql", "select 1", home=home)  # every command reads them
    assert done.returncode == 2 and done.stderr.startswith("tokenledger: TOKENLEDGER_DUCKDB_MEMORY_LIMIT must be")


def test_an_empty_key_is_refused_and_a_short_one_named(tmp_path):
    """An empty key (a truncated file, a variable of spaces) would key every pseudonym with nothing: a user id is
    then found by hashing guesses. It is refused before anything is read; a short key runs with a warning."""
    home = tmp_path / "h"
    assert _cli("init", home=home).returncode == 0
    (home / "landing" / "gateway" / "envelope" / "a.jsonl").write_text(
        '{"request_id": "k1", "timestamp": "2026-01-09T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini-2024-07-18", '
        '"user_id": "alice@example.com", "usage": {"prompt_tokens": 100, "completion_tokens": 10}}\n')
    key = home / "secrets" / "pseudonym.key"
    key.write_text("  \n")
    done = _cli("run", home=home)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"tokenledger: the pseudonymization key in {key} is empty")
    assert not (home / "warehouse.duckdb").exists()
    env = {k: v for k, v in os.environ.items() if k != "TOKENLEDGER_HOME"}
    spaces = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--home", str(home)], capture_output=True, text=True,
                            env={**env, "TOKENLEDGER_PSEUDONYM_KEY": "   "}, timeout=600)
    assert spaces.returncode == 2 and "the pseudonymization key in TOKENLEDGER_PSEUDONYM_KEY is empty" in spaces.stderr
    key.write_text("short\n")
    done = _cli("run", home=home)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"warning: the pseudonymization key in {key} is 5 bytes" in done.stdout


def test_a_file_that_could_not_be_read_is_not_counted_as_ingested(tmp_path):
    """One good file, a FIFO and a dangling link: the run says 1 ingested and 2 unreadable, and warns with their paths."""
    home = tmp_path / "h"
    assert _cli("init", home=home).returncode == 0
    landing = home / "landing" / "gateway" / "envelope"
    (landing / "good.jsonl").write_text(
        '{"request_id": "g1", "timestamp": "2026-01-09T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini-2024-07-18", '
        '"usage": {"prompt_tokens": 100, "completion_tokens": 10}}\n')
    os.mkfifo(landing / "fifo.jsonl")
    (landing / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")
    done = _cli("run", home=home)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ingested 1 files (0 unchanged, 2 could not be read): 1 rows loaded, 0 rejected" in done.stdout
    assert "2 landed file(s) could not be read: gateway/envelope/dangling.jsonl (symlink does not point to a regular file)" in done.stdout
    # run again, nothing changed: still 2 that could not be read, not 2 more 'unchanged' (the warning named them while
    # the summary counted them as unchanged); a JSON document that is not one is read, fails, and is counted so again
    (landing / "broken.json").write_text('{"request_id": ')
    again = _cli("run", home=home)
    assert "ingested 0 files (1 unchanged, 3 could not be read): 0 rows loaded" in again.stdout, again.stdout
    third = _cli("run", home=home)
    assert "ingested 0 files (1 unchanged, 3 could not be read): 0 rows loaded" in third.stdout, third.stdout


def test_run_without_a_key_says_how_to_make_one(tmp_path):
    home = tmp_path / "h"
    (home / "landing" / "gateway" / "envelope").mkdir(parents=True)
    done = _cli("run", home=home)
    assert done.returncode == 2
    assert "no pseudonymization key" in done.stderr and "tokenledger init" in done.stderr


def test_control_characters_in_values_are_escaped_in_what_the_cli_prints(tmp_path):
    import json

    from pipelines.ingest.privacy import create_key
    from pipelines.storage.home import Home

    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    hostile = "\x1b]0;owned\x07\x1b[2Jsearch\u202egnp.exe\nfake row"
    record = {
        "request_id": "esc-1", "timestamp": "2026-11-27T10:15:02Z", "provider": "openai", "model": "gpt-4o-2024-08-06",
        "feature": hostile, "user_id": "u_1", "customer_id": "acme", "usage": {"prompt_tokens": 10, "completion_tokens": 2},
    }
    folder = home.gateway_landing("envelope")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.jsonl").write_text(json.dumps(record) + "\n")
    os.mkfifo(folder / "fifo\nFORGED: ingested 999 files.jsonl")  # unreadable: its name is in a warning, on one line
    runs = _cli("run", home=home.root)
    query = _cli("sql", "select feature from marts.daily_spend", home=home.root)
    for done in (runs, query):
        assert done.returncode == 0, done.stderr[-3000:]
        assert not any(c in done.stdout + done.stderr for c in ("\x1b", "\x07", "\u202e")), done.stdout
    assert "\\x1b]0;owned\\x07\\x1b[2Jsearch\\u202egnp.exe\\nfake row" in runs.stdout  # one value, one line
    assert "]0;owned" in query.stdout
    assert "could not be read: gateway/envelope/fifo\\nFORGED: ingested 999 files.jsonl" in runs.stdout
    assert not [line for line in runs.stdout.splitlines() if line.startswith("FORGED")]

    # paths reach SQL quoted: an export into a folder whose name holds an apostrophe and a space
    for name in ("x.parquet", "x.csv"):
        out = tmp_path / "d'arcy reports" / name
        exported = _cli("export", "focus", "--out", str(out), home=home.root)
        assert exported.returncode == 0, exported.stderr[-3000:]
        assert out.is_file() and "wrote 2 FOCUS 1.2 rows" in exported.stdout  # its input and output tokens
    # a path holding a newline is written where asked and named on one line (it was printed as two)
    out = tmp_path / "two\nlines.csv"
    exported = _cli("export", "focus", "--out", str(out), home=home.root)
    assert exported.returncode == 0 and out.is_file(), exported.stderr[-3000:]
    assert f"wrote 2 FOCUS 1.2 rows to {tmp_path}/two\\nlines.csv" in exported.stdout.splitlines()


def test_a_month_past_the_centuries_and_an_output_that_is_not_a_file_are_one_line(tmp_path):
    """`close 0000-01` and `close 9999-12` raised ValueError; `report --out /` and `--out` naming a FIFO or a device
    replaced it by a regular file (as root, `--out /dev/null` would replace /dev/null) or raised."""
    import re

    import pytest

    from pipelines.cli.common import UserError, unwritable
    from pipelines.finance.close import CloseError, month_bounds

    for month in ("0000-01", "9999-12", "2019-12"):
        with pytest.raises(CloseError, match=f"not a month from 2020-01 to 2099-12: '{month}'"):
            month_bounds(month)
    assert month_bounds("2099-12")[1].isoformat() == "2100-01-01"
    fifo = tmp_path / "out.html"
    os.mkfifo(fifo)
    for target, reason in ((fifo, "is not a regular file (a FIFO, socket or device)"), (tmp_path, "is a folder"), ("/", "is a folder")):
        with pytest.raises(UserError, match=re.escape(reason)), unwritable(target):
            raise AssertionError("the body must not run")
    assert fifo.exists() and not fifo.is_file()


def test_no_connection_tokenledger_opens_draws_duckdbs_progress_bar(tmp_path):
    """DuckDB draws a progress bar on stdout, with carriage returns, for a query past 2 s: a 300,000-request day's
    ingestion put one between `ingesting new landing files` and the next line of `tokenledger run` (stdout
    redirected to a file too). Every connection tokenledger opens turns it off, and none is opened another way."""
    from pathlib import Path

    from pipelines.ingest.privacy import create_key
    from pipelines.storage.database import connect, connect_scratch, in_memory
    from pipelines.storage.home import Home

    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    duckdb.connect(str(home.warehouse)).close()
    setting = "select current_setting('enable_progress_bar')"
    with in_memory() as con, connect(home) as writer, connect_scratch(home) as scratch:
        assert [c.execute(setting).fetchone()[0] for c in (con, writer, scratch)] == [False, False, False]
    with connect(home, read_only=True) as reader:
        assert reader.execute(setting).fetchone()[0] is False
    root = Path(__file__).resolve().parent.parent / "pipelines"
    opened = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if "duckdb.connect(" in p.read_text(encoding="utf-8"))
    # the helpers themselves, a one-value check of the memory limit, and close's one-row read of the published file
    assert opened == ["finance/close.py", "storage/database.py", "storage/environment.py"]


def test_a_damaged_warehouse_is_one_line_naming_it_from_every_command(tmp_path, capsys):
    """A warehouse file emptied by a full disk (or another file copied over it) was a traceback from sql, close, run
    and the insight commands, and `report` called it "cannot write the output"; `close` also copied it as the
    working warehouse, so the next run failed on the copy after the file was restored."""
    from pipelines.cli.main import main

    home = tmp_path / "h"
    assert main(["init", "--home", str(home)]) == 0
    (home / "warehouse.duckdb").write_bytes(b"")
    capsys.readouterr()
    for command in (["sql", "select 1"], ["close", "2026-11"], ["report"], ["experiments"], ["prices", "coverage"]):
        assert main([*command, "--home", str(home)]) == 2, command
        err = capsys.readouterr().err
        assert err == (f"tokenledger: {home / 'warehouse.duckdb'} (the published warehouse) is not a DuckDB database: damaged, "
                       "or replaced by another file; restore it from a backup, or move it away and rebuild the days from the "
                       "lake (`tokenledger run --reprice --start ... --end ...`)\n"), command
    assert not (home / ".work" / "warehouse.duckdb").exists()
    # cut short, as a full disk leaves a file being written: DuckDB says it "could not read enough bytes"
    (home / "warehouse.duckdb").unlink()
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("create schema marts; create table marts.t as select range as n from range(200000)")
    os.truncate(home / "warehouse.duckdb", 8192)
    for command in (["sql", "select 1"], ["report"]):
        assert main([*command, "--home", str(home)]) == 2, command
        assert "(the published warehouse) is not a DuckDB database: damaged" in capsys.readouterr().err, command


def test_an_output_path_inside_the_homes_state_is_refused(tmp_path, capsys):
    """`report --out <home>/warehouse.duckdb` replaced the warehouse with HTML (exit 0); the key, the working
    warehouse, a price or config file, or landing (read back as input) were as open."""
    from pipelines.cli.main import main

    home = tmp_path / "h"
    assert main(["init", "--home", str(home)]) == 0
    key = (home / "secrets").iterdir().__next__()
    before = key.read_bytes()
    capsys.readouterr()
    for out, command in ((home / "warehouse.duckdb", "report"), (key, "report"), (home / ".work" / "warehouse.duckdb", "report"),
                         (home / "settings.yaml", "report"), (home / "landing" / "x.jsonl", "report"),
                         (home / "prices" / "x.yaml", "report")):
        args = ["report", "--home", str(home), "--out", str(out)]
        assert main(args) == 2, out
        assert "is part of the home's own state" in capsys.readouterr().err
    assert key.read_bytes() == before and not (home / "warehouse.duckdb").exists()
    export = ["export", "focus", "--home", str(home), "--out", str(home / "warehouse.duckdb")]
    assert main(export) == 2 and "is part of the home's own state" in capsys.readouterr().err
    # a warehouse or landing folder that is a symlink elsewhere (a shared drive) is the home's all the same
    (tmp_path / "shared" / "landing").mkdir(parents=True)
    (tmp_path / "shared" / "warehouse.duckdb").write_bytes(b"")
    (home / "warehouse.duckdb").symlink_to(tmp_path / "shared" / "warehouse.duckdb")
    shutil.rmtree(home / "landing")
    (home / "landing").symlink_to(tmp_path / "shared" / "landing")
    for out in (home / "warehouse.duckdb", home / "landing" / "gateway" / "x.jsonl", tmp_path / "shared" / "landing" / "x.jsonl"):
        assert main(["report", "--home", str(home), "--out", str(out)]) == 2, out
        assert "is part of the home's own state" in capsys.readouterr().err
    assert (tmp_path / "shared" / "warehouse.duckdb").read_bytes() == b""


def test_a_run_whose_reader_is_gone_still_runs_to_its_end(tmp_path):
    """`tokenledger run | head -1`: the reader closes the pipe after the first progress line. The run stopped at its
    next line, abandoned its work and exited 0; it now finishes (its output goes nowhere) and exits with its own code."""
    from helpers import envelope, land

    from pipelines.storage.home import Home

    home = tmp_path / "home"
    assert _cli("init", home=home).returncode == 0
    land(Home.at(home), "a.jsonl", [envelope(f"r{n}", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 10})
                                    for n in range(3)])
    env = {k: v for k, v in os.environ.items() if k not in ("TOKENLEDGER_HOME", "TOKENLEDGER_PSEUDONYM_KEY")}
    piped = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--home", str(home)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    piped.stdout.close()
    assert piped.wait(timeout=600) == 0
    assert piped.stderr.read() == b""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*), sum(cost_usd) from core.request_costs").fetchall() == [(3, Decimal("0.0078"))]
