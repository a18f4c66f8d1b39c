"""The bad-input corpus: every file in tests/corpus/ through one real pipeline run, each with its exact outcome.

tests/corpus/expected.yaml lists one case per landed file: where it lands, what it tests, and what the
product must do with it: file status, rows read / loaded / rejected / duplicate, the exact rejections
users see as [row_number, field, reason] (or the exact file-level error), and which requests reach
core.request_costs. Small files are committed under tests/corpus/<format>/; big ones (a 5 MB line,
20,000-deep nesting, a large gzip) and symlinks are made here at test time from a short recipe.

All cases share one temporary home and one `run_pipeline` call (module-scoped fixture, run `main`).
A case whose current product behaviour fails the whole run (a row dated before the first daily
partition, a daily token sum above int64) would hide every other case's outcome, so the manifest puts
it in a quarantine run of its own (`run: quarantine-...`), executed meanwhile in a child process. A case
marked `xfail` in the manifest is a product bug: its expected outcome is what the product should do,
and it is a strict xfail (it fails the suite once the bug is fixed, so the mark gets removed).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.ingest.gateway import ADAPTERS
from pipelines.ingest.privacy import create_key
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
CASES: list[dict] = MANIFEST["cases"]
SENTINEL: str = MANIFEST["sentinel"]
RAW_USER_IDS: list[str] = MANIFEST["raw_user_ids"]
TS = "2026-11-27T10:15:02.120Z"
# expect_rows names that are not plain core.request_costs columns
DERIVED = {"occurred_at_utc": "strftime(timezone('UTC', occurred_at), '%Y-%m-%d %H:%M:%S')"}


# ---------------------------------------------------------------- recipes for generated cases


def _envelope(request_id: str, **fields) -> str:
    record = {
        "request_id": request_id, "timestamp": TS, "provider": "openai", "model": "gpt-4o-2024-08-06",
        "service_tier": "default", "feature": "support_chat", "user_id": "u_1842", "user_segment": "enterprise",
        "customer_id": "acme", "conversation_id": "c_77",
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
    }
    record.update(fields)
    return json.dumps(record)


def _huge_line(path: Path, recipe: dict, home: Home) -> None:
    """Good rows around lines of `megabytes` MB each: prompt text (loads), a feature (rejected), broken JSON (rejected)."""
    size = int(recipe["megabytes"] * 1024 * 1024)
    ids = recipe.get("prefix", "huge")
    prompt = (SENTINEL + " ") * (size // (len(SENTINEL) + 1))
    lines = [
        _envelope(f"{ids}-1"),
        _envelope(f"{ids}-2", messages=[{"role": "user", "content": prompt}]),
        _envelope(f"{ids}-3", feature="f" * size, messages=[{"role": "user", "content": SENTINEL}]),
        _envelope(f"{ids}-4"),
        '{"request_id": "' + ids + '-5", "messages": [{"content": "' + prompt,  # never closed, no final newline
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _deep_nesting(path: Path, recipe: dict, home: Home) -> None:
    """JSON nested `depth` levels: inside an ignored field (loads), a whole-line array, an object, unbalanced.
    With `valid_only`, only the first two lines under the recipe's `prefix`: every line is valid JSON, so the file
    is read whole (the nesting deeper than Python's own JSON parser goes)."""
    depth, ids = recipe["depth"], recipe.get("prefix", "deep")
    lines = [
        _envelope(f"{ids}-1"),
        _envelope(f"{ids}-2")[:-1] + ', "messages": ' + "[" * depth + json.dumps(SENTINEL) + "]" * depth + "}",
        "[" * depth + "]" * depth,
        '{"a": ' * depth + "1" + "}" * depth,
        "[" * depth,
        _envelope("deep-6", usage={"prompt_tokens": 10, "completion_tokens": 2, "x": "DEEP"}).replace('"DEEP"', '{"a": ' * depth + "1" + "}" * depth),
    ]
    if recipe.get("valid_only"):
        lines = lines[:2]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _big_gzip(path: Path, recipe: dict, home: Home) -> None:
    """`lines` good rows gzipped, then bytes that are not gzip (a botched append): every row loads, one file error."""
    body = "".join(_envelope(f"bgz-{i}") + "\n" for i in range(1, recipe["lines"] + 1)).encode()
    path.write_bytes(gzip.compress(body, mtime=0) + recipe["trailing"].encode())


def _symlink_outside(path: Path, recipe: dict, home: Home) -> None:
    """A symlink in landing pointing at a valid file outside the landing folder."""
    outside = home.root / "outside" / "secret.jsonl"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_text(_envelope(recipe["request_id"], messages=[{"content": SENTINEL}]) + "\n", encoding="utf-8")
    path.symlink_to(outside)


def _dangling_symlink(path: Path, recipe: dict, home: Home) -> None:
    """A symlink in landing pointing at a file in landing that does not exist."""
    path.symlink_to(path.parent / recipe["target"])


def _fifo(path: Path, recipe: dict, home: Home) -> None:
    """A named pipe: opening it for reading would wait for a writer forever."""
    os.mkfifo(path)


def _latin1_name(path: Path, recipe: dict, home: Home) -> None:
    """A good file whose name is `name` in Latin-1 bytes (the case's path is how it shows: bytes escaped)."""
    name = os.fsencode(path.parent) + b"/" + recipe["name"].encode("latin-1")
    with open(name, "wb") as handle:
        handle.write((_envelope("latin1-1") + "\n").encode())


def _symlink_loop(path: Path, recipe: dict, home: Home) -> None:
    path.symlink_to(path)


def _gzip_newline_bomb(path: Path, recipe: dict, home: Home) -> None:
    """A small gzip: a good line, `megabytes` MiB of newlines, a good line. The newlines are deflated once and
    their compressed block repeated, so the file is made in a moment and stays under a MiB."""
    first, last = (_envelope(f"gzb-{i}").encode() + b"\n" for i in (1, 2))
    block = b"\n" * 2**20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(first) + deflate.flush(zlib.Z_FULL_FLUSH)
    body = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.compress(last) + deflate.flush()
    crc = zlib.crc32(first)
    for _ in range(recipe["megabytes"]):
        crc = zlib.crc32(block, crc)
    size = (len(first) + len(block) * recipe["megabytes"] + len(last)) % 2**32
    trailer = struct.pack("<II", zlib.crc32(last, crc), size)
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + head + body * recipe["megabytes"] + tail + trailer)


