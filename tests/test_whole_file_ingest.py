"""Clean envelope files are read whole by DuckDB; any other file is judged line by line, with the same rows."""

from __future__ import annotations

import gzip
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from helpers import envelope, land, sample_usage

from pipelines.adapters.envelope import file_query, parse_envelope
from pipelines.adapters.lines import count_lines
from pipelines.ingest import gateway as ingest
from pipelines.ingest.gateway import ingest_gateway
from pipelines.ingest.privacy import load_key, pseudonymize
from pipelines.storage.lake import read_manifest
from pipelines.storage.relations import sql_literal

OPENAI = sample_usage("openai_chat_completions_usage.json")
ANTHROPIC = sample_usage("anthropic_messages_usage.json")


def _lines(n: int) -> list[str]:
    out = []
    for i in range(n):
        usage = OPENAI if i % 2 else ANTHROPIC
        provider, model = ("openai", "gpt-4o-2024-08-06") if i % 2 else ("anthropic", "claude-3-5-sonnet-20241022")
        out.append(envelope(f"r{i}", provider, model, usage, user_id=f"u_{i % 3}", latency_ms=100 + i, tags={"k": str(i)}))
    return out


def _no_line_path(monkeypatch) -> None:
    """Fail the test if ingestion judges the file line by line instead of reading it whole."""

    def refuse(data, name, attribution):
        raise AssertionError(f"{name} went through the line-by-line path")

    monkeypatch.setitem(ingest.ADAPTERS, "envelope", ingest.Adapter(refuse, (".jsonl", ".jsonl.gz", ".parquet"), refuse))


def _lake(home) -> pa.Table:
    with duckdb.connect() as con:
        return con.sql(
            f"select * exclude (source_file) from read_parquet({sql_literal(home.lake.as_posix() + '/gateway_requests/**/*.parquet')}) order by source_row"
        ).to_arrow_table()


def _line_path_rows(home, data: bytes, name: str) -> pa.Table:
    """What the line-by-line adapter makes of the same bytes, with the lake's pseudonyms and event dates."""
    rows = parse_envelope(data, name).rows
    rows = rows.set_column(rows.schema.get_field_index("user_id"), "user_id", pseudonymize(rows["user_id"], load_key(home.secrets)))
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        con.register("r", rows)
        return con.sql("select *, cast(occurred_at as date) as event_date from r order by source_row").to_arrow_table()


def test_clean_gzip_file_is_read_whole_and_matches_the_line_path(home, monkeypatch):
    lines = _lines(40)
    path = home.gateway_landing("envelope") / "2026-11-27" / "clean.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    assert file_query(path.as_posix(), path.name) is not None
    _no_line_path(monkeypatch)

    report = ingest_gateway(home)

    assert report.rows == {"rows_read": 40, "rows_loaded": 40, "rows_rejected": 0, "rows_duplicate": 0, "rows_skipped": 0}
    lake = _lake(home)
    expected = _line_path_rows(home, path.read_bytes(), path.name)
    assert lake.select(expected.column_names).cast(expected.schema).equals(expected)
    assert lake["source_row"].to_pylist() == list(range(1, 41))
    assert lake["request_id"].to_pylist() == [f"r{i}" for i in range(40)]
    assert all(u.startswith("p_") for u in lake["user_id"].to_pylist())


def test_parquet_envelope_file_is_read_whole_and_matches_the_line_path(home, monkeypatch):
    records = [json.loads(line) for line in _lines(12)]
    for record in records:
        record["timestamp"] = None
    table = pa.table(
        {
            "request_id": [r["request_id"] for r in records],
            "timestamp": pa.array([1_795_774_502_120_000] * 12, pa.timestamp("us", tz="UTC")),
            "provider": [r["provider"] for r in records],
            "model": [r["model"] for r in records],
            "feature": [r["feature"] for r in records],
            "user_id": [r["user_id"] for r in records],
            "latency_ms": pa.array([r["latency_ms"] for r in records], pa.int32()),
            "usage": [json.dumps(r["usage"]) for r in records],
            "tags": [json.dumps(r["tags"]) for r in records],
        }
    )
    path = home.gateway_landing("envelope") / "2026-11-27" / "rows.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    assert file_query(path.as_posix(), path.name) is not None
    _no_line_path(monkeypatch)

    report = ingest_gateway(home)

    assert report.rows["rows_loaded"] == 12
    expected = _line_path_rows(home, path.read_bytes(), path.name)
    lake = _lake(home)
    assert lake.select(expected.column_names).cast(expected.schema).equals(expected)
    assert lake["service_tier"].to_pylist() == ["standard"] * 12


