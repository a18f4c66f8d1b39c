"""Ingest landed gateway files into the lake: one Parquet file per (landed file, event date), with a manifest.

A file is read once per content hash; a file whose content changed replaces the rows it wrote before.
Rows are keyed by (source, request_id, event_date). A request a file holds more than once is written once (its final
record) and the rest counted as duplicates; a request that other files hold too is written by each, and which
record counts is decided in the warehouse (staging/_duplicate_records.sql), so that the result does not depend
on the order files land in and a corrected file re-resolves its requests. Every file gets one row in the
manifest (`lake/_audit/ingested_files`) and its bad rows go to `lake/_audit/rejected_rows`, so rows_read = rows_loaded + rows_rejected + rows_duplicate + rows_skipped.

A clean envelope file (every line a valid request, no blank lines) is read whole by DuckDB's own
parallel JSON or Parquet reader into a scratch DuckDB that spills to <home>/.tmp. Any other file, or
another format, goes line by line through its adapter in chunks of whole lines, so every bad row is
named with its line, byte offset and field; the accepted rows are the same either way. Duplicates are
then dropped and the Parquet written set-based from the scratch DuckDB. Landing and lake are local
folders or S3-compatible URLs ($TOKENLEDGER_LANDING_URL, $TOKENLEDGER_LAKE_URL; see `storage.store.Store`).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.adapters import AdapterResult, UnreadableFile, merge_skipped
from pipelines.adapters.attribution import AttributionConfig
from pipelines.adapters.envelope import SOURCE as SOURCE_ENVELOPE
from pipelines.adapters.envelope import file_query as envelope_file_query
from pipelines.adapters.envelope import iter_envelope, parse_envelope
from pipelines.adapters.helicone import parse_helicone
from pipelines.adapters.jsonl import DOCUMENT_SUFFIXES, document_as_lines
from pipelines.adapters.lines import count_lines
from pipelines.adapters.litellm import parse_litellm
from pipelines.adapters.otel import parse_otel
from pipelines.adapters.portkey import parse_portkey
from pipelines.ingest.landed import IngestReport, LandedSource, failed, ingest_landed, withdrawn
from pipelines.ingest.privacy import load_key, pseudonymize
from pipelines.settings import ingest_workers
from pipelines.storage.database import in_memory, sql_text
from pipelines.storage.environment import memory_limit_share
from pipelines.storage.home import Home
from pipelines.storage.lake import (
    AUDIT_REJECTED_SCHEMA,
    GATEWAY,
    LAKE_SCHEMA,
    REQUESTS_TABLE,
    LandedFile,
    discover_landed,
    file_problem,
    manifest_entry,
    mark_pending,
    request_file,
    skipped_counts,
    write_audit,
)
from pipelines.storage.relations import sql_literal


@dataclass(frozen=True)
class Adapter:
    """A gateway format: how to parse a landed file (whole, or chunk by chunk), and which file names it accepts."""

    parse: Callable[[bytes, str, AttributionConfig], AdapterResult]
    suffixes: tuple[str, ...]
    chunks: Callable[[bytes, str, AttributionConfig], Iterator[AdapterResult]] | None = None
    documents: bool = False
    """Whether a `.json` file is one JSON document (a record or an array of records) read as JSON Lines."""

    def results(self, data: bytes, name: str, attribution: AttributionConfig) -> Iterator[AdapterResult]:
        """The file's rows and rejections in chunks (one chunk for adapters that read whole files)."""
        if self.documents and name.lower().endswith(DOCUMENT_SUFFIXES):
            # row n is the document's record n; byte offsets would be those of the lines made of it, so none are kept
            lines, stem = document_as_lines(data, name), name[: name.lower().rindex(".json")]
            read = self.chunks or (lambda *args: [self.parse(*args)])
            parts = read(lines, stem + ".jsonl", attribution)  # the lines as text: not gzip whatever the file was
            yield from (part.without_offsets() for part in parts)
            return
        if self.chunks is not None:
            yield from self.chunks(data, name, attribution)
        else:
            yield self.parse(data, name, attribution)