RECIPES = {
    "gzip_newline_bomb": _gzip_newline_bomb,
    "fifo": _fifo,
    "latin1_name": _latin1_name,
    "symlink_loop": _symlink_loop,
    "huge_line": _huge_line,
    "deep_nesting": _deep_nesting,
    "big_gzip": _big_gzip,
    "symlink_outside": _symlink_outside,
    "dangling_symlink": _dangling_symlink,
}


# ---------------------------------------------------------------- the runs


def _source(case: dict) -> Path:
    """A committed case file: tests/corpus/<format>/... for landing/gateway/<format>/..."""
    return CORPUS / case["path"].removeprefix("gateway/")


def _land(home: Home, case: dict) -> None:
    target = home.landing / case["path"]
    target.parent.mkdir(parents=True, exist_ok=True)
    if "generate" in case:
        recipe = case["generate"]
        RECIPES[recipe["recipe"]](target, recipe, home)
    else:
        shutil.copyfile(_source(case), target)


@dataclass
class Run:
    home: Home
    error: str | None
    seconds: float
    con: duckdb.DuckDBPyConnection | None = None

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        if self.con is None:
            self.con = duckdb.connect(str(self.home.warehouse), read_only=True)
        return self.con.execute(sql, params or []).fetchall()


def _groups() -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for case in CASES:
        groups.setdefault(case.get("run", "main"), []).append(case)
    return groups