def test_blank_lines_keep_physical_line_numbers(home):
    lines = _lines(4)
    land(home, "2026-11-27/blank.jsonl", [lines[0], "", lines[1], "   ", lines[2], lines[3]])

    ingest_gateway(home)

    assert _lake(home)["source_row"].to_pylist() == [1, 3, 5, 6]
    (entry,) = read_manifest(home).values()
    assert (entry["rows_read"], entry["rows_loaded"]) == (4, 4)


def test_a_bad_line_falls_back_to_the_line_path_and_is_named(home):
    lines = _lines(5)
    lines[3] = lines[3].replace('"usage": {', '"usage": "oops", "x": {')
    land(home, "2026-11-27/bad.jsonl", lines)

    report = ingest_gateway(home)

    assert report.rows == {"rows_read": 5, "rows_loaded": 4, "rows_rejected": 1, "rows_duplicate": 0, "rows_skipped": 0}
    rejected = pq.read_table(home.lake / "_audit" / "rejected_rows").to_pylist()
    assert [(r["row_number"], r["field"], r["reason"]) for r in rejected] == [(4, "usage", "usage is not a JSON object")]
    assert rejected[0]["byte_offset"] == sum(len(line) + 1 for line in lines[:3])
    assert _lake(home)["source_row"].to_pylist() == [1, 2, 3, 5]