ADAPTERS: dict[str, Adapter] = {
    "envelope": Adapter(
        lambda data, name, _: parse_envelope(data, name),
        (".jsonl", ".jsonl.gz", ".parquet", *DOCUMENT_SUFFIXES),
        lambda data, name, _: iter_envelope(data, name),
        documents=True,
    ),
    "otel": Adapter(parse_otel, (".jsonl", ".jsonl.gz", ".json", ".json.gz")),
    "litellm": Adapter(parse_litellm, (".jsonl", ".jsonl.gz", ".csv", ".csv.gz", *DOCUMENT_SUFFIXES), documents=True),
    "helicone": Adapter(parse_helicone, (".jsonl", ".jsonl.gz", *DOCUMENT_SUFFIXES), documents=True),
    "portkey": Adapter(parse_portkey, (".jsonl", ".jsonl.gz", *DOCUMENT_SUFFIXES), documents=True),
}

SUFFIXES = {fmt: adapter.suffixes for fmt, adapter in ADAPTERS.items()}


def ingest_gateway(home: Home, progress: Callable[[str], None] = lambda _: None) -> IngestReport:
    """Ingest every new or changed gateway file in landing; return what was done and which dates it touched.

    Touched dates are also recorded as pending in the lake before the file's manifest row is written,
    so a run killed after ingestion still materializes them next time.
    """
    key = load_key(home.secrets)
    attribution = AttributionConfig.load(home.root)
    workers = ingest_workers()
    source = LandedSource(
        name=GATEWAY,
        folder=GATEWAY,
        problem=lambda landed: file_problem(home, landed, SUFFIXES),
        load=lambda landed, data, sha, previous: _load(home, landed, data, sha, previous, key, attribution, workers, progress),
        workers=workers,
        table=REQUESTS_TABLE,
        says_withdrawn=True,
    )
    return ingest_landed(home, source, list(discover_landed(home, GATEWAY)), progress)


def _load(
    home: Home, landed: LandedFile, data: bytes, sha: str, previous: dict | None, key: bytes, attribution: AttributionConfig,
    workers: int, progress: Callable[[str], None],
) -> dict:
    """Stage the file's rows, drop duplicates, write them per event date; the file's manifest row. A file read line
    by line for more than IN_FILE_PROGRESS_SECONDS says how far it got (a 20 GiB file was minutes of silence)."""
    stale = (previous or {}).get("event_dates") or []
    rows_read, skipped, said = 0, [], time.monotonic()
    rejected = _Rejected(home, landed, key)
    try:
        try:
            with _Staging(home, landed.file_id, memory_limit_share(workers)) as staging:
                whole = _whole_file(staging, landed, data, key)
                if whole is not None:
                    rows_read = whole
                else:
                    for part in ADAPTERS[landed.format].results(data, landed.name, attribution):
                        staging.add(_with_lake_columns(part.rows, landed.relative, key))
                        rejected.add(part.rejected)
                        rows_read += part.rows_read
                        skipped.append(part.skipped)
                        if time.monotonic() - said >= IN_FILE_PROGRESS_SECONDS:
                            said = time.monotonic()
                            progress(f"{landed.relative}: {rows_read:,} lines read so far, {rejected.rows:,} of them rejected")
                del data
                loaded, duplicates, conflicts, dates = staging.publish(stale)
        except UnreadableFile as exc:
            return failed(home, landed, str(exc), sha256=sha)
        mark_pending(home, set(dates) | set(stale))
        entry = manifest_entry(
            landed,
            sha256=sha,
            status="loaded",
            error="; ".join(part for part in (
                f"{rejected.rows} rows rejected" if rejected.rows else "",
                withdrawn({"status": "loaded", "rows_loaded": loaded}, previous) or "",
            ) if part) or None,
            rows_read=rows_read,
            rows_loaded=loaded,
            rows_rejected=rejected.rows,
            rows_duplicate=duplicates,
            duplicate_conflicts=conflicts,
            event_dates=dates,
            **skipped_counts(merge_skipped(skipped)),
        )
        write_audit(home, landed, entry, rejected.finished())
        return entry
    finally:
        rejected.discard()


