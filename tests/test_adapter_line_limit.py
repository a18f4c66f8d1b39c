"""The line limit ($TOKENLEDGER_MAX_LINE_BYTES) in every gateway format: a longer line is rejected unread with its
byte offset, length and SHA-256 and the rest of the file loads; gzip inflates in bounded pieces; blank lines
are skipped chunk by chunk; a format judged whole reads a bounded amount."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from helpers import envelope, litellm_csv

from pipelines.adapters import lines as lines_module
from pipelines.adapters.envelope import parse_envelope
from pipelines.adapters.helicone import parse_helicone
from pipelines.adapters.lines import (
    CHUNK_LINES,
    PIECE_BYTES,
    FileProblem,
    LongLine,
    TextChunk,
    _decompressed_pieces,
    count_lines,
    text_chunks,
    whole_text_bytes,
)
from pipelines.adapters.litellm import parse_litellm
from pipelines.adapters.otel import parse_otel
from pipelines.adapters.portkey import parse_portkey
from pipelines.ingest.gateway import ingest_gateway
from pipelines.settings import DEFAULT_MAX_LINE_BYTES, MAX_LINE_BYTES_ENV, max_line_bytes
from pipelines.storage.lake import read_manifest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LIMIT = 4096
REASON = f"line is longer than {LIMIT} bytes (the TOKENLEDGER_MAX_LINE_BYTES limit); not read"


@pytest.fixture(autouse=True)
def _limit(monkeypatch):
    monkeypatch.setenv(MAX_LINE_BYTES_ENV, str(LIMIT))


def _sample(fmt: str, name: str) -> dict:
    return json.loads((FIXTURES / fmt / name).read_text())


def _envelope(request_id: str, **fields) -> str:
    return envelope(request_id, "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 10, "completion_tokens": 2}, **fields)


def _otel(response_id: str, **extra) -> str:
    attributes = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.id": response_id, "gen_ai.usage.input_tokens": "10", "gen_ai.usage.output_tokens": "2", **extra,
    }
    span = {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": response_id.rjust(16, "0")[:16],
        "startTimeUnixNano": "1730419200000000000", "endTimeUnixNano": "1730419200812000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }
    return json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]})


def _jsonl_records(fmt: str, sample: str, id_field: str, big_field: str) -> list[str]:
    record = _sample(fmt, sample)
    return [
        json.dumps(dict(record, **{id_field: "ok-1"})),
        json.dumps(dict(record, **{id_field: "long-2", big_field: "x" * 3 * LIMIT})),
        json.dumps(dict(record, **{id_field: "ok-3"})),
    ]


FORMATS = {
    "envelope": (lambda data, name: parse_envelope(data, name), "f.jsonl",
                 [_envelope("ok-1"), _envelope("long-2", messages=["x" * 3 * LIMIT]), _envelope("ok-3")]),
    "helicone": (parse_helicone, "rmt.jsonl",
                 _jsonl_records("helicone", "helicone_request_response_rmt_row.json", "request_id", "request_body")),
    "portkey": (parse_portkey, "logs.jsonl", _jsonl_records("portkey", "portkey_log_export_row.json", "id", "request")),
    "litellm": (parse_litellm, "spend.jsonl", _jsonl_records("litellm", "litellm_spendlogs_row.json", "request_id", "messages")),
    "otel": (parse_otel, "t.jsonl", [_otel("ok-1"), _otel("long-2", **{"gen_ai.prompt": "x" * 3 * LIMIT}), _otel("ok-3")]),
}


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_line_over_the_limit_is_rejected_with_offset_length_and_hash(fmt, gzipped):
    parse, name, lines = FORMATS[fmt]
    text = "".join(line + "\n" for line in lines).encode()
    result = parse(gzip.compress(text) if gzipped else text, name + (".gz" if gzipped else ""))
    assert result.rows["request_id"].to_pylist() == ["ok-1", "ok-3"]
    (rejected,) = result.rejected.to_pylist()
    offset, length = len(lines[0]) + 1, len(lines[1].encode())
    assert (rejected["row_number"], rejected["field"], rejected["reason"]) == (2, "", REASON)
    assert (rejected["byte_offset"], rejected["byte_length"]) == (offset, length)
    assert rejected["record_sha256"] == hashlib.sha256(text[offset : offset + length]).hexdigest()
    assert rejected["record"] is None


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_rejections_after_a_long_line_keep_their_place_in_the_file(fmt):
    parse, name, lines = FORMATS[fmt]
    lines = [*lines, '{"cut": ', lines[2].replace("ok-3", "ok-5")]
    text = "".join(line + "\n" for line in lines).encode()
    result = parse(text, name)
    assert result.rows["request_id"].to_pylist() == ["ok-1", "ok-3", "ok-5"]
    long, bad = sorted(result.rejected.to_pylist(), key=lambda r: r["row_number"])
    assert (long["row_number"], bad["row_number"], bad["reason"]) == (2, 4, "invalid JSON")
    offset = text.index(b'{"cut": ')
    assert (bad["byte_offset"], bad["byte_length"]) == (offset, len('{"cut": '))
    assert bad["record_sha256"] == hashlib.sha256(b'{"cut": ').hexdigest()


def test_litellm_csv_row_over_the_limit_is_rejected_and_the_rest_loads():
    record = _sample("litellm", "litellm_spendlogs_row.json")
    text = litellm_csv(dict(record, request_id="ok-1"), dict(record, request_id="long-2", user="x" * 3 * LIMIT),
                       dict(record, request_id="ok-3"))
    text += b"ok-4,not,enough,cells\n"
    result = parse_litellm(text, "spend.csv")
    assert result.rows["request_id"].to_pylist() == ["ok-1", "ok-3"]
    rejected, short = result.rejected.to_pylist()
    lines = text.split(b"\n")
    offset = len(lines[0]) + len(lines[1]) + 2
    assert (rejected["row_number"], rejected["field"], rejected["reason"]) == (3, "", REASON)
    assert (rejected["byte_offset"], rejected["byte_length"]) == (offset, len(lines[2]))
    assert rejected["record_sha256"] == hashlib.sha256(lines[2]).hexdigest()
    assert (short["row_number"], short["byte_offset"], short["byte_length"]) == (5, text.index(b"ok-4,"), len(lines[4]))
    assert short["record_sha256"] == hashlib.sha256(lines[4]).hexdigest()


def test_a_long_last_line_in_a_cut_gzip_stream_comes_before_the_file_problem():
    text = (_envelope("ok-1") + "\n" + _envelope("cut-2", messages=["x" * 3 * LIMIT])).encode()
    packed = gzip.compress(text)
    result = parse_envelope(packed[: len(packed) - 12], "f.jsonl.gz")
    assert result.rows["request_id"].to_pylist() == ["ok-1"]
    rejected = [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()]
    assert rejected[0] == (2, "", REASON)
    assert rejected[1][0] == 3 and rejected[1][2].startswith("gzip stream is truncated or corrupt after")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_blank_lines_are_skipped_chunk_by_chunk(fmt, monkeypatch):
    monkeypatch.setattr(lines_module, "WHOLE_TEXT_LINES", 1024)  # OTel reads the file whole: let it read these 3 MiB
    parse, name, lines = FORMATS[fmt]
    blank = 3 * CHUNK_LINES
    text = (lines[0] + "\n" + "\n" * blank + " \t\n" * 1000 + lines[2] + "\n").encode()
    result = parse(gzip.compress(text), name + ".gz")
    assert result.rows["request_id"].to_pylist() == ["ok-1", "ok-3"]
    assert result.rows["source_row"].to_pylist() == [1, blank + 1002] and result.rejected.num_rows == 0


def test_chunks_hold_a_bounded_number_of_lines_and_no_long_line():
    text = b"a\n" * (3 * CHUNK_LINES) + b"b" * (2 * LIMIT) + b"\n" + b"\n" * (2 * CHUNK_LINES) + b"c"
    items = list(text_chunks(gzip.compress(text), "x.gz"))
    chunks = [item for item in items if isinstance(item, TextChunk)]
    assert [type(item).__name__ for item in items].count("LongLine") == 1
    assert max(chunk.line_count() for chunk in chunks) <= CHUNK_LINES + PIECE_BYTES
    assert all(chunk.text.count(b"\n") == 0 or max(map(len, chunk.text.split(b"\n"))) <= LIMIT for chunk in chunks)
    assert sum(chunk.lines().num_rows for chunk in chunks) == 3 * CHUNK_LINES + 1
    (long,) = [item for item in items if isinstance(item, LongLine)]
    assert (long.line_no, long.byte_offset, long.byte_length) == (3 * CHUNK_LINES + 1, 6 * CHUNK_LINES, 2 * LIMIT)


def test_gzip_inflates_in_bounded_pieces():
    bomb = gzip.compress(b"\n" * (64 * PIECE_BYTES), compresslevel=9)
    assert len(bomb) < PIECE_BYTES // 4
    sizes = [len(piece) for piece in _decompressed_pieces(bomb, "x.gz")]
    assert sum(sizes) == 64 * PIECE_BYTES and max(sizes) <= PIECE_BYTES


def test_count_lines_refuses_a_file_with_a_line_over_the_limit():
    assert count_lines(b"a\n" + b"b" * LIMIT + b"\nc\n", "x.jsonl") == 3
    assert count_lines(b"a\n" + b"b" * (LIMIT + 1) + b"\nc\n", "x.jsonl") is None
    assert count_lines(gzip.compress(b"a\n" + b"b" * (LIMIT + 1)), "x.jsonl.gz") is None


@pytest.mark.parametrize("fmt", ["otel", "litellm-csv"])
def test_a_format_judged_whole_reads_a_bounded_amount(fmt, monkeypatch):
    monkeypatch.setattr(lines_module, "WHOLE_TEXT_LINES", 4)  # 16 KiB at this limit
    most = whole_text_bytes()
    assert most == 4 * LIMIT
    if fmt == "otel":
        lines = [_otel(f"r-{i:03d}") for i in range(100)]
        text, parse, name = "".join(line + "\n" for line in lines), parse_otel, "t.jsonl.gz"
        header = 0
    else:
        record = _sample("litellm", "litellm_spendlogs_row.json")
        text = litellm_csv(*(dict(record, request_id=f"r-{i:03d}") for i in range(150))).decode()
        parse, name = parse_litellm, "spend.csv.gz"
        header = 1
    assert len(text) > 3 * most
    result = parse(gzip.compress(text.encode()), name)
    kept = text.encode()[:most].rfind(b"\n") + 1
    whole_lines = text.encode()[:kept].count(b"\n")
    assert result.rows.num_rows == whole_lines - header
    (problem,) = result.rejected.to_pylist()
    assert (problem["row_number"], problem["field"], problem["byte_offset"]) == (whole_lines + 1, "", kept)
    assert problem["reason"] == (
        f"file is longer than {most} bytes decompressed (4 times the TOKENLEDGER_MAX_LINE_BYTES limit, the most this "
        "format reads of one file); the rest was not read"
    )


def test_a_clean_envelope_file_with_a_long_line_goes_line_by_line(home):
    path = home.gateway_landing("envelope") / "2026-11-27" / "long.jsonl.gz"
    path.parent.mkdir(parents=True)
    lines = [_envelope("ok-1"), _envelope("long-2", messages=["x" * 3 * LIMIT]), _envelope("ok-3")]
    text = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(text))
    assert count_lines(path.read_bytes(), path.name) is None
    ingest_gateway(home)
    (entry,) = read_manifest(home).values()
    assert (entry["rows_read"], entry["rows_loaded"], entry["rows_rejected"]) == (3, 2, 1)


def test_the_setting_reads_a_whole_number_of_bytes(monkeypatch):
    assert max_line_bytes() == LIMIT
    monkeypatch.delenv(MAX_LINE_BYTES_ENV)
    assert max_line_bytes() == DEFAULT_MAX_LINE_BYTES == 16 * 2**20
    for bad in ("16MB", "-5", "100", "2_048", "\u0662\u0660\u0664\u0668"):  # int() reads both as 2048
        monkeypatch.setenv(MAX_LINE_BYTES_ENV, bad)
        with pytest.raises(ValueError, match=MAX_LINE_BYTES_ENV):
            max_line_bytes()


def test_file_problem_and_long_line_are_what_text_chunks_yields_besides_chunks():
    items = list(text_chunks(gzip.compress(b"a\n")[:-3], "x.gz"))
    assert [type(item) for item in items] == [TextChunk, FileProblem]
