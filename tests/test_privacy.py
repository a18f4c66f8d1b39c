"""Prompt and response text never reach the lake or the warehouse, and raw user ids never do either."""

from __future__ import annotations

import json

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