IN_FILE_PROGRESS_SECONDS = 20.0


class _Rejected:
    """A landed file's rejected rows, ready for the audit (file named, user ids pseudonymized), written part by part
    to a scratch Parquet file: a file of millions of bad lines held them all in memory (0.3 KB a row) until its end."""

    def __init__(self, home: Home, landed: LandedFile, key: bytes) -> None:
        self.landed, self.key, self.rows = landed, key, 0
        self.path = home.scratch / f"rejected-{landed.file_id}-{uuid.uuid4().hex[:8]}.parquet"
        self.writer: pq.ParquetWriter | None = None

    def add(self, rejected: pa.Table) -> None:
        if not rejected.num_rows:
            return
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.path, AUDIT_REJECTED_SCHEMA, compression="zstd")
        self.writer.write_table(_rejected_for_audit(rejected, self.landed, self.key))
        self.rows += rejected.num_rows

    def finished(self) -> Path | None:
        """The Parquet file of every row added (None when none was)."""
        if self.writer is None:
            return None
        self.writer.close()
        self.writer = None
        return self.path

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.path.unlink(missing_ok=True)


def _whole_file(staging: "_Staging", landed: LandedFile, data: bytes, key: bytes) -> int | None:
    """Stage a clean envelope file read whole by DuckDB; the rows read, or None to judge it line by line.

    None (nothing staged) when the format has no whole-file reader, the file's layout needs the line path,
    DuckDB cannot read it, any row has a problem, or the rows read are not the file's lines (blank lines);
    the line path then finds and names every problem.
    """
    if landed.format != "envelope":
        return None
    if landed.path is not None and landed.store is None:
        local = landed.path.resolve()
    else:
        local = staging.scratch / (landed.file_id + "".join(Path(landed.name.lower()).suffixes[-2:]))
        local.write_bytes(data)
    if any(char in local.as_posix() for char in "*?[]{}"):
        return None  # DuckDB's readers would take the path for a glob pattern
    query = envelope_file_query(local.as_posix(), landed.name)
    if query is None:
        return None
    lines, samples = None, {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        if not landed.name.lower().endswith(".parquet"):
            lines = pool.submit(count_lines, data, landed.name, None, samples)
        try:
            rows = staging.add_judged(query, landed.relative, key, lambda con: lines is None or _in_file_order(con, lines, samples))
        except duckdb.Error:
            rows = None
        if rows is not None and lines is not None and lines.result() != rows:
            staging.clear()
            rows = None
    if landed.path is not None and landed.store is None:
        landed.check_unchanged()  # DuckDB read the path again: the rows must be those of the bytes hashed
    return rows


def _in_file_order(con: duckdb.DuckDBPyConnection, lines: Future, samples: dict[int, bytes]) -> bool:
    """Whether the rows of `judged` (a JSON Lines file read whole, numbered by the order they were stored) hold the
    request ids of the lines sampled where they were read (`count_lines`): a plan that did not keep the file's order
    would pair requests with the wrong line numbers, and then the file is judged line by line instead."""
    lines.result()
    expected = {}
    for number, line in samples.items():
        try:
            request_id = json.loads(line).get("request_id")
        except (ValueError, AttributeError, RecursionError):  # nested deeper than Python parses: DuckDB read it
            continue
        if isinstance(request_id, str):
            expected[number] = request_id
    if not expected:
        return True
    con.register("_sampled", pa.table({"row": list(expected), "request_id": list(expected.values())}))
    try:
        wrong = con.execute(
            "select count(*) from _sampled left join judged on judged.rowid = _sampled.row "
            "where judged.request_id is distinct from _sampled.request_id"
        ).fetchall()[0][0]
    finally:
        con.unregister("_sampled")
    return wrong == 0


def _with_lake_columns(rows: pa.Table, relative: str, key: bytes) -> pa.Table:
    """Pseudonymize user ids and add source_file and event_date (the UTC date of occurred_at)."""
    rows = rows.set_column(rows.schema.get_field_index("user_id"), "user_id", pseudonymize(rows["user_id"], key))
    rows = rows.append_column("source_file", pa.repeat(pa.scalar(relative, pa.string()), rows.num_rows))
    event_date = pc.cast(rows["occurred_at"], pa.date32()) if rows.num_rows else pa.array([], pa.date32())
    return rows.append_column("event_date", event_date).cast(LAKE_SCHEMA)


_COLUMNS = ", ".join(f'"{name}"' for name in LAKE_SCHEMA.names)


class _Staging:
    """One landed file's rows on their way to the lake, held in a scratch DuckDB that spills to <home>/.tmp.

    `add` appends a chunk of canonical rows; `publish` drops duplicates set-based and writes one Parquet
    file per event date into the lake (through a local scratch file and a rename or an upload).
    """

    def __init__(self, home: Home, file_id: str, memory: str) -> None:
        self.home, self.file_id, self.memory = home, file_id, memory
        self.scratch = home.scratch / f"ingest-{file_id}-{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> "_Staging":
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.con = in_memory()
        self.con.execute("set TimeZone = 'UTC'")
        self.con.execute(f"set memory_limit = {sql_literal(self.memory)}")
        self.con.execute(f"set temp_directory = {sql_literal(self.scratch.as_posix())}")
        self.con.execute("set preserve_insertion_order = false")
        self.con.register("_empty", LAKE_SCHEMA.empty_table())
        self.con.execute("create table incoming as select * from _empty")
        self.con.unregister("_empty")
        return self

    def __exit__(self, *exc_info) -> None:
        self.con.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def add_judged(self, query: str, relative: str, key: bytes, in_order: Callable[[duckdb.DuckDBPyConnection], bool]) -> int | None:
        """Stage the rows of a judging query (an adapter's output: line_no, problem, canonical fields) when
        none has a problem and `in_order` finds them in file order; the rows staged, or None (nothing staged)."""
        con = self.con
        con.execute("set preserve_insertion_order = true")  # rows stored in file order: a null line_no is rowid + 1
        try:
            con.execute(f"create temp table judged as {query}")
        finally:
            con.execute("set preserve_insertion_order = false")
        rows, problems = con.execute("select count(*), count(problem) from judged").fetchall()[0]
        if problems or not in_order(con):
            con.execute("drop table judged")
            return None
        users = con.sql("select distinct user_id from judged where user_id is not null").to_arrow_table()["user_id"]
        con.register("_pseudonyms", pa.table({"user_id": users, "pseudonym": pseudonymize(users, key)}))
        lake_columns = {
            "source": f"'{SOURCE_ENVELOPE}'",
            "source_row": "coalesce(judged.line_no, judged.rowid + 1)",
            "user_id": "_pseudonyms.pseudonym",
            "source_file": "$relative",
            "event_date": "cast(occurred_at as date)",
        }
        select = ", ".join(f'{lake_columns.get(name, f"judged.{name}")} as "{name}"' for name in LAKE_SCHEMA.names)
        con.execute(
            f"insert into incoming select {select} from judged left join _pseudonyms using (user_id)", {"relative": relative}
        )
        con.unregister("_pseudonyms")
        con.execute("drop table judged")
        return rows

    def clear(self) -> None:
        """Drop every staged row."""
        self.con.execute("delete from incoming")

    def add(self, rows: pa.Table) -> None:
        if rows.num_rows:
            self.con.register("_chunk", rows)
            self.con.execute(f"insert into incoming select {_COLUMNS} from _chunk")
            self.con.unregister("_chunk")

    def publish(self, stale: list[dt.date]) -> tuple[int, int, int, list[dt.date]]:
        """Write the file's requests (one record each) per event date; remove this file's Parquet from dates it no
        longer covers.

        Returns (rows loaded, rows dropped as duplicates inside the file, conflicting request ids, event dates written).
        """
        con = self.con
        incoming = con.execute("select count(*) from incoming").fetchall()[0][0]
        dates = [row[0] for row in con.execute("select distinct event_date from incoming order by 1").fetchall()]
        conflicts = _deduplicate(con)
        kind = "view" if len(dates) == 1 else "table"
        con.execute(f"create {kind} kept as select {_COLUMNS} from deduped")
        lake = self.home.lake_store
        written, loaded = [], 0
        for day in dates:
            relative = request_file(day, self.file_id)
            local = self.scratch / f"{day.isoformat()}.parquet"
            count = con.execute(
                f"copy (select * from kept where event_date = $day order by source_row) to {sql_literal(local.as_posix())} "
                "(format parquet, compression zstd)",
                {"day": day},
            ).fetchall()[0][0]
            if count:
                lake.put_file(local, relative)
                written.append(day)
                loaded += count
            else:
                local.unlink(missing_ok=True)
                lake.delete(relative)
        for day in set(stale) - set(written):
            lake.delete(request_file(day, self.file_id))
        return loaded, incoming - loaded, conflicts, written


def _deduplicate(con: duckdb.DuckDBPyConnection) -> int:
    """Table `deduped`: one row per (source, request_id, event_date) of `incoming`; returns the conflicting request ids.

    The final record of each request is kept (the identity rule, as across files): several records whose usage
    only grows are one streaming request's cumulative usage; records whose usage disagrees otherwise are a
    conflict, counted. Records are resolved within their UTC event date, as across files: an id a gateway numbers
    per day is another request on another day.
    """
    con.execute("create table repeated as select source, request_id, event_date from incoming group by all having count(*) > 1")
    if not con.execute("select count(*) from repeated").fetchall()[0][0]:
        con.execute("create view deduped as select * from incoming")
        return 0
    con.execute(f"create table chosen as {sql_text('queries/ingest_chosen_records')}")
    conflicts = con.execute("select count(*) from chosen where conflict").fetchall()[0][0]
    con.execute(
        "create view deduped as select * from incoming anti join repeated using (source, request_id, event_date) "
        "union all by name select * exclude (conflict) from chosen"
    )
    return conflicts


def _rejected_for_audit(rejected: pa.Table, landed: LandedFile, key: bytes) -> pa.Table:
    """Rejected rows with the file named and user ids pseudonymized, in the column and inside each record."""
    pseudo = pseudonymize(rejected["user_id"], key) if rejected.num_rows else pa.array([], pa.string())
    records = rejected["record"]
    if rejected.num_rows and pc.any(pc.is_valid(pseudo)).as_py():
        with in_memory() as con:
            con.register("p", pa.table({"record": records, "pseudo": pseudo}))
            records = con.sql(
                "select case when record is null or pseudo is null then record "
                "else cast(json_merge_patch(record, json_object('user_id', pseudo)) as varchar) end as record from p"
            ).to_arrow_table()["record"]
    table = rejected.set_column(rejected.schema.get_field_index("record"), "record", records)
    table = table.set_column(table.schema.get_field_index("user_id"), "user_id", pseudo)
    n = table.num_rows
    table = table.add_column(0, "source_file", pa.array([landed.relative] * n, pa.string()))
    table = table.add_column(0, "file_id", pa.array([landed.file_id] * n, pa.string()))
    return table.cast(AUDIT_REJECTED_SCHEMA)
