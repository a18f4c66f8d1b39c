"""Several landed gateway files ingested at once (TOKENLEDGER_INGEST_WORKERS): the same lake, manifest, rejected
rows and progress lines as one file at a time, with the loads really running together."""

from __future__ import annotations

import gzip
import shutil
import threading

import duckdb
import pyarrow.parquet as pq
import pytest
from helpers import envelope, land, sample_usage

from pipelines.ingest import gateway as ingest
from pipelines.ingest.gateway import ingest_gateway
from pipelines.settings import ingest_workers
from pipelines.storage.environment import memory_limit_share
from pipelines.storage.home import Home
from pipelines.storage.lake import read_manifest
from pipelines.storage.relations import sql_literal

OPENAI = sample_usage("openai_chat_completions_usage.json")
ANTHROPIC = sample_usage("anthropic_messages_usage.json")


def _land_files(home: Home) -> None:
    """Six files of every kind ingestion meets: clean gzip (read whole), plain, one with a bad line (judged line
    by line), one repeating a request of another file, one holding a request twice, one with two dates."""
    for n in range(3):
        lines = [envelope(f"f{n}-r{i}", "openai", "gpt-4o-2024-08-06", OPENAI, user_id=f"u_{i % 4}") for i in range(30)]
        path = home.gateway_landing("envelope") / "2026-11-27" / f"clean-{n}.jsonl.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    bad = [envelope(f"b-r{i}", "anthropic", "claude-3-5-sonnet-20241022", ANTHROPIC) for i in range(10)]
    bad.insert(4, '{"request_id": "b-broken", "usage": ')
    land(home, "2026-11-27/bad-line.jsonl", bad)
    land(home, "2026-11-27/repeats.jsonl", [envelope("f0-r3", "openai", "gpt-4o-2024-08-06", OPENAI),
                                            envelope("d-r1", "openai", "gpt-4o-2024-08-06", OPENAI),
                                            envelope("d-r1", "openai", "gpt-4o-2024-08-06", OPENAI)])
    land(home, "2026-11-28/two-days.jsonl", [envelope("t-r1", "openai", "gpt-4o-2024-08-06", OPENAI),
                                             envelope("t-r2", "openai", "gpt-4o-2024-08-06", OPENAI, timestamp="2026-11-28T01:00:00Z")])


