"""A text field holds exactly the JSON string it was given, whatever its first character; only a real JSON
object or array is taken for one, and is rejected (or left out) with the same reasons as before."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import envelope

from pipelines.adapters.envelope import file_query, parse_envelope
from pipelines.adapters.helicone import parse_helicone
from pipelines.adapters.litellm import parse_litellm
from pipelines.adapters.otel import parse_otel
from pipelines.adapters.portkey import parse_portkey
from pipelines.ingest import gateway as ingest
from pipelines.ingest.gateway import ingest_gateway
from pipelines.storage.lake import read_manifest
from pipelines.storage.relations import sql_literal

TESTS = Path(__file__).resolve().parent
GUID = "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"  # .NET's default Guid format
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}

# Values that start like JSON but are strings, one per text field (a JSON-looking string among them); service_tier's
# "[flex]" is read as that string too, and rejected as an unknown tier (tests/test_service_tier_rejected.py).
ENVELOPE_TEXT = {
    "request_id": GUID,
    "model": "[preview] gpt-4o",
    "feature": "[beta] search",
    "user_id": "{user-7}",
    "user_segment": "[enterprise]",
    "customer_id": "{acme}",
    "conversation_id": "[c-77",
    "status": "{ok}",
}
JSON_TEXT = {"feature": '{"team": "search"}', "customer_id": "[1, 2]", "status": "{}"}
"""Strings that hold JSON text: the JSON type of the value, not its look, says they are strings."""


def _line(**fields) -> str:
    request_id, provider, model = (fields.pop(k, d) for k, d in (("request_id", GUID), ("provider", "openai"), ("model", "gpt-4o")))
    return envelope(request_id, provider, model, USAGE, **fields)


def _rows(table) -> list[dict]:
    return table.to_pylist()


# ---------------------------------------------------------------- envelope: line path, whole-file path, Parquet


@pytest.mark.parametrize("given", [ENVELOPE_TEXT, JSON_TEXT])
def test_envelope_line_path_keeps_every_text_field_as_given(given):
    result = parse_envelope((_line(**given) + "\n").encode(), "f.jsonl")
    assert result.rejected.num_rows == 0
    (row,) = _rows(result.rows)
    assert {name: row[name] for name in given} == given


@pytest.mark.parametrize("value", ["{x}", "[x] y", "{}", "[]", '{"a": 1}', "  [padded"])
@pytest.mark.parametrize("field", ["request_id", "timestamp", "provider", "model"])
def test_envelope_required_field_given_as_a_string_that_looks_like_json_is_a_string(field, value):
    line = _line(**{field: value})
    result = parse_envelope((line + "\n").encode(), "f.jsonl")
    reasons = [(r["field"], r["reason"]) for r in _rows(result.rejected)]
    # the string is judged as that field's text: never "not a string"
    assert not [reason for _, reason in reasons if reason.startswith("not a string")]
    if field == "request_id":
        assert result.rows["request_id"].to_pylist() == [value]
    elif field == "model":
        assert result.rows["model"].to_pylist() == [value]
    elif field == "provider":
        assert reasons == [("provider", f"unknown provider '{value.lower()}' (expected one of openai, azure_openai, "
                                        "anthropic, google, aws_bedrock, mistral, deepseek, xai, self_hosted:<cluster>)")]
    else:
        assert reasons[0][0] == "timestamp" and "invalid timestamp" in reasons[0][1]


@pytest.mark.parametrize("value, kind", [({"a": 1}, "object"), ([1, 2], "array"), ({}, "object"), ([], "array")])
@pytest.mark.parametrize("field", ["request_id", "timestamp", "provider", "model"])
def test_envelope_required_field_given_as_an_object_or_array_keeps_its_reason(field, value, kind):
    result = parse_envelope((_line(**{field: value}) + "\n").encode(), "f.jsonl")
    assert [(r["field"], r["reason"]) for r in _rows(result.rejected)] == [(field, f"not a string (found {kind})")]


def test_envelope_optional_field_given_as_an_object_or_array_is_left_out():
    line = _line(feature={"a": 1}, user_id=["u"], user_segment={}, customer_id=[], conversation_id={"c": 1}, status=[1])
    (row,) = _rows(parse_envelope((line + "\n").encode(), "f.jsonl").rows)
    assert row["feature"] == "unattributed"
    assert [row[f] for f in ("user_id", "user_segment", "customer_id", "conversation_id", "status")] == [None] * 5


def _run_file_query(path: Path) -> list[dict]:
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        return con.sql(file_query(path.as_posix(), path.name)).to_arrow_table().to_pylist()


def test_envelope_whole_file_query_keeps_strings_that_start_like_json(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text(_line(**ENVELOPE_TEXT) + "\n", encoding="utf-8")
    (row,) = _run_file_query(path)
    assert row["problem"] is None
    assert {name: row[name] for name in ENVELOPE_TEXT} == ENVELOPE_TEXT


@pytest.mark.parametrize("value", [*JSON_TEXT.values(), {"a": 1}, [1]])
def test_envelope_whole_file_query_sends_json_in_a_text_field_to_the_line_path(tmp_path, value):
    # read as text, a JSON object and a string holding JSON text look alike: the line path decides by JSON type
    path = tmp_path / "f.jsonl"
    path.write_text(_line(feature=value) + "\n", encoding="utf-8")
    (row,) = _run_file_query(path)
    assert row["problem"] is not None


def test_envelope_parquet_rows_keep_strings_that_start_like_json(tmp_path):
    record = json.loads(_line(**ENVELOPE_TEXT))
    record["usage"] = json.dumps(record["usage"])
    table = pa.Table.from_pylist([record])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    result = parse_envelope(buffer.getvalue(), "f.parquet")
    assert result.rejected.num_rows == 0
    (row,) = _rows(result.rows)
    assert {name: row[name] for name in ENVELOPE_TEXT} == ENVELOPE_TEXT
    path = tmp_path / "f.parquet"
    path.write_bytes(buffer.getvalue())
    (whole,) = _run_file_query(path)
    assert whole["problem"] is None and {name: whole[name] for name in ENVELOPE_TEXT} == ENVELOPE_TEXT


def _no_line_path(monkeypatch) -> None:
    def refuse(data, name, attribution):
        raise AssertionError(f"{name} went through the line-by-line path")

    monkeypatch.setitem(ingest.ADAPTERS, "envelope", ingest.Adapter(refuse, (".jsonl", ".jsonl.gz", ".parquet"), refuse))


def _lake_rows(home) -> list[dict]:
    with duckdb.connect() as con:
        return con.sql(
            f"select * from read_parquet({sql_literal(home.lake.as_posix() + '/gateway_requests/**/*.parquet')}) order by source_row"
        ).to_arrow_table().to_pylist()


def test_ingestion_reads_a_clean_file_whole_and_keeps_the_strings(home, monkeypatch):
    path = home.gateway_landing("envelope") / "2026-11-27" / "brace.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(_line(**ENVELOPE_TEXT) + "\n" + _line(request_id="plain-2") + "\n", encoding="utf-8")
    _no_line_path(monkeypatch)
    ingest_gateway(home)
    rows = _lake_rows(home)
    assert [r["request_id"] for r in rows] == [GUID, "plain-2"]
    assert (rows[0]["feature"], rows[0]["model"], rows[0]["customer_id"]) == ("[beta] search", "[preview] gpt-4o", "{acme}")


def test_ingestion_of_a_string_holding_json_text_gives_the_line_path_rows(home):
    path = home.gateway_landing("envelope") / "2026-11-27" / "json-text.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(_line(request_id="jt-1", **JSON_TEXT) + "\n", encoding="utf-8")
    ingest_gateway(home)
    (row,) = _lake_rows(home)
    assert {name: row[name] for name in JSON_TEXT} == JSON_TEXT
    assert [m["rows_loaded"] for m in read_manifest(home).values()] == [1]


# ---------------------------------------------------------------- the JSON Lines formats and OTel


def _sample(fmt: str, name: str) -> dict:
    return json.loads((TESTS / "fixtures" / fmt / name).read_text())


def test_helicone_columns_keep_strings_that_start_like_json():
    record = _sample("helicone", "helicone_request_response_rmt_row.json")
    record.update(request_id=GUID, model="[ft] gpt-4o", user_id="{u-1}", organization_id="[org]",
                  properties={"feature": "[beta] search", "customer_id": "{acme}", "Helicone-Session-Id": "[s]"})
    result = parse_helicone((json.dumps(record) + "\n").encode(), "rmt.jsonl")
    assert result.rejected.num_rows == 0
    (row,) = _rows(result.rows)
    assert (row["request_id"], row["model"], row["user_id"]) == (GUID, "[ft] gpt-4o", "{u-1}")
    assert (row["feature"], row["customer_id"], row["conversation_id"]) == ("[beta] search", "{acme}", "[s]")


def test_helicone_required_column_given_as_an_object_is_still_missing():
    record = _sample("helicone", "helicone_request_response_rmt_row.json")
    record.update(request_id={"a": 1})
    result = parse_helicone((json.dumps(record) + "\n").encode(), "rmt.jsonl")
    assert [(r["field"], r["reason"]) for r in _rows(result.rejected)] == [("request_id", "missing required field")]


def test_portkey_fields_keep_strings_that_start_like_json():
    record = _sample("portkey", "portkey_log_export_row.json")
    record.update(id=GUID, ai_model="[ft] gpt-4o", trace_id="{trace}",
                  metadata={"feature": "[beta] search", "_user": "{u-1}", "user_segment": "[pro]"})
    result = parse_portkey((json.dumps(record) + "\n").encode(), "logs.jsonl")
    assert result.rejected.num_rows == 0
    (row,) = _rows(result.rows)
    assert (row["request_id"], row["model"], row["feature"]) == (GUID, "[ft] gpt-4o", "[beta] search")
    assert (row["user_id"], row["user_segment"], row["conversation_id"]) == ("{u-1}", "[pro]", "{trace}")


def _litellm_record() -> dict:
    record = _sample("litellm", "litellm_spendlogs_row.json")
    record.update(request_id=GUID, model="[ft] gpt-4o", end_user="{u-1}", team_id="[team]", session_id="{s}",
                  request_tags=["feature:[beta] search"])
    return record


def _litellm_check(result) -> None:
    assert result.rejected.num_rows == 0
    (row,) = _rows(result.rows)
    assert (row["request_id"], row["model"], row["feature"]) == (GUID, "[ft] gpt-4o", "[beta] search")
    assert (row["user_id"], row["customer_id"], row["conversation_id"]) == ("{u-1}", "[team]", "{s}")


def test_litellm_json_lines_columns_keep_strings_that_start_like_json():
    _litellm_check(parse_litellm((json.dumps(_litellm_record()) + "\n").encode(), "spend.jsonl"))


def test_litellm_csv_cells_keep_strings_that_start_like_json():
    record = _litellm_record()
    columns = [r["column"] for r in csv.DictReader((TESTS / "fixtures" / "litellm" / "litellm_spendlogs_columns.csv").open())]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow([json.dumps(record.get(c)) if isinstance(record.get(c), (dict, list)) else
                     ("" if record.get(c) is None else record.get(c)) for c in columns])
    _litellm_check(parse_litellm(buffer.getvalue().encode(), "spend.csv"))


def test_otel_attributes_keep_strings_that_start_like_json():
    attributes = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.response.model": "[ft] gpt-4o",
        "gen_ai.response.id": GUID, "gen_ai.usage.input_tokens": "10", "gen_ai.usage.output_tokens": "2",
        "app.feature": "[beta] search", "enduser.id": "{u-1}", "gen_ai.conversation.id": "[c]",
    }
    span = {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
        "startTimeUnixNano": "1730419200000000000", "endTimeUnixNano": "1730419200812000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
    }
    line = json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [span]}]}]})
    result = parse_otel((line + "\n").encode(), "traces.jsonl")
    assert result.rejected.num_rows == 0
    (row,) = _rows(result.rows)
    assert (row["request_id"], row["model"], row["feature"]) == (GUID, "[ft] gpt-4o", "[beta] search")
    assert (row["user_id"], row["conversation_id"]) == ("{u-1}", "[c]")


@pytest.mark.parametrize(("parse", "sample", "id_field", "latency_field"), [
    (parse_helicone, "helicone/helicone_request_response_rmt_row.json", "request_id", "latency"),
    (parse_litellm, "litellm/litellm_spendlogs_row.json", "request_id", "request_duration_ms"),
    (parse_portkey, "portkey/portkey_log_export_row.json", "id", "response_time"),
])
def test_a_latency_that_cannot_be_one_is_unknown_and_the_request_stays(parse, sample, id_field, latency_field):
    """Negative (skewed clocks), 1e309 or text: the request is priced with its latency unknown, never rejected."""
    base = json.loads((TESTS / "fixtures" / sample).read_text())
    lines = [json.dumps({**base, id_field: f"lat-{i}", latency_field: value}) for i, value in enumerate([812, -5, "abc", "640", 0])]
    lines[-1] = lines[-1].replace(f'"{latency_field}": 0', f'"{latency_field}": 1e309')
    result = parse(("\n".join(lines) + "\n").encode(), "export.jsonl")
    assert result.rejected.num_rows == 0
    assert [r["latency_ms"] for r in result.rows.to_pylist()] == [812, None, None, 640, None]
