"""Prompt and response text never reach the lake or the warehouse, and raw user ids never do either."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from helpers import envelope, land, sample_usage

from pipelines.runner import run_pipeline

PROMPT = "SENTINEL-PROMPT-7f3a"
ANSWER = "SENTINEL-ANSWER-7f3a"
USER = "u_sentinel_7f3a"


def _with_content(line: str) -> str:
    record = json.loads(line)
    record["messages"] = [{"role": "user", "content": PROMPT}]
    record["response"] = {"choices": [{"message": {"content": ANSWER}}]}
    record["tags"] = {"environment": "prod"}
    return json.dumps(record)


def test_no_prompt_text_or_raw_user_id_anywhere(home):
    good = envelope("ok", "openai", "gpt-4o-2024-08-06", sample_usage("openai_chat_completions_usage.json"), user_id=USER)
    bad = envelope("neg", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": -1, "completion_tokens": 1}, user_id=USER)
    land(home, "content.jsonl", [_with_content(good), _with_content(bad), f'{{"user_id": "{USER}", "messages": "{PROMPT}"'])
    run_pipeline(home, progress=lambda _: None)

    texts = []
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type in ('VARCHAR', 'JSON') and table_schema in ('staging', 'core', 'marts', 'audit')"
        ).fetchall()
        assert len(columns) > 20
        for schema, table, column in columns:
            texts += [v for (v,) in con.execute(f'select "{column}" from {schema}.{table}').fetchall() if v is not None]
    for path in home.lake.rglob("*.parquet"):
        table = pq.read_table(path)
        for name in table.column_names:
            if table.schema.field(name).type in ("string", "large_string"):
                texts += [v for v in table[name].to_pylist() if v is not None]
    texts += [path.read_text() for path in home.lake.rglob("*.txt")]

    assert texts, "nothing was read"
    for sentinel in (PROMPT, ANSWER, USER):
        assert not [t for t in texts if sentinel in str(t)], f"{sentinel} leaked"
    assert any(str(t).startswith("p_") for t in texts)


RAW_TAGGED = "u_tagged_sentinel_91c4"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _landed_with_user_tags(home) -> None:
    """Requests whose raw user id also rides in tags, as each format carries it: envelope `tags.user_id`, LiteLLM's
    `user_id:<id>` request tag (its default user key), Helicone's `properties.user_id`; one of each rejected."""
    usage = sample_usage("openai_chat_completions_usage.json")
    tags = {"environment": "prod", "user_id": RAW_TAGGED, "User_Id": RAW_TAGGED}
    lines = [
        envelope("tagged-ok", "openai", "gpt-4o-2024-08-06", usage, user_id=RAW_TAGGED, tags=tags),
        envelope("tagged-bad", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": -1}, user_id=RAW_TAGGED, tags=tags),
    ]
    land(home, "tagged.jsonl", lines)
    litellm = json.loads((FIXTURES / "litellm" / "litellm_spendlogs_row.json").read_text())
    litellm["request_tags"] = ["feature:search", "env:prod", f"user_id:{RAW_TAGGED}"]
    folder = home.gateway_landing("litellm") / "2024-11-01"
    folder.mkdir(parents=True)
    bad = dict(litellm, request_id="litellm-bad", prompt_tokens=-5)
    (folder / "spend.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (litellm, bad)))
    helicone = json.loads((FIXTURES / "helicone" / "helicone_request_response_rmt_row.json").read_text())
    helicone.update(user_id=RAW_TAGGED, properties={"feature": "search", "user_id": RAW_TAGGED})
    folder = home.gateway_landing("helicone") / "2024-11-01"
    folder.mkdir(parents=True)
    (folder / "rmt.jsonl").write_text(json.dumps(helicone) + "\n" + json.dumps(dict(helicone, request_id="h-bad", prompt_tokens=-1)) + "\n")


def test_no_raw_user_id_in_tags_lake_warehouse_or_dagster_storage(home):
    """The raw id is read (each request's user_id is its pseudonym) but is in no column of the lake or the
    warehouse, JSON inside `tags` included, nor in any byte of the Dagster storage under <home>/.dagster
    (run and event-log databases, compute logs) after a full run."""
    _landed_with_user_tags(home)
    summary = run_pipeline(home, progress=lambda _: None)
    assert summary.run_ids and summary.warnings == []

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        tagged = con.execute(
            "select source, user_id, tags from core.request_costs where source in ('envelope', 'litellm', 'helicone') order by source"
        ).fetchall()
        assert [row[0] for row in tagged] == ["envelope", "helicone", "litellm"]
        assert all(user.startswith("p_") for _, user, _ in tagged), tagged
        assert all(tags and "user" not in tags.lower() for _, _, tags in tagged), tagged  # tags kept, user keys gone
        rejected = con.execute("select count(*) from audit.rejected_rows").fetchone()[0]
        assert rejected == 3
        texts = []
        for schema, table, column in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in ('staging', 'core', 'marts', 'audit', 'reference')"
        ).fetchall():
            texts += [str(v) for (v,) in con.execute(f'select "{column}" from {schema}.{table}').fetchall() if v is not None]
    for path in home.lake.rglob("*.parquet"):
        texts += [str(row) for row in pq.read_table(path).to_pylist()]  # every column, nested values as text
    assert [t for t in texts if RAW_TAGGED in t] == []

    dagster_files = [path for path in home.dagster_home.rglob("*") if path.is_file()]
    read = b"".join(path.read_bytes() for path in dagster_files)
    assert b"lake__gateway_requests" in read and b"STEP_SUCCESS" in read  # the storage holds this run's events
    # command-line runs capture no step stdout/stderr (pipelines.runner.CLI_COMPUTE_LOGS): no compute log to leak from
    assert [path for path in dagster_files if "compute_logs" in path.parts] == []
    assert [str(path.relative_to(home.root)) for path in dagster_files if RAW_TAGGED.encode() in path.read_bytes()] == []
