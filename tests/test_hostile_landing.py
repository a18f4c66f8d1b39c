"""Landed files that cannot be read never stop the others, and a file that leaves landing follows one rule.

A file that cannot be read (no permission, a FIFO, a name that is not UTF-8, a symlink loop, a folder that
cannot be listed, a file that changes while it is read) is `failed` in audit.ingested_files with its reason;
the files beside it load, the run succeeds with a warning naming it, and the next run reads it again. A file
that is no longer in landing keeps its rows and is `archived`: the corpus scenario `landed-file-removed`
(tests/corpus/scenarios.yaml).

Permissions are real: when the suite runs as root, the runs here drop the two capabilities that let root
read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a mode-000 file is unreadable to them as to
anyone else.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from helpers import envelope, land

from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

PR_CAPBSET_DROP = 24
DAC_CAPABILITIES = (1, 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH


def _without_root_reads() -> None:
    """In the child before exec: drop the capabilities that let root read files whatever their mode."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in DAC_CAPABILITIES:
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _cli_run(home: Home) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "TOKENLEDGER_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home.root)],
        capture_output=True, text=True, env=env, timeout=600, preexec_fn=_without_root_reads,
    )


def _files(home: Home) -> dict[str, tuple[str, str | None, int]]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = con.execute("select path, status, error, rows_loaded from audit.ingested_files").fetchall()
    return {path: (status, error, loaded) for path, status, error, loaded in rows}


def _requests(home: Home) -> list[str]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return [r[0] for r in con.execute("select request_id from core.request_costs order by request_id").fetchall()]


