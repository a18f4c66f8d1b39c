"""Ingestion memory is bounded by the line limit, not by the input: a small gzip of a gigabyte of blank lines, or
of one 768 MiB line, is ingested beside a good file, in three gateway formats, in a child process whose peak RSS
(its own ru_maxrss) stays under 2.5 GB; the good rows load and the long line is rejected with its byte offset,
length and SHA-256."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pyarrow.parquet as pq
from helpers import envelope

from pipelines.storage.lake import MANIFEST_DIR, REJECTED_DIR

FIXTURES = Path(__file__).resolve().parent / "fixtures"

MiB = 2**20
PEAK_RSS_LIMIT = 2.5e9
BLANK_MIB = 1024
LONG_MIB = 768


def gzip_repeated(prefix: bytes, block: bytes, times: int, suffix: bytes) -> bytes:
    """One gzip member holding prefix + block * times + suffix, built without compressing the repeats: the block is
    deflated once after a full flush (so it stands alone) and its compressed bytes are repeated."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    body = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.compress(suffix) + deflate.flush()
    crc = zlib.crc32(prefix)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(suffix, crc)
    size = (len(prefix) + len(block) * times + len(suffix)) % 2**32
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + head + body * times + tail + struct.pack("<II", crc, size)


def _line(request_id: str) -> bytes:
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    return (envelope(request_id, "openai", "gpt-4o-2024-08-06", usage) + "\n").encode()


def test_gzip_repeated_is_one_valid_member():
    import gzip

    assert gzip.decompress(gzip_repeated(b"a\n", b"\n" * 1000, 5, b"b\n")) == b"a\n" + b"\n" * 5000 + b"b\n"


_CHILD = """
import json, resource, sys
from pipelines.ingest.gateway import ingest_gateway
from pipelines.storage.home import Home
report = ingest_gateway(Home.at(sys.argv[1]))
print(json.dumps({"rows": report.rows, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def _helicone(request_id: str) -> bytes:
    record = json.loads((FIXTURES / "helicone" / "helicone_request_response_rmt_row.json").read_text())
    return (json.dumps(dict(record, request_id=request_id)) + "\n").encode()


def _otel(request_id: str) -> bytes:
    attributes = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.id": request_id, "gen_ai.usage.input_tokens": "10", "gen_ai.usage.output_tokens": "2",
    }
    span = {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
        "startTimeUnixNano": "1730419200000000000", "endTimeUnixNano": "1730419200812000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }
    return (json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]}) + "\n").encode()


FORMATS = {"envelope": _line, "helicone": _helicone, "otel": _otel}
"""Streamed chunk by chunk (envelope, also read whole by DuckDB first; Helicone) and judged whole (OTel)."""


def test_gzip_bombs_beside_a_good_file_stay_under_the_memory_bound(home):
    start = b'{"request_id": "long-2", "pad": "'
    length = len(start) + LONG_MIB * MiB + 2
    digest = hashlib.sha256(start)
    for _ in range(LONG_MIB):
        digest.update(b"x" * MiB)
    digest.update(b'"}')
    offsets = {}
    for fmt, line in FORMATS.items():
        day = home.gateway_landing(fmt) / "2026-11-27"
        day.mkdir(parents=True)
        (day / "good.jsonl").write_bytes(line(f"{fmt}-good-1") + line(f"{fmt}-good-2"))
        blank = gzip_repeated(line(f"{fmt}-blank-1"), b"\n" * MiB, BLANK_MIB, line(f"{fmt}-blank-2"))
        (day / "blank.jsonl.gz").write_bytes(blank)
        before = line(f"{fmt}-long-1")
        long_bomb = gzip_repeated(before + start, b"x" * MiB, LONG_MIB, b'"}\n' + line(f"{fmt}-long-3"))
        (day / "long.jsonl.gz").write_bytes(long_bomb)
        assert len(blank) < 1.1 * MiB and len(long_bomb) < MiB  # small on disk, huge inflated
        offsets[fmt] = len(before)

    child = subprocess.run([sys.executable, "-c", _CHILD, str(home.root)], capture_output=True, text=True, timeout=900)
    assert child.returncode == 0, child.stderr[-3000:]
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"peak RSS of the ingesting process: {outcome['peak'] / 1e9:.2f} GB")  # noqa: T201 - shown with -s
    assert outcome["peak"] < PEAK_RSS_LIMIT

    manifest = {row["path"]: row for row in pq.read_table(home.lake / MANIFEST_DIR).to_pylist()}
    rejected = {row["source_file"]: row for row in pq.read_table(home.lake / REJECTED_DIR).to_pylist()}
    # The OTel blank-line bomb inflates past what a file judged whole reads (512 MiB): one file-level row says so.
    cut = rejected.pop("gateway/otel/2026-11-27/blank.jsonl.gz")
    assert (cut["row_number"], cut["field"], cut["byte_offset"], cut["byte_length"]) == (2, "", 512 * MiB, None)
    assert cut["reason"].startswith(f"file is longer than {512 * MiB} bytes decompressed")
    for fmt in FORMATS:
        folder = f"gateway/{fmt}/2026-11-27"
        loaded = {name: manifest[f"{folder}/{name}"]["rows_loaded"] for name in ("good.jsonl", "blank.jsonl.gz", "long.jsonl.gz")}
        assert loaded == {"good.jsonl": 2, "blank.jsonl.gz": 1 if fmt == "otel" else 2, "long.jsonl.gz": 2}, fmt
        long = rejected.pop(f"{folder}/long.jsonl.gz")
        assert (long["row_number"], long["byte_offset"], long["byte_length"]) == (2, offsets[fmt], length), fmt
        assert (long["field"], long["record_sha256"], long["record"]) == ("", digest.hexdigest(), None)
        assert long["reason"] == f"line is longer than {16 * MiB} bytes (the TOKENLEDGER_MAX_LINE_BYTES limit); not read"
    assert rejected == {}


def test_a_json_document_longer_than_a_whole_file_is_read_fails_alone_gzipped_or_not(monkeypatch):
    """A `.json` document is parsed whole: past `whole_text_bytes` it is not read, gzipped or not, with one reason (an
    uncompressed one had no cap at all, a gzipped one said 'the rest was not read' of a file none of which was)."""
    import gzip

    import pytest

    from pipelines.adapters import UnreadableFile
    from pipelines.ingest.gateway import ADAPTERS

    monkeypatch.setenv("TOKENLEDGER_MAX_LINE_BYTES", "1024")  # at most 32 KiB of text read whole
    records = [json.loads(envelope(f"r{i}", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 10, "completion_tokens": 1}))
               for i in range(200)]
    small, large = json.dumps(records[:20]).encode(), json.dumps(records).encode()
    assert sum(part.rows.num_rows for part in ADAPTERS["envelope"].results(small, "s.json", None)) == 20
    for name, data in (("l.json", large), ("l.json.gz", gzip.compress(large))):
        with pytest.raises(UnreadableFile, match="a JSON document is read whole, at most 32768 bytes"):
            list(ADAPTERS["envelope"].results(data, name, None))