def test_count_lines_counts_a_last_line_without_a_break_and_refuses_cut_gzip():
    assert count_lines(b"a\nb\nc", "x.jsonl") == 3
    assert count_lines(b"a\nb\n", "x.jsonl") == 2
    assert count_lines(b"", "x.jsonl") == 0
    packed = gzip.compress(b"a\n" * 1000)
    assert count_lines(packed, "x.jsonl.gz") == 1000
    assert count_lines(packed[: len(packed) // 2], "x.jsonl.gz") is None


def test_a_file_name_duckdb_would_read_as_a_glob_is_ingested_alone(home):
    lines = _lines(3)
    land(home, "2026-11-27/req[1].jsonl", lines)
    land(home, "2026-11-27/req1.jsonl", _lines(5)[3:])

    report = ingest_gateway(home)

    assert report.rows == {"rows_read": 5, "rows_loaded": 5, "rows_rejected": 0, "rows_duplicate": 0, "rows_skipped": 0}
    manifest = read_manifest(home)
    assert {path.rsplit("/", 1)[-1]: row["rows_loaded"] for path, row in manifest.items()} == {"req[1].jsonl": 3, "req1.jsonl": 2}


def test_a_large_file_read_on_every_thread_keeps_each_request_on_its_own_line(home, monkeypatch):
    template = _lines(2)
    lines = [template[i % 2].replace('"r0"' if i % 2 == 0 else '"r1"', f'"r{i}"') for i in range(150_000)]
    land(home, "2026-11-27/large.jsonl", lines)  # ~80 MB: DuckDB parses it in several buffers at once
    _no_line_path(monkeypatch)

    ingest_gateway(home)

    lake = _lake(home)
    assert lake.num_rows == 150_000
    assert lake["request_id"].to_pylist() == [f"r{i}" for i in range(150_000)]
    assert lake["source_row"].to_pylist() == list(range(1, 150_001))


def test_a_whole_file_read_whose_rows_come_out_of_order_is_judged_line_by_line(home, monkeypatch):
    """The whole-file read numbers rows by the order DuckDB stores them. A plan that does not keep the file's order
    (here forced: the judging query sorted by a hash) is caught by the lines sampled while counting, and the file
    is judged line by line: every request keeps its own line number."""
    template = _lines(2)
    lines = [template[i % 2].replace('"r0"' if i % 2 == 0 else '"r1"', f'"r{i}"') for i in range(20_000)]
    land(home, "2026-11-27/shuffled.jsonl", lines)  # ~10 MB: about ten sampled lines
    whole_file_query = ingest.envelope_file_query
    monkeypatch.setattr(ingest, "envelope_file_query", lambda path, name: f"select * from ({whole_file_query(path, name)}) order by md5(request_id)")
    line_path = []
    adapter = ingest.ADAPTERS["envelope"]
    monkeypatch.setitem(ingest.ADAPTERS, "envelope", ingest.Adapter(
        adapter.parse, adapter.suffixes, lambda *args: line_path.append(1) or adapter.chunks(*args)))

    ingest_gateway(home)

    assert line_path, "the shuffled whole-file rows were kept"
    lake = _lake(home)
    assert lake["request_id"].to_pylist() == [f"r{i}" for i in range(20_000)]
    assert lake["source_row"].to_pylist() == list(range(1, 20_001))


def test_count_lines_samples_whole_lines_by_their_number():
    data = b"".join(b'{"request_id": "r%d", "pad": "%s"}\n' % (i, b"x" * 200) for i in range(30_000))
    samples: dict[int, bytes] = {}
    assert count_lines(data, "f.jsonl", samples=samples) == 30_000
    assert len(samples) >= 5
    assert all(json.loads(line)["request_id"] == f"r{number}" for number, line in samples.items())


def test_parquet_as_pandas_and_polars_write_it_loads_and_a_local_timestamp_is_rejected(home):
    """pandas writes a `category` column and Polars a `Categorical` one as a dictionary of strings, and Polars its own
    strings as `string_view`: such a `usage` was rendered as a JSON string and every row rejected ('usage is not a JSON
    object'). A column the envelope does not name (the prompt's messages) is not read, as a JSON line's other keys
    are not. A Parquet timestamp without a zone is a local time (isAdjustedToUTC false): rejected as a naive
    timestamp in a JSON line is, where it was taken as UTC."""
    records = [json.loads(line) for line in _lines(4)]
    table = pa.table(
        {
            "request_id": pa.array([r["request_id"] for r in records]).dictionary_encode(),
            "timestamp": pa.array([1_795_774_502_120_000] * 4, pa.timestamp("us", tz="UTC")),
            "provider": pa.array([r["provider"] for r in records], pa.string_view()),
            "model": pa.array([r["model"] for r in records]).dictionary_encode(),
            "usage": pa.array([json.dumps(r["usage"]) for r in records]).dictionary_encode(),
            "messages": ["x" * 100_000] * 4,
        }
    )
    landing = home.gateway_landing("envelope") / "2026-11-27"
    landing.mkdir(parents=True)
    pq.write_table(table, landing / "pandas.parquet")
    naive = table.set_column(1, "timestamp", pa.array([1_795_774_502_120_000] * 4, pa.timestamp("us")))
    pq.write_table(naive.set_column(0, "request_id", pa.array([f"n{i}" for i in range(4)])), landing / "naive.parquet")

    line_path = parse_envelope((landing / "pandas.parquet").read_bytes(), "pandas.parquet")
    assert (line_path.rows.num_rows, line_path.rejected.num_rows) == (4, 0)
    assert file_query((landing / "pandas.parquet").as_posix(), "pandas.parquet") is not None
    ingest_gateway(home)

    manifest = {entry["path"].rsplit("/", 1)[-1]: entry for entry in read_manifest(home).values()}
    assert (manifest["pandas.parquet"]["rows_loaded"], manifest["pandas.parquet"]["rows_rejected"]) == (4, 0)
    assert (manifest["naive.parquet"]["rows_loaded"], manifest["naive.parquet"]["rows_rejected"]) == (0, 4)
    rejected = pq.read_table(home.lake / "_audit" / "rejected_rows").to_pylist()
    assert {(r["field"], r["reason"]) for r in rejected} == {("timestamp", "timestamp has no UTC offset: '2026-11-27T10:15:02.120000'")}
    assert all('"messages"' not in r["record"] for r in rejected)
    assert _lake(home)["request_id"].to_pylist() == [f"r{i}" for i in range(4)]


def test_a_file_read_line_by_line_says_how_far_it_got(home, monkeypatch):
    """A file judged line by line said nothing until it was read to its end (a 20 GiB gzip file: minutes of silence);
    every IN_FILE_PROGRESS_SECONDS (here every part) it says how many lines it has read and rejected so far."""
    lines = _lines(3)
    lines[1] = "not json"
    land(home, "2026-11-27/slow.jsonl", lines)
    monkeypatch.setattr(ingest, "IN_FILE_PROGRESS_SECONDS", 0.0)
    said: list[str] = []

    ingest_gateway(home, progress=said.append)

    assert "gateway/envelope/2026-11-27/slow.jsonl: 3 lines read so far, 1 of them rejected" in said, said
