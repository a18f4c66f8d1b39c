"""A raw user id never rides along in `tags` (or anywhere but `user_id`, which ingestion pseudonymizes): one rule
(`attribution.without_user_keys`) drops every key any format's user_id keys name, in every adapter."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from helpers import envelope, litellm_csv, otel_line

from pipelines.adapters.attribution import AttributionConfig, user_keys
from pipelines.adapters.envelope import file_query, parse_envelope
from pipelines.adapters.helicone import parse_helicone
from pipelines.adapters.litellm import parse_litellm
from pipelines.adapters.otel import parse_otel
from pipelines.adapters.portkey import parse_portkey
from pipelines.ingest.gateway import ingest_gateway

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RAW = "u_raw_sentinel_5d21"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}


def _no_raw_id(result, *, user_id: str | None = RAW) -> None:
    """RAW is in no column of the rows but user_id (which must hold it: it was read), nor in any rejected column
    but user_id."""
    rows = result.rows.to_pylist()
    assert rows, "no row was accepted"
    for row in rows:
        assert row["user_id"] == user_id
        assert not {k: v for k, v in row.items() if k != "user_id" and RAW in str(v)}, row
    for row in result.rejected.to_pylist():
        assert not {k: v for k, v in row.items() if k != "user_id" and RAW in str(v)}, row


def _sample(fmt: str, name: str) -> dict:
    return json.loads((FIXTURES / fmt / name).read_text())


def _jsonl(*records: dict) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def test_user_keys_name_every_formats_user_keys_without_their_prefix():
    assert set(user_keys()) == {
        "user_id", "enduser.id", "user.id", "spend_logs_metadata.user_id", "user_api_key_end_user_id", "end_user", "_user",
    }
    config = AttributionConfig.from_mapping({"litellm": {"user_id": ["tag:Account", "metadata.owner.email"]},
                                             "portkey": {"user_id": ["metadata.uid"]}})
    assert {"account", "owner.email", "email", "uid", "_user", "user_id"} <= set(user_keys(config))


# ---------------------------------------------------------------- envelope


def _envelope_line(request_id: str, usage=None, **fields) -> str:
    tags = {"user_id": RAW, "User_ID": RAW, "end_user": RAW, "_user": RAW, "enduser.id": RAW, "env": "prod"}
    return envelope(request_id, "openai", "gpt-4o-2024-08-06", usage or USAGE, user_id=RAW, tags=tags, **fields)


def test_envelope_tags_lose_every_user_key_in_rows_and_rejected_records():
    bad = _envelope_line("neg", {"prompt_tokens": -1, "completion_tokens": 1})
    result = parse_envelope((_envelope_line("ok") + "\n" + bad + "\n").encode(), "f.jsonl")
    _no_raw_id(result)
    assert json.loads(result.rows["tags"][0].as_py()) == {"env": "prod"}
    (record,) = result.rejected["record"].to_pylist()
    assert json.loads(record)["tags"] == {"env": "prod"}


def test_envelope_tags_lose_a_key_another_formats_configuration_names(tmp_path):
    config = AttributionConfig.from_mapping({"portkey": {"user_id": ["metadata.account_owner"]}})
    line = envelope("a", "openai", "gpt-4o-2024-08-06", USAGE, user_id=RAW, tags={"account_owner": RAW, "env": "prod"})
    result = parse_envelope((line + "\n").encode(), "f.jsonl", config)
    _no_raw_id(result)
    path = tmp_path / "f.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with duckdb.connect() as con:
        (row,) = con.sql(file_query(path.as_posix(), path.name, config)).to_arrow_table().to_pylist()
    assert row["problem"] is None and json.loads(row["tags"]) == {"env": "prod"}


def test_envelope_whole_file_query_drops_user_keys_from_tags(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text(_envelope_line("ok") + "\n", encoding="utf-8")
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        (row,) = con.sql(file_query(path.as_posix(), path.name)).to_arrow_table().to_pylist()
    assert row["problem"] is None and row["user_id"] == RAW
    assert json.loads(row["tags"]) == {"env": "prod"}


# ---------------------------------------------------------------- LiteLLM


def _litellm(**changes) -> dict:
    record = _sample("litellm", "litellm_spendlogs_row.json")
    record["metadata"] = dict(record["metadata"], spend_logs_metadata={"user_id": RAW}, user_api_key_end_user_id=RAW)
    record.update(request_tags=[f"user_id:{RAW}", "env:prod", f"end_user:{RAW}"], end_user=RAW)
    record.update(changes)
    return record


@pytest.mark.parametrize("name", ["spend.jsonl", "spend.csv"])
def test_litellm_request_tags_lose_the_user_tag(name):
    records = (_litellm(), _litellm(request_id="bad", prompt_tokens=-5))
    result = parse_litellm(litellm_csv(*records) if name.endswith(".csv") else _jsonl(*records), name)
    _no_raw_id(result)
    assert json.loads(result.rows["tags"][0].as_py()) == {"env": "prod"}
    assert result.rejected.num_rows == 1


def test_litellm_configured_user_tag_is_dropped_from_tags():
    config = AttributionConfig.from_mapping({"litellm": {"user_id": ["tag:uid"]}})
    result = parse_litellm(_jsonl(_litellm(request_tags=[f"uid:{RAW}", "env:prod"])), "spend.jsonl", config)
    _no_raw_id(result)
    assert json.loads(result.rows["tags"][0].as_py()) == {"env": "prod"}


# ---------------------------------------------------------------- Helicone, Portkey


def test_helicone_properties_lose_user_keys():
    record = _sample("helicone", "helicone_request_response_rmt_row.json")
    record.update(user_id=RAW, properties={"feature": "search", "user_id": RAW, "End_User": RAW})
    result = parse_helicone(_jsonl(record, dict(record, request_id="bad", prompt_tokens=-1)), "rmt.jsonl")
    _no_raw_id(result)
    assert json.loads(result.rows["tags"][0].as_py()) == {"feature": "search"}


def test_portkey_metadata_loses_user_keys():
    record = _sample("portkey", "portkey_log_export_row.json")
    record.update(metadata={"team": "search", "_user": RAW, "user_id": RAW})
    result = parse_portkey(_jsonl(record, dict(record, id="bad", req_units=-1)), "logs.jsonl")
    _no_raw_id(result)
    assert json.loads(result.rows["tags"][0].as_py()) == {"team": "search"}


# ---------------------------------------------------------------- OTel


def test_otel_user_attributes_reach_neither_tags_nor_records():
    result = parse_otel((otel_line({"enduser.id": RAW, "user.id": RAW}, {"service.name": "bot"}) + "\n").encode(), "t.jsonl")
    _no_raw_id(result)
    assert json.loads(result.rows["tags"][0].as_py()) == {"service.name": "bot", "gen_ai.operation.name": "chat"}


def test_otel_tags_lose_an_attribute_configured_as_the_user():
    config = AttributionConfig.from_mapping({"otel": {"user_id": ["service.name"], "conversation_id": ["gen_ai.response.id"]}})
    good = otel_line({}, {"service.name": RAW})
    bad = otel_line({"gen_ai.usage.input_tokens": "-1"}, {"service.name": RAW})
    result = parse_otel((good + "\n" + bad + "\n").encode(), "t.jsonl", config)
    _no_raw_id(result)
    assert json.loads(result.rows["tags"][0].as_py()) == {"gen_ai.operation.name": "chat"}
    assert result.rejected.num_rows == 1


# ---------------------------------------------------------------- through ingestion: nothing raw in the lake


def test_no_raw_user_id_reaches_the_lake_from_any_format(home):
    litellm = _litellm()
    helicone = dict(_sample("helicone", "helicone_request_response_rmt_row.json"), user_id=RAW,
                    properties={"feature": "search", "user_id": RAW})
    portkey = dict(_sample("portkey", "portkey_log_export_row.json"), metadata={"team": "search", "_user": RAW})
    files = {
        ("envelope", "whole.jsonl"): (_envelope_line("e-whole") + "\n").encode(),
        ("envelope", "lines.jsonl"): (_envelope_line("e-line") + "\n\n").encode(),  # a blank line: line by line
        ("litellm", "spend.jsonl"): _jsonl(litellm),
        ("litellm", "spend.csv"): litellm_csv(dict(litellm, request_id="csv-1")),
        ("helicone", "rmt.jsonl"): _jsonl(helicone, dict(helicone, request_id="bad", prompt_tokens=-1)),
        ("portkey", "logs.jsonl"): _jsonl(portkey),
        ("otel", "t.jsonl"): (otel_line({"enduser.id": RAW}, {"service.name": "bot"}) + "\n").encode(),
    }
    for (fmt, name), data in files.items():
        path = home.gateway_landing(fmt) / "2026-11-27" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    report = ingest_gateway(home)
    assert report.rows["rows_loaded"] == 7 and report.rows["rows_rejected"] == 1
    texts = []
    for path in home.lake.rglob("*.parquet"):
        table = pq.read_table(path)
        for name in table.column_names:
            if str(table.schema.field(name).type) in ("string", "large_string"):
                texts += [v for v in table[name].to_pylist() if v is not None]
    assert any("env" in t for t in texts)  # tags were written
    assert not [t for t in texts if RAW in t]
