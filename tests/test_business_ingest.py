"""Outcomes, revenue and GPU files: every format, exact rejections, duplicates, conservation, changed and late files."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import envelope, land

from pipelines.ingest.privacy import create_key
from pipelines.records.business import parse_gpu, parse_outcomes, parse_revenue
from pipelines.records.read import FileError
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

NOV_27 = dt.date(2026, 11, 27)

OUTCOME = {"outcome_id": "o1", "timestamp": "2026-11-27T11:00:00Z", "outcome_type": "ticket_resolved", "feature": "support_chat",
           "request_id": "r1", "conversation_id": "c1", "value_usd": "6.50"}
REVENUE = {"customer_id": "acme", "user_segment": "enterprise", "period_start": "2026-11-15", "period_end": "2026-12-15",
           "amount": "300.00", "currency": "usd", "plan": "enterprise"}
GPU = {"cluster": "GPU-A", "date": "2026-11-27", "gpu_type": "H100", "gpu_count": "2", "hours": "24", "hourly_rate": "2.50",
       "currency": "USD", "capacity_tokens_per_hour": "1000000"}


def _quiet(_: str) -> None:
    return None


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _as(fmt: str, records: list[dict]) -> tuple[bytes, str]:
    """The records as a file of one format (CSV and Parquet hold every value as text, as exports often do)."""
    if fmt == "jsonl":
        return ("\n".join(json.dumps(r) for r in records) + "\n").encode(), "f.jsonl"
    if fmt == "jsonl.gz":
        return gzip.compress(("\n".join(json.dumps(r) for r in records) + "\n").encode()), "f.jsonl.gz"
    if fmt == "json":
        return json.dumps(records).encode(), "f.json"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
        return out.getvalue().encode(), "f.csv"
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records), buffer)
    return buffer.getvalue(), "f.parquet"


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "json", "csv", "parquet"])
def test_every_format_gives_the_same_typed_rows(fmt):
    assert parse_outcomes(*_as(fmt, [OUTCOME])).rows.to_pylist() == [{
        "source_row": 1, "outcome_id": "o1", "occurred_at": dt.datetime(2026, 11, 27, 11, tzinfo=dt.timezone.utc), "event_date": NOV_27,
        "outcome_type": "ticket_resolved", "feature": "support_chat", "request_id": "r1", "conversation_id": "c1",
        "value_usd": Decimal("6.50"),
    }]
    assert parse_revenue(*_as(fmt, [REVENUE])).rows.to_pylist() == [{
        "source_row": 1, "customer_id": "acme", "user_segment": "enterprise", "plan": "enterprise",
        "period_start": dt.date(2026, 11, 15), "period_end": dt.date(2026, 12, 15), "amount": Decimal("300"), "currency": "USD",
    }]
    assert parse_gpu(*_as(fmt, [GPU])).rows.to_pylist() == [{
        "source_row": 1, "cluster": "gpu-a", "event_date": NOV_27, "gpu_type": "H100", "gpu_count": 2, "hours": Decimal("24"),
        "hourly_rate": Decimal("2.50"), "currency": "USD", "capacity_tokens_per_hour": 1_000_000, "avg_power_watts": None,
    }]


def test_typed_parquet_columns_are_read_too():
    table = pa.table({
        "outcome_id": ["o1"], "timestamp": pa.array([dt.datetime(2026, 11, 27, 11, tzinfo=dt.timezone.utc)], pa.timestamp("us", tz="UTC")),
        "outcome_type": ["ticket_resolved"], "feature": ["support_chat"], "conversation_id": ["c1"],
        "value_usd": pa.array([Decimal("6.50")], pa.decimal128(10, 2)),
    })
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    (row,) = parse_outcomes(buffer.getvalue(), "typed.parquet").rows.to_pylist()
    assert (row["occurred_at"], row["request_id"], row["value_usd"]) == (dt.datetime(2026, 11, 27, 11, tzinfo=dt.timezone.utc), None, Decimal("6.5"))


def _rejected(result) -> list[tuple]:
    return [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()]


def test_bad_outcomes_are_rejected_with_field_and_reason():
    bad = [
        {**OUTCOME, "outcome_id": None},
        {**OUTCOME, "timestamp": "2026-11-27T11:00:00"},
        {**OUTCOME, "timestamp": "yesterday"},
        {**OUTCOME, "timestamp": "2019-12-31T23:59:59Z"},
        {**OUTCOME, "outcome_type": " "},
        {k: v for k, v in OUTCOME.items() if k != "feature"},
        {**OUTCOME, "request_id": None, "conversation_id": ""},
        {**OUTCOME, "value_usd": "six"},
        {**OUTCOME, "value_usd": "-1"},
        {**OUTCOME, "feature": ["a", "b"]},
        {**OUTCOME, "conversation_id": "c" * 513},
    ]
    result = parse_outcomes(*_as("jsonl", [OUTCOME, *bad]))
    assert result.rows.num_rows == 1 and result.rows_read == 12
    assert _rejected(result) == [
        (2, "outcome_id", "missing required field"),
        (3, "timestamp", "timestamp has no UTC offset: '2026-11-27T11:00:00'"),
        (4, "timestamp", "invalid timestamp: 'yesterday'"),
        (5, "timestamp", "timestamp is before 2020-01-01: '2019-12-31T23:59:59Z'"),
        (6, "outcome_type", "missing required field"),
        (7, "feature", "missing required field"),
        (8, "request_id", "missing: an outcome needs request_id or conversation_id"),
        (9, "value_usd", "not a number: 'six'"),
        (10, "value_usd", "must not be negative: '-1'"),
        (11, "feature", "not a single value (found array)"),
        (12, "conversation_id", "value is longer than 512 characters"),
    ]


def test_bad_revenue_is_rejected_with_field_and_reason():
    bad = [
        {**REVENUE, "customer_id": ""},
        {**REVENUE, "user_segment": ""},
        {**REVENUE, "period_start": "2026-13-01"},
        {**REVENUE, "period_end": "15/12/2026"},
        {**REVENUE, "period_end": "2026-11-15"},
        {**REVENUE, "amount": "1,000"},
        {**REVENUE, "amount": "20000000000"},
        {**REVENUE, "currency": "EURO"},
        {**REVENUE, "currency": ""},
        {**REVENUE, "amount": "1_000"},  # DuckDB's cast reads 1000; neither a person nor a spreadsheet writes it so
    ]
    result = parse_revenue(*_as("csv", [REVENUE, *bad]))
    assert result.rows.num_rows == 1
    assert _rejected(result) == [
        (2, "customer_id", "missing required field"),
        (3, "user_segment", "missing required field"),
        (4, "period_start", "not a date (YYYY-MM-DD): '2026-13-01'"),
        (5, "period_end", "not a date (YYYY-MM-DD): '15/12/2026'"),
        (6, "period_end", "must be after period_start (the end is exclusive): '2026-11-15'"),
        (7, "amount", "not a number: '1,000'"),
        (8, "amount", "beyond ±10000000000 is not plausible for one record: '20000000000'"),
        (9, "currency", "not an ISO 4217 currency code: 'EURO'"),
        (10, "currency", "missing required field"),
        (11, "amount", "not a number: '1_000'"),
    ]


def test_bad_gpu_records_are_rejected_with_field_and_reason():
    tomorrow_plus_one = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=5)).isoformat()  # days ahead: not flaky at midnight
    bad = [
        {**GPU, "cluster": "gpu a"},
        {**GPU, "date": "2026-11-27T00:00:00Z"},
        {**GPU, "date": tomorrow_plus_one},
        {**GPU, "gpu_type": None},
        {**GPU, "gpu_count": "2.5"},
        {**GPU, "gpu_count": "0"},
        {**GPU, "hours": "25"},
        {**GPU, "hours": "-1"},
        {**GPU, "hourly_rate": "cheap"},
        {**GPU, "currency": "usdollar"},
        {**GPU, "capacity_tokens_per_hour": "1e3.5"},
        {**GPU, "capacity_tokens_per_hour": "-5"},
    ]
    result = parse_gpu(*_as("json", [GPU, *bad]))
    assert result.rows.num_rows == 1
    assert _rejected(result) == [
        (2, "cluster", "not a cluster name (letters, digits, _ . -, as in provider self_hosted:<cluster>): 'gpu a'"),
        (3, "date", "not a date (YYYY-MM-DD): '2026-11-27T00:00:00Z'"),
        (4, "date", f"date is more than a day in the future: '{tomorrow_plus_one}'"),
        (5, "gpu_type", "missing required field"),
        (6, "gpu_count", "not a whole number: '2.5'"),
        (7, "gpu_count", "must be positive: '0'"),
        (8, "hours", "above 24 is not plausible: '25'"),
        (9, "hours", "must not be negative: '-1'"),
        (10, "hourly_rate", "not a number: 'cheap'"),
        (11, "currency", "not an ISO 4217 currency code: 'usdollar'"),
        (12, "capacity_tokens_per_hour", "not a number: '1e3.5'"),
        (13, "capacity_tokens_per_hour", "must be positive: '-5'"),
    ]


def test_unreadable_rows_keep_the_readers_problem():
    result = parse_outcomes(b'{"outcome_id": "o1"\n[1, 2]\n{"outcome_id": "o\\ud800", "a|b": "\\udfff"}\n', "broken.jsonl")
    assert _rejected(result) == [
        (1, "", "invalid JSON"),
        (2, "", "record is not a JSON object (found array)"),
        (3, "outcome_id", "invalid JSON: a string holds a lone surrogate escape (\\ud800), not a Unicode character"),
    ]
    assert [r["record"] for r in result.rejected.to_pylist()] == [None, None, None]
    field_with_bar = parse_outcomes(b'{"outcome_id": "o1", "a|b": "\\udfff"}\n', "broken.jsonl")
    assert _rejected(field_with_bar) == [(1, "a\\x7cb", "invalid JSON: a string holds a lone surrogate escape (\\udfff), not a Unicode character")]


def test_a_key_given_twice_in_a_record_is_not_read_as_either_value():
    # JSON leaves a repeated key's meaning open; DuckDB's parser keeps the first value, Python's the last: neither is guessed
    twice = b'{"customer_id": "acme", "user_segment": "enterprise", "plan": "pro", "period_start": "2026-11-15", ' \
        b'"period_end": "2026-12-15", "amount": "4800.00", "amount": "48.00", "currency": "USD"}'
    once = json.dumps(REVENUE).encode()
    lines = parse_revenue(once + b"\n" + twice + b"\n", "revenue.jsonl")
    assert lines.rows.num_rows == 1
    assert _rejected(lines) == [(2, "amount", "key given twice in one object: which value is meant is ambiguous")]
    with pytest.raises(FileError, match="the key 'amount' is given twice in one object"):
        parse_revenue(b"[" + once + b", " + twice + b"]", "revenue.json")


def test_rejected_records_keep_only_the_sources_fields():
    result = parse_outcomes(*_as("jsonl", [{**OUTCOME, "timestamp": "2026-11-27T11:00:00", "user_id": "u_1842", "prompt": "SECRET"}]))
    (record,) = [r["record"] for r in result.rejected.to_pylist()]
    assert "u_1842" not in record and "SECRET" not in record and json.loads(record)["outcome_id"] == "o1"


# -- through the pipeline -------------------------------------------------------------------------


def _write(home: Home, relative: str, text: str) -> None:
    path = home.landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _csv(records: list[dict]) -> str:
    return _as("csv", records)[0].decode()


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """One run over files with bad rows and duplicates, within a file and across files."""
    home = Home.at(tmp_path_factory.mktemp("ingest") / "home").ensure()
    create_key(home.secrets)
    land(home, "day.jsonl", [envelope("r1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 100})])
    _write(home, "outcomes/a.jsonl", "\n".join(json.dumps(r) for r in [
        OUTCOME, {**OUTCOME, "outcome_id": "o2"}, OUTCOME, {**OUTCOME, "outcome_id": "o3", "timestamp": "2026-11-27 11:00"},
    ]) + "\n")
    _write(home, "outcomes/b.csv", _csv([{**OUTCOME, "outcome_id": "o2"}, {**OUTCOME, "outcome_id": "o4"}]))
    no_plan = {**REVENUE, "plan": ""}
    _write(home, "revenue/a.csv", _csv([REVENUE, no_plan, no_plan, {**REVENUE, "amount": "lots"}]))
    credit = {**REVENUE, "amount": "-100.00"}  # a credit note for the period and plan the first record pays: its own record
    _write(home, "revenue/b.json", json.dumps([no_plan, {**REVENUE, "period_start": "2026-12-15", "period_end": "2027-01-15"}, credit]))
    _write(home, "gpu/a.csv", _csv([GPU, {**GPU, "gpu_type": "A100"}, {**GPU, "hours": "30"}]))
    _write(home, "gpu/b.jsonl", json.dumps({**GPU, "cluster": "gpu-a"}) + "\n")
    _write(home, "gpu/notes.txt", "not a data file\n")
    summary = run_pipeline(home, progress=_quiet)
    return home, summary


def test_bad_rows_land_in_the_audit_with_file_row_field_and_reason(ingested):
    home, _ = ingested
    assert _query(home, "select source_file, row_number, field, reason from audit.rejected_rows order by 1, 2") == [
        ("gpu/a.csv", 3, "hours", "above 24 is not plausible: '30'"),
        ("outcomes/a.jsonl", 4, "timestamp", "timestamp has no UTC offset: '2026-11-27 11:00'"),
        ("revenue/a.csv", 4, "amount", "not a number: 'lots'"),
    ]
    assert _query(home, "select status, error from audit.ingested_files where path = 'gpu/notes.txt'") == [
        ("failed", "unsupported file type for gpu format 'gpu' (expected .jsonl, .jsonl.gz, .json, .json.gz, .csv, .csv.gz, .parquet)"),
    ]


def test_every_file_conserves_its_rows_and_duplicates_are_counted_once(ingested):
    home, _ = ingested
    files = _query(
        home,
        "select path, status, rows_read, rows_loaded, rows_rejected, rows_duplicate from audit.ingested_files "
        "where path not like 'gateway/%' order by path",
    )
    assert files == [
        ("gpu/a.csv", "loaded", 3, 2, 1, 0),
        ("gpu/b.jsonl", "loaded", 1, 0, 0, 1),  # the same cluster, day and GPU type as gpu/a.csv's first row
        ("gpu/notes.txt", "failed", 0, 0, 0, 0),
        ("outcomes/a.jsonl", "loaded", 4, 2, 1, 1),  # o1 twice in the file
        ("outcomes/b.csv", "loaded", 2, 1, 0, 1),  # o2 is already in outcomes/a.jsonl
        ("revenue/a.csv", "loaded", 4, 2, 1, 1),  # the plan-less period twice in the file
        ("revenue/b.json", "loaded", 3, 2, 0, 1),  # and once more in another file
    ]
    assert all(read == loaded + rejected + duplicate for _, _, read, loaded, rejected, duplicate in files)
    assert _query(home, "select outcome_id from core.outcomes order by 1") == [("o1",), ("o2",), ("o4",)]
    assert _query(home, "select plan, period_start, amount_usd from core.revenue order by 2, 1 nulls first, 3") == [
        (None, dt.date(2026, 11, 15), Decimal("300")),
        ("enterprise", dt.date(2026, 11, 15), Decimal("-100")),
        ("enterprise", dt.date(2026, 11, 15), Decimal("300")),
        ("enterprise", dt.date(2026, 12, 15), Decimal("300")),
    ]
    assert _query(home, "select cluster, gpu_type, cost_usd, price_id from reference.gpu_capacity order by 2") == [
        ("gpu-a", "A100", Decimal("120"), "gpu:gpu-a:2026-11-27"),
        ("gpu-a", "H100", Decimal("120"), "gpu:gpu-a:2026-11-27"),
    ]


def test_gpu_days_are_materialized_even_without_requests(ingested):
    home, summary = ingested
    assert summary.dates == [NOV_27]
    assert _query(home, "select provider, cost_usd from marts.daily_spend where feature = 'idle_capacity'") == [
        ("self_hosted:gpu-a", Decimal("240")),
    ]


def test_late_changed_and_removed_files_reprice_the_days_they_touch(home):
    self_hosted = [
        envelope("s1", "self_hosted:gpu-a", "llama-3.1-70b", {"input_tokens": 300, "output_tokens": 100}),
        envelope("s2", "self_hosted:gpu-b", "llama-3.1-8b", {"input_tokens": 10, "output_tokens": 10}),
    ]
    land(home, "day.jsonl", self_hosted)
    run_pipeline(home, progress=_quiet)
    assert _query(home, "select request_id, cost_usd, unpriced_reason from core.request_costs order by 1") == [
        ("s1", None, "no_price_at_time"), ("s2", None, "no_price_at_time"),
    ]

    # A late GPU file: its day is re-priced although no gateway file changed. gpu-b is billed in EUR, no rate yet.
    gpu_b = {**GPU, "cluster": "gpu-b", "currency": "EUR", "hourly_rate": "0.46", "capacity_tokens_per_hour": ""}
    _write(home, "gpu/capacity.csv", _csv([{**GPU, "capacity_tokens_per_hour": ""}, gpu_b]))
    _write(home, "outcomes/o.jsonl", json.dumps(OUTCOME) + "\n" + json.dumps({**OUTCOME, "outcome_id": "o2"}) + "\n")
    summary = run_pipeline(home, progress=_quiet)
    assert summary.dates == [NOV_27]
    # 2 GPUs x 24 h x $2.50 = $120, all of it to s1 (no capacity given).
    assert _query(home, "select request_id, cost_usd, price_id, unpriced_reason from core.request_costs order by 1") == [
        ("s1", Decimal("120"), "gpu:gpu-a:2026-11-27", None), ("s2", None, None, "no_price_at_time"),
    ]

    # The GPU file changes (a new rate, and a capacity): its rows are replaced and the day re-priced.
    _write(home, "gpu/capacity.csv", _csv([{**GPU, "hourly_rate": "3.00", "capacity_tokens_per_hour": "100"}, gpu_b]))
    _write(home, "outcomes/o.jsonl", json.dumps({**OUTCOME, "outcome_id": "o2"}) + "\n")
    summary = run_pipeline(home, progress=_quiet)
    assert summary.dates == [NOV_27]
    # $144 for 2 x 24 x 100 = 4800 tokens of capacity; 400 served: 144 x 400 / 4800 = $12 allocated, $132 idle.
    assert _query(home, "select request_id, cost_usd from core.request_costs where request_id = 's1'") == [("s1", Decimal("12"))]
    assert _query(home, "select provider, cost_usd from marts.daily_spend where feature = 'idle_capacity'") == [
        ("self_hosted:gpu-a", Decimal("132")),
    ]
    assert _query(home, "select count(*), sum(cost) from reference.gpu_capacity where cluster = 'gpu-a'") == [(1, Decimal("144"))]
    assert _query(home, "select outcome_id from core.outcomes") == [("o2",)]
    assert _query(home, "select path, rows_loaded from audit.ingested_files where path not like 'gateway/%' order by 1") == [
        ("gpu/capacity.csv", 2), ("outcomes/o.jsonl", 1),
    ]

    # A rate for the GPU's currency arrives: the day is re-priced without any GPU or gateway file changing.
    _write(home, "fx/rates.csv", "date,currency,rate\n2026-11-01,EUR,0.92\n")
    summary = run_pipeline(home, progress=_quiet)
    assert summary.dates == [NOV_27]
    # 2 x 24 h x 0.46 EUR = 22.08 EUR / 0.92 = $24.00, all of it to s2.
    assert _query(home, "select request_id, cost_usd, price_id from core.request_costs where request_id = 's2'") == [
        ("s2", Decimal("24"), "gpu:gpu-b:2026-11-27"),
    ]


def test_a_home_without_business_files_has_every_table_empty_but_shaped(home):
    land(home, "day.jsonl", [envelope("r1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 100})])
    summary = run_pipeline(home, progress=_quiet)
    assert summary.warnings == []
    contract = {
        "core.outcomes": {"outcome_id", "occurred_at", "event_date", "outcome_type", "feature", "request_id", "conversation_id", "value_usd"},
        "core.revenue": {"customer_id", "user_segment", "plan", "period_start", "period_end", "amount", "currency", "amount_usd"},
        "reference.gpu_capacity": {"cluster", "provider", "event_date", "gpu_type", "gpu_count", "hours", "hourly_rate", "currency", "cost_usd", "price_id"},
        "marts.cost_per_outcome": {"event_date", "feature", "outcome_type", "outcomes", "requests", "cost_usd", "cost_per_outcome_usd"},
        "marts.outcome_costs": {"outcome_id", "linked_by", "linked_requests", "direct_cost_usd"},
        "marts.revenue_ratio": {"month", "customer_id", "user_segment", "revenue_usd", "cost_usd", "cost_to_revenue_ratio", "gross_margin_usd"},
        "marts.revenue_ratio_by_segment": {"month", "user_segment", "revenue_usd", "cost_usd", "cost_to_revenue_ratio", "gross_margin_usd"},
        "marts.unit_economics": {"month", "user_segment", "active_users", "requests", "cost_usd", "cost_per_active_user_usd",
                                 "cost_per_1k_requests_usd", "cost_per_1m_tokens_usd"},
        "marts.unit_economics_by_feature": {"month", "user_segment", "feature", "active_users", "requests", "cost_usd"},
        "marts.self_hosted_costs": {"event_date", "cluster", "gpu_cost_usd", "utilization", "allocated_cost_usd", "idle_cost_usd",
                                    "effective_cost_per_1m_tokens_usd"},
        "marts.model_tier_spend": {"month", "feature", "model_tier", "requests", "cost_usd", "cost_per_request_usd"},
    }
    for table, columns in contract.items():
        schema, name = table.split(".")
        found = {r[0] for r in _query(home, f"select column_name from information_schema.columns where table_schema = '{schema}' and table_name = '{name}'")}
        assert columns <= found, f"{table} lacks {sorted(columns - found)}"
    counts = {table: _query(home, f"select count(*) from {table}")[0][0] for table in contract}
    assert counts == {**{t: 0 for t in contract}, "marts.revenue_ratio": 1, "marts.revenue_ratio_by_segment": 1, "marts.unit_economics": 1,
                      "marts.unit_economics_by_feature": 1, "marts.model_tier_spend": 1}
    # 1000 x 2.50 + 100 x 10 per 1M = $0.0035 for acme, which has no revenue record.
    assert _query(home, "select customer_id, revenue_usd, cost_usd, cost_to_revenue_ratio from marts.revenue_ratio") == [
        ("acme", Decimal("0"), Decimal("0.0035"), None),
    ]


def test_a_record_repeated_in_another_file_comes_back_when_the_first_file_drops_it(tmp_path):
    """The same revenue file landed twice (a copy), then the original corrected to drop one record: the copy still
    holds it, so it counts, as it does in a home that only ever saw the two files as they are now. It was lost: the
    copy's rows were thrown away as duplicates when it was read, and never read again."""
    other = {**REVENUE, "customer_id": "globex", "amount": "48000.00"}
    homes = []
    for name in ("incremental", "fresh"):
        home = Home.at(tmp_path / name).ensure()
        create_key(home.secrets)
        land(home, "day.jsonl", [envelope("r1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 100})])
        homes.append(home)
    incremental, fresh = homes
    _write(incremental, "revenue/subscriptions.csv", _csv([REVENUE, other]))
    run_pipeline(incremental, progress=_quiet)
    _write(incremental, "revenue/subscriptions copy.csv", _csv([REVENUE, other]))
    run_pipeline(incremental, progress=_quiet)
    assert _query(incremental, "select path, rows_loaded, rows_duplicate from audit.ingested_files where path like 'revenue/%' order by 1") == [
        ("revenue/subscriptions copy.csv", 0, 2), ("revenue/subscriptions.csv", 2, 0)]
    _write(incremental, "revenue/subscriptions.csv", _csv([REVENUE]))  # corrected: globex dropped from the original
    run_pipeline(incremental, progress=_quiet)
    _write(fresh, "revenue/subscriptions.csv", _csv([REVENUE]))
    _write(fresh, "revenue/subscriptions copy.csv", _csv([REVENUE, other]))
    run_pipeline(fresh, progress=_quiet)
    revenue = "select customer_id, amount_usd from core.revenue order by 1"
    assert _query(incremental, revenue) == _query(fresh, revenue) == [("acme", Decimal("300")), ("globex", Decimal("48000"))]


def test_json_lines_numbers_keep_every_digit_a_double_would_lose():
    """DuckDB's JSON functions read a number as a double: 1234567890.123456789 came out as 1234567890.1234567. A JSON
    Lines record keeps its digits, as a JSON array's and a CSV's do; a fraction beyond 9 places is rounded."""
    record = {**REVENUE, "amount": "AMOUNT"}
    lines = [json.dumps({**record, "customer_id": name}).replace('"AMOUNT"', amount)
             for name, amount in (("big", "1234567890.123456789"), ("long", "0.1234567885"), ("plain", "12.5"))]
    result = parse_revenue(("\n".join(lines) + "\n").encode(), "r.jsonl")
    assert result.rejected.num_rows == 0
    assert result.rows.column("amount").to_pylist() == [Decimal("1234567890.123456789"), Decimal("0.123456789"), Decimal("12.5")]
    outcome = json.dumps({**OUTCOME, "value_usd": "V"}).replace('"V"', "98765432.123456789")
    assert parse_outcomes((outcome + "\n").encode(), "o.jsonl").rows.column("value_usd").to_pylist() == [Decimal("98765432.123456789")]