def _lines(*ids: str) -> list[str]:
    return [envelope(i, "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}) for i in ids]


def test_files_that_cannot_be_read_fail_alone_and_are_read_on_the_next_run(home):
    folder = home.gateway_landing("envelope")
    land(home, "good.jsonl", _lines("good-1", "good-2"))
    land(home, "unreadable.jsonl", _lines("perm-1")).chmod(0o000)
    os.mkfifo(folder / "fifo.jsonl")
    latin1 = os.fsencode(folder) + b"/caf\xe9.jsonl"
    with open(latin1, "wb") as handle:
        handle.write(("\n".join(_lines("latin-1")) + "\n").encode())
    (folder / "loop.jsonl").symlink_to(folder / "loop.jsonl")
    locked = folder / "locked"
    locked.mkdir()
    (locked / "inner.jsonl").write_text("\n".join(_lines("inner-1")) + "\n")
    locked.chmod(0o000)

    try:
        first = _cli_run(home)
        assert first.returncode == 0, first.stdout + first.stderr
        files = _files(home)
        prefix = "gateway/envelope/"
        assert files[prefix + "good.jsonl"] == ("loaded", None, 2)
        assert files[prefix + "unreadable.jsonl"] == ("failed", "the file cannot be read: Permission denied", 0)
        assert files[prefix + "fifo.jsonl"] == ("failed", "not a regular file (a FIFO, socket or device); not read", 0)
        assert files[prefix + "caf\\xe9.jsonl"] == ("failed", "the file name is not valid UTF-8 (rename the file)", 0)
        assert files[prefix + "loop.jsonl"] == ("failed", "symlink does not point to a regular file", 0)
        assert files[prefix + "locked"] == ("failed", "the folder cannot be listed: Permission denied", 0)
        assert _requests(home) == ["good-1", "good-2"]
        for name in ("unreadable.jsonl", "fifo.jsonl", "caf\\\\xe9.jsonl", "loop.jsonl", "locked ("):
            assert any("warning" in line and name.replace("\\\\", "\\") in line for line in first.stdout.splitlines()), (name, first.stdout)
    finally:
        locked.chmod(0o755)

    # fixed by the operator: the next run reads what it could not read before
    (folder / "unreadable.jsonl").chmod(0o644)
    os.rename(latin1, folder / "cafe.jsonl")
    (folder / "fifo.jsonl").unlink()
    (folder / "loop.jsonl").unlink()
    second = _cli_run(home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "warning" not in second.stdout
    files = _files(home)
    assert files["gateway/envelope/unreadable.jsonl"] == ("loaded", None, 1)
    assert files["gateway/envelope/locked/inner.jsonl"] == ("loaded", None, 1)
    assert files["gateway/envelope/cafe.jsonl"] == ("loaded", None, 1)
    assert files["gateway/envelope/fifo.jsonl"] == ("archived", "no longer in landing; it had no rows (its last read failed)", 0)
    assert _requests(home) == ["good-1", "good-2", "inner-1", "latin-1", "perm-1"]


def test_a_file_that_changes_while_it_is_read_fails_and_is_read_again_next_run(home, monkeypatch):
    land(home, "steady.jsonl", _lines("steady-1"))
    growing = land(home, "growing.jsonl", _lines("grow-1"))
    read_bytes = Path.read_bytes

    def appended_meanwhile(path: Path) -> bytes:  # a writer appends while the file is read
        data = read_bytes(path)
        if path == growing and b"grow-2" not in data:
            with path.open("a") as handle:
                handle.write(_lines("grow-2")[0] + "\n")
        return data

    original = growing.stat().st_size
    monkeypatch.setattr(Path, "read_bytes", appended_meanwhile)
    summary = run_pipeline(home, progress=lambda _: None)
    status, error, _ = _files(home)["gateway/envelope/growing.jsonl"]
    assert (status, error) == ("failed", f"the file cannot be read: the file changed while it was read ({original} bytes, then {growing.stat().st_size})")
    assert any("growing.jsonl" in warning for warning in summary.warnings)
    assert _requests(home) == ["steady-1"]

    monkeypatch.undo()
    run_pipeline(home, progress=lambda _: None)
    assert _files(home)["gateway/envelope/growing.jsonl"] == ("loaded", None, 2)
    assert _requests(home) == ["grow-1", "grow-2", "steady-1"]


def test_a_file_read_before_that_vanishes_while_the_next_run_reads_it_keeps_its_rows_counted(home, monkeypatch):
    """A loaded file that changed (so the next run reads it again) and is deleted while that run reads it: its rows of
    the last read stay in the lake and in the money. Its manifest row said `failed` with no rows, then `archived`,
    'its 0 rows stay': 1 billed request no row of audit.ingested_files accounted for."""
    changing = land(home, "changing.jsonl", _lines("kept-1"))
    run_pipeline(home, progress=lambda _: None)
    assert _files(home)["gateway/envelope/changing.jsonl"] == ("loaded", None, 1)
    land(home, "changing.jsonl", _lines("kept-1", "kept-2"))
    read_bytes = Path.read_bytes

    def deleted_meanwhile(path: Path) -> bytes:
        if path == changing:
            path.unlink()
            raise FileNotFoundError(2, "No such file or directory")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", deleted_meanwhile)
    run_pipeline(home, progress=lambda _: None)
    monkeypatch.undo()
    assert _files(home)["gateway/envelope/changing.jsonl"] == (
        "failed", "the file cannot be read: No such file or directory; the 1 rows of its last read stay", 1)
    assert _requests(home) == ["kept-1"]
    run_pipeline(home, progress=lambda _: None)
    assert _files(home)["gateway/envelope/changing.jsonl"] == ("archived", "no longer in landing; its 1 rows stay", 1)
    assert _requests(home) == ["kept-1"]


def test_scratch_left_by_a_killed_ingestion_is_removed_by_the_next_run(home):
    leftover = home.scratch / "ingest-dead1234"
    (leftover / "part").mkdir(parents=True)
    (leftover / "part" / "rows.parquet").write_bytes(b"x" * 1024)
    land(home, "a.jsonl", _lines("a-1"))
    messages: list[str] = []
    run_pipeline(home, progress=messages.append)
    assert not leftover.exists()
    assert "removed the scratch of 1 interrupted ingestion(s)" in messages
    assert not list(home.scratch.glob("ingest-*"))


def test_every_test_home_sits_on_a_path_with_an_apostrophe_a_space_and_non_ascii_letters(home):
    """tests/conftest.py puts the suite's temporary folders there: every path reaches SQL quoted or bound."""
    assert {"'", " ", "ü"} <= set(str(home.root)), home.root


def test_a_file_replaced_before_duckdb_reads_its_path_is_not_billed_on_the_new_bytes(home, monkeypatch):
    """DuckDB reads a clean envelope file whole from its path, after the bytes were hashed: a file copied over in
    between (same ids, other usage) was billed on the new content under the old hash, and the next run, seeing the
    old bytes again, kept those rows as unchanged. Now the file fails as changed and is read again next run."""
    from pipelines.ingest import gateway

    original = land(home, "swapped.jsonl", _lines("swap-1", "swap-2"))
    replacement = "\n".join(envelope(i, "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 777777, "completion_tokens": 100})
                            for i in ("swap-1", "swap-2")) + "\n"
    query = gateway.envelope_file_query

    def swapped_meanwhile(path, name):  # the writer replaces the file between the hash and DuckDB's read
        original.write_text(replacement)
        return query(path, name)

    monkeypatch.setattr(gateway, "envelope_file_query", swapped_meanwhile)
    summary = run_pipeline(home, progress=lambda _: None)
    status, error, _ = _files(home)["gateway/envelope/swapped.jsonl"]
    assert (status, error) == ("failed", "the file changed while it was read (replaced or rewritten after it was hashed)")
    assert any("swapped.jsonl" in warning for warning in summary.warnings)
    assert _requests(home) == []

    monkeypatch.undo()
    run_pipeline(home, progress=lambda _: None)
    assert _files(home)["gateway/envelope/swapped.jsonl"] == ("loaded", None, 2)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select sum(input_tokens) from core.request_costs").fetchall() == [(2 * 777777,)]


def test_a_symlinked_folder_in_landing_is_a_failed_row_not_a_silent_skip(home, tmp_path):
    """os.walk does not enter a symlinked folder: an envelope folder linked to another disk (or a dated subfolder
    linked anywhere) loaded nothing, with no audit row and no warning, and the run said 'no spend yet'."""
    from pipelines.storage.lake import SYMLINKED_FOLDER

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "day.jsonl").write_text("\n".join(_lines("out-1")) + "\n")
    land(home, "good.jsonl", _lines("good-1"))
    (home.gateway_landing("envelope") / "2026-11-27").symlink_to(outside, target_is_directory=True)
    summary = run_pipeline(home, progress=lambda _: None)
    assert _files(home)["gateway/envelope/2026-11-27"] == ("failed", SYMLINKED_FOLDER, 0)
    assert any("2026-11-27" in warning for warning in summary.warnings)
    assert _requests(home) == ["good-1"]


def test_a_file_truncated_after_it_was_read_withdraws_its_rows_and_says_so(home):
    """logrotate's copytruncate empties a log in place after copying it: the re-read withdraws the file's records
    (README: a corrected file re-resolves its requests), which the run and the audit now say, never silently."""
    path = land(home, "app.jsonl", _lines("rot-1", "rot-2", "rot-3"))
    run_pipeline(home, progress=lambda _: None)
    assert _requests(home) == ["rot-1", "rot-2", "rot-3"]

    path.write_bytes(b"")
    lines: list[str] = []
    run_pipeline(home, progress=lines.append)
    said = "3 rows loaded by its last read, 0 now: the records it no longer loads are withdrawn (land the rotated or corrected copy to keep them)"
    assert f"  warning: gateway/envelope/app.jsonl changed since its last read: {said}" in lines, lines
    assert _files(home)["gateway/envelope/app.jsonl"] == ("loaded", said, 0)
    assert _requests(home) == []

    land(home, "app.jsonl", _lines("rot-4"))  # the application writes on: more rows than the empty read, no warning
    lines.clear()
    run_pipeline(home, progress=lines.append)
    assert not [line for line in lines if "warning" in line], lines
    assert _files(home)["gateway/envelope/app.jsonl"] == ("loaded", None, 1)

    path.unlink()  # archived: its row stays; landed again with none of it, the re-read withdraws it and says so
    run_pipeline(home, progress=lambda _: None)
    assert _files(home)["gateway/envelope/app.jsonl"][0] == "archived"
    land(home, "app.jsonl", [])
    lines.clear()
    run_pipeline(home, progress=lines.append)
    assert any(line.startswith("  warning: gateway/envelope/app.jsonl changed since its last read: 1 rows loaded") for line in lines), lines


def test_a_home_the_machine_will_not_let_it_write_is_one_line_not_a_traceback(home):
    """The robustness review: a read-only home made `run`, `close`, `whatif` and `init` print a traceback from the run
    lock's open (exit 1). A folder without write permission (root's override dropped, as for the files above) now
    gets one line, `tokenledger: ...`, exit 2."""
    land(home, "a.jsonl", _lines("ro-1"))
    home.root.chmod(0o555)
    try:
        env = {key: value for key, value in os.environ.items() if key != "TOKENLEDGER_HOME"}
        for command in (["run", "--home", str(home.root)], ["init", "--home", str(home.root / "new")]):
            done = subprocess.run([sys.executable, "-m", "pipelines.cli", *command], capture_output=True, text=True, env=env,
                                  timeout=600, preexec_fn=_without_root_reads)
            assert done.returncode == 2, (command, done.stderr[-3000:])
            assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
            assert done.stderr.startswith("tokenledger: the machine refused a file operation: ") and "Permission denied" in done.stderr
    finally:
        home.root.chmod(0o755)


def test_a_full_or_read_only_disk_under_a_library_error_is_named_in_one_line():
    """Dagster's SQLite run history on a full disk raised SQLAlchemy's error from sqlite3's "disk I/O error" (a
    109-line traceback in the review); the cause is found along what each error was raised from, not along what it
    was handling (a bug raised while handling an OSError stays a traceback)."""
    import sqlite3

    from pipelines.cli.main import _machine_problem

    try:
        try:
            raise sqlite3.OperationalError("disk I/O error")
        except sqlite3.OperationalError as inner:
            raise RuntimeError("(sqlite3.OperationalError) disk I/O error") from inner
    except RuntimeError as outer:
        assert _machine_problem(outer).startswith("Dagster's run history (<home>/.dagster) could not be written: disk I/O error")
    for refusal in ("database or disk is full", "attempt to write a readonly database"):
        assert _machine_problem(sqlite3.OperationalError(refusal)).endswith("(make room, or fix the folder's permissions, then try again)")
    assert _machine_problem(sqlite3.DatabaseError("database disk image is malformed")) is None  # damaged, not refused
    assert _machine_problem(sqlite3.OperationalError("database disk image is malformed")) is None
    try:
        try:
            open("/nonexistent/x")
        except OSError:
            raise KeyError("a bug")
    except KeyError as bug:
        assert _machine_problem(bug) is None


def test_hidden_files_and_folders_in_landing_are_not_read(tmp_path):
    """A write in progress: rsync keeps a partial file in the folder `.~tmp~` (its --partial-dir) until it renames it
    into place, and a partial file of that folder was read as a whole log; a dot file (`.day.jsonl.part`) was skipped
    already. Neither is read; a plain subfolder is."""
    from pipelines.storage.lake import discover_landed

    home = Home.at(tmp_path / "home").ensure()
    envelope_dir = home.landing / "gateway" / "envelope"
    for relative in ("day.jsonl", ".day.jsonl.part", ".~tmp~/late.jsonl", "eu/night.jsonl", "eu/.cache/x.jsonl"):
        (envelope_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (envelope_dir / relative).write_text("{}\n")
    assert [landed.relative for landed in discover_landed(home, "gateway")] == [
        "gateway/envelope/day.jsonl", "gateway/envelope/eu/night.jsonl"]


def test_a_file_too_big_for_memory_fails_alone_named_and_the_others_load(home: Home):
    """A landed file is held in memory while it is read: one that does not fit (here 8 GiB, sparse, under a 6 GB
    address-space limit) raised MemoryError out of the ingestion step, so the run failed naming no file and no other
    file loaded, every run. It is now `failed` with its size and what to do, and the file beside it loads."""
    import resource

    land(home, "small.jsonl", [envelope("r1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 10})])
    big = home.gateway_landing("envelope") / "big.jsonl"
    with open(big, "wb") as handle:
        handle.truncate(8 * 2**30)
    env = {key: value for key, value in os.environ.items() if key != "TOKENLEDGER_HOME"}
    limit = 6 * 10**9
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home.root)], capture_output=True, text=True, env=env,
        timeout=600, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reason = ("not enough memory to read it (8,589,934,592 bytes; a landed file is held in memory while it is read): "
              "gzip it or split it")
    assert f"gateway/envelope/big.jsonl ({reason})" in done.stdout
    assert _files(home)["gateway/envelope/big.jsonl"] == ("failed", reason, 0)
    assert _requests(home) == ["r1"]


def _cut_gzip(text: bytes) -> bytes:
    """A gzip stream that stops right after a sync flush: its text reads to the end of `text`, then the stream breaks
    (an upload or a log shipper killed mid-write)."""
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH)


def test_a_gzip_stream_that_breaks_mid_line_does_not_load_the_line_it_cut_short(home):
    """A CSV's last record cut mid-number still has every column: revenue of 4800.00 loaded as 48, a LiteLLM request's
    5000 completion tokens as 5 and an outcome's 125.50 as 12, with only the gzip problem in audit.rejected_rows.
    The cut line is not read: the file's rejected row names the cut and the bytes it left unread, and the whole lines
    before it load."""
    landing = home.landing
    files = {
        "revenue/rev.csv.gz": b"customer_id,user_segment,period_start,period_end,currency,plan,amount\n"
                              b"beta,pro,2026-11-01,2026-12-01,USD,pro,50.00\n"
                              b"acme,enterprise,2026-11-01,2026-12-01,USD,ent,48",
        "gateway/litellm/spend.csv.gz": b"request_id,startTime,custom_llm_provider,model,request_tags,status,prompt_tokens,completion_tokens\n"
                                        b'r1,2026-11-10 10:00:00,openai,gpt-4o-mini-2024-07-18,"[""feature:chat""]",success,1000,5000\n'
                                        b'r2,2026-11-10 10:00:00,openai,gpt-4o-mini-2024-07-18,"[""feature:chat""]",success,1000,5',
        "outcomes/done.csv.gz": b"outcome_id,timestamp,outcome_type,feature,request_id,value_usd\n"
                                b"o1,2026-11-10T12:00:00Z,done,chat,r1,12",
    }
    for relative, text in files.items():
        (landing / relative).parent.mkdir(parents=True, exist_ok=True)
        (landing / relative).write_bytes(_cut_gzip(text))
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select customer_id, amount from core.revenue").fetchall() == [("beta", 50)]
        assert con.execute("select request_id, output_tokens from core.request_costs").fetchall() == [("r1", 5000)]
        assert con.execute("select count(*) from core.outcomes").fetchall() == [(0,)]
        rejected = con.execute("select source_file, row_number, reason from audit.rejected_rows order by 1").fetchall()
        counts = con.execute("select path, rows_read, rows_loaded, rows_rejected from audit.ingested_files order by 1").fetchall()
    cut = "gzip stream is truncated or corrupt after {} decompressed bytes; the {} bytes after the last line break, a line it cut short, are not read"
    assert rejected == [
        ("gateway/litellm/spend.csv.gz", 3, cut.format(279, 88)),  # line 3 (the header is line 1); 279 bytes of text in all
        ("outcomes/done.csv.gz", 1, cut.format(102, 39)),  # the first record after the header
        ("revenue/rev.csv.gz", 2, cut.format(163, 48)),
    ]
    assert counts == [("gateway/litellm/spend.csv.gz", 2, 1, 1), ("outcomes/done.csv.gz", 1, 0, 1), ("revenue/rev.csv.gz", 2, 1, 1)]