def _state(home: Home) -> tuple[list, list, list]:
    """The lake's requests, the manifest (without the time of ingestion) and the rejected rows, sorted."""
    with duckdb.connect() as con:
        lake = con.sql(
            f"select * from read_parquet({sql_literal(home.lake.as_posix() + '/gateway_requests/**/*.parquet')}, hive_partitioning = false) "
            "order by source_file, source_row"
        ).fetchall()
    manifest = sorted((path, {k: v for k, v in row.items() if k != "ingested_at"}) for path, row in read_manifest(home).items())
    rejected = sorted(
        tuple(row.values()) for path in sorted((home.lake / "_audit" / "rejected_rows").glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    )
    return lake, manifest, rejected


def _twin(home: Home, tmp_path) -> Home:
    """A second empty home with the same pseudonymization key and the same landed files."""
    other = Home.at(tmp_path / "twin").ensure()
    shutil.copytree(home.secrets, other.secrets, dirs_exist_ok=True)
    _land_files(other)
    return other


def test_files_ingested_at_once_give_what_one_at_a_time_gives(home, tmp_path, monkeypatch):
    _land_files(home)
    twin = _twin(home, tmp_path)
    # two loads must be inside `_load` together to pass this barrier: with one worker it would time out
    barrier = threading.Barrier(2, timeout=30)
    load = ingest._load
    met = []

    def load_together(*args, **kwargs):
        if not met:
            met.append(barrier.wait())
        return load(*args, **kwargs)

    monkeypatch.setenv("TOKENLEDGER_INGEST_WORKERS", "1")
    one_lines: list[str] = []
    one = ingest_gateway(home, one_lines.append)

    monkeypatch.setenv("TOKENLEDGER_INGEST_WORKERS", "2")
    monkeypatch.setattr(ingest, "_load", load_together)
    two_lines: list[str] = []
    two = ingest_gateway(twin, two_lines.append)

    assert not barrier.broken and sorted(met) == [0, 1]
    assert one.rows == two.rows == {"rows_read": 106, "rows_loaded": 104, "rows_rejected": 1, "rows_duplicate": 1, "rows_skipped": 0}
    assert one.files == two.files and len(one.files) == 6
    assert one.touched_dates == two.touched_dates
    assert one_lines == two_lines  # in landing order, whichever file finished first
    assert [line.split("]")[0] for line in two_lines if line.startswith("[")] == [f"[{n}/6" for n in range(1, 7)]
    assert _state(home) == _state(twin)
    assert len(_state(twin)[0]) == 104  # f0-r3 is in two files: each keeps it, the warehouse picks one


def test_a_file_that_fails_does_not_stop_the_files_being_loaded_beside_it(home, monkeypatch):
    _land_files(home)
    load = ingest._load

    def fail_on_bad_line(home_, landed, *args, **kwargs):
        if landed.name == "bad-line.jsonl":
            raise RuntimeError("disk full")
        return load(home_, landed, *args, **kwargs)

    monkeypatch.setenv("TOKENLEDGER_INGEST_WORKERS", "2")
    monkeypatch.setattr(ingest, "_load", fail_on_bad_line)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_gateway(home)
    manifest = read_manifest(home)
    assert "gateway/envelope/2026-11-27/bad-line.jsonl" not in manifest  # read again by the next run
    assert all(row["status"] == "loaded" for row in manifest.values())  # what was written is whole

    monkeypatch.setattr(ingest, "_load", load)
    again = ingest_gateway(home)
    assert "gateway/envelope/2026-11-27/bad-line.jsonl" in again.files
    assert len(read_manifest(home)) == 6


@pytest.mark.parametrize("raw", ["0", "17", "two", "-1", "1.5", "\u0664", "1_2", "\uff14"])  # Arabic-Indic and fullwidth 4: int() takes them
def test_a_bad_worker_count_is_refused_naming_the_variable(home, monkeypatch, raw):
    land(home, "2026-11-27/a.jsonl", [envelope("r1", "openai", "gpt-4o-2024-08-06", OPENAI)])
    monkeypatch.setenv("TOKENLEDGER_INGEST_WORKERS", raw)
    with pytest.raises(ValueError, match="TOKENLEDGER_INGEST_WORKERS must be a whole number from 1 to 16"):
        ingest_gateway(home)
    assert read_manifest(home) == {}


def test_the_default_is_one_file_at_a_time_and_files_at_once_share_the_memory_limit(monkeypatch):
    monkeypatch.delenv("TOKENLEDGER_INGEST_WORKERS", raising=False)
    monkeypatch.delenv("TOKENLEDGER_DUCKDB_MEMORY_LIMIT", raising=False)
    assert ingest_workers() == 1
    monkeypatch.setenv("TOKENLEDGER_INGEST_WORKERS", " 4 ")
    assert ingest_workers() == 4
    assert memory_limit_share(1) == "1536MB"
    assert memory_limit_share(2) == "768000000B"  # DuckDB: MB = 1000 * 1000 bytes
    monkeypatch.setenv("TOKENLEDGER_DUCKDB_MEMORY_LIMIT", "3GiB")
    assert memory_limit_share(3) == f"{2**30}B"
    monkeypatch.setenv("TOKENLEDGER_DUCKDB_MEMORY_LIMIT", "75%")  # not a size: left as it is for DuckDB to judge
    assert memory_limit_share(2) == "75%"
    with duckdb.connect() as con:
        con.execute(f"set memory_limit = {sql_literal('768000000B')}")
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "732.4 MiB"