def _run(root: Path, name: str) -> tuple[str | None, float]:
    """Land the group's cases in a fresh home at `root` and run the pipeline once; return (error, seconds)."""
    home = Home.at(root).ensure()
    create_key(home.secrets)
    for case in _groups()[name]:
        _land(home, case)
    started = time.monotonic()
    try:
        run_pipeline(home, progress=lambda _: None)
        error = None
    except Exception as exc:  # noqa: BLE001 - the error is the outcome; each case reports it
        error = f"{type(exc).__name__}: {exc}"
    return error, time.monotonic() - started


def _run_quarantine(base: Path, names: list[str]) -> None:
    """Child process entry: run each quarantine group in its own home, one after the other; write the outcomes."""
    outcomes = {name: _run(base / name / "home", name) for name in names}
    (base / "outcomes.json").write_text(json.dumps(outcomes))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The main run here; the quarantine runs meanwhile in a child process (Dagster runs are not thread-safe)."""
    base = tmp_path_factory.mktemp("corpus")
    quarantine = sorted(name for name in _groups() if name != "main")
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, pathlib; sys.path.insert(0, sys.argv[1]); import test_bad_input_corpus as t; "
         "t._run_quarantine(pathlib.Path(sys.argv[2]), sys.argv[3:])", str(Path(__file__).parent), str(base), *quarantine],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    error, seconds = _run(base / "main" / "home", "main")
    done = {"main": Run(Home.at(base / "main" / "home"), error, seconds)}
    _, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, f"the quarantine runs crashed: {stderr[-2000:]}"
    for name, (error, seconds) in json.loads((base / "outcomes.json").read_text()).items():
        done[name] = Run(Home.at(base / name / "home"), error, seconds)
    yield done
    for run in done.values():
        if run.con is not None:
            run.con.close()


def _landed_text(home: Home, case: dict) -> bytes:
    """The bytes the adapter reads: the landed file, gunzipped member by member as far as it goes."""
    data = (home.landing / case["path"]).read_bytes()
    if not case["path"].lower().endswith(".gz"):
        return data
    out = b""
    while data:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(data)
        except zlib.error:
            break
        if not inflater.eof:
            break
        data = inflater.unused_data.lstrip(b"\0")
    return out


def _text(value: str) -> str:
    return value.format(supported=", ".join(sorted(ADAPTERS)))


# ---------------------------------------------------------------- the tests


def test_the_corpus_has_at_least_40_cases_with_unique_paths():
    assert len(CASES) >= 40
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert len({case["path"] for case in CASES}) == len(CASES)


def test_every_committed_corpus_file_is_a_case():
    committed = {
        p.relative_to(CORPUS).as_posix()
        for p in CORPUS.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.name not in ("expected.yaml", "scenarios.yaml") and p.parent.name != "scenarios"
    }
    listed = {case["path"].removeprefix("gateway/") for case in CASES if "generate" not in case}
    assert committed == listed


def test_the_main_run_succeeds_over_the_whole_corpus(runs):
    run = runs["main"]
    assert run.error is None, f"the run failed: {run.error}"


def test_no_prompt_text_reaches_the_lake_or_the_warehouse(runs):
    for name, run in runs.items():
        for path in run.home.lake.rglob("*.parquet"):
            table = pq.read_table(path)
            for column in table.column_names:
                if str(table.schema.field(column).type) in ("string", "large_string"):
                    values = [v for v in table[column].to_pylist() if v]
                    assert not any(SENTINEL in v for v in values), f"{name}: {path} column {column} holds prompt text"
    columns = runs["main"].query(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type = 'VARCHAR' and table_schema in ('staging', 'core', 'marts', 'audit')"
    )
    assert columns
    for schema, table, column in columns:
        found = runs["main"].query(f'select count(*) from {schema}.{table} where contains("{column}", ?)', [SENTINEL])
        assert found == [(0,)], f"{schema}.{table}.{column} holds prompt text"


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(reason=case["xfail"], strict=True)] if case.get("xfail") else []
        yield pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_case(case: dict, runs):
    run = runs[case.get("run", "main")]
    home, path, query = run.home, case["path"], run.query

    # the manifest row: status, counts, conservation
    files = query(
        "select status, error, rows_read, rows_loaded, rows_rejected, rows_duplicate, duplicate_conflicts, rows_skipped, skipped_reasons "
        "from audit.ingested_files where path = ?",
        [path],
    )
    assert len(files) == 1, f"{path}: expected one audit.ingested_files row, found {len(files)}"
    status, error, read, loaded, rejected, duplicate, conflicts, skipped, reasons = files[0]
    assert read == loaded + rejected + duplicate + skipped, f"{path}: conservation broken"
    assert (skipped, json.loads(reasons) if reasons else {}) == (sum(case.get("skipped", {}).values()), case.get("skipped", {}))
    assert status == case["status"]
    if case["status"] == "failed":
        assert error == _text(case["error"])
    assert (read, loaded, rejected, duplicate) == (
        case["rows_read"], case["rows_loaded"], case["rows_rejected"], case["rows_duplicate"]
    )
    assert conflicts == case.get("duplicate_conflicts", 0)

    # the rejections: exact rows, fields and reasons; records without prompt text or raw user ids
    rows = query(
        "select row_number, field, reason, record, byte_offset, byte_length, record_sha256 "
        "from audit.rejected_rows where source_file = ? order by row_number, field, reason",
        [path],
    )
    expected = sorted((r[0], r[1], _text(r[2])) for r in case.get("rejections", []))
    assert sorted((r[0], r[1], r[2]) for r in rows) == expected
    text = _landed_text(home, case) if rows else b""
    for row_number, field, reason, record, offset, length, digest in rows:
        where = f"{path} row {row_number} ({reason})"
        if record is None:  # a line (or the file) that is not a readable record: offset, length and hash only
            assert offset is not None, where
        else:
            assert field != "", f"{where}: an unparsed line must be kept as offset, length and hash only, not as text"
            assert isinstance(json.loads(record), dict), where
            assert SENTINEL not in record, f"{where}: prompt text in the rejected record"
            assert not any(uid in record for uid in RAW_USER_IDS), f"{where}: raw user id in the rejected record"
        if length is None:
            assert field == "" and digest is None, where  # a file-level problem (say a cut gzip stream)
        else:
            assert digest == hashlib.sha256(text[offset : offset + length]).hexdigest(), f"{where}: hash does not match the bytes"

    # the good rows reached core.request_costs (which also means the run succeeded), but for the records another
    # file's record of the same request outranks (audit.duplicate_requests)
    assert run.error is None, f"the {case.get('run', 'main')} run failed: {run.error}"
    outranked = query(
        "select request_id, reason, kept_source_file from audit.duplicate_requests where source_file = ? order by all", [path]
    )
    assert outranked == sorted(tuple(r) for r in case.get("duplicate_requests", []))
    core = query("select request_id from core.request_costs where source_file = ? order by request_id", [path])
    assert len(core) == case["rows_loaded"] - len(outranked)
    if "loaded_ids" in case:
        assert sorted(r[0] for r in core) == sorted(case["loaded_ids"])
    for request_id, columns in (case.get("expect_rows") or {}).items():
        names = list(columns)
        got = query(
            f"select {', '.join(DERIVED.get(n, n) for n in names)} from core.request_costs where source_file = ? and request_id = ?",
            [path, request_id],
        )
        assert got == [tuple(columns[n] for n in names)], f"{path} {request_id}"
    for request_id in case.get("absent_ids", []):
        assert query("select count(*) from core.request_costs where request_id = ?", [request_id]) == [(0,)]
