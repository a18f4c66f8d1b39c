"""Blank optional dimensions are missing ones: a request logged with `customer_id: ""` (or only spaces) is attributed to
no customer, as one without the field, not to a customer named ''; the same for user_segment, conversation_id and
user_id (a blank user id is no user: pseudonymized, every request without a user would be one active user)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
from helpers import envelope, land

from pipelines.runner import run_pipeline

USAGE = {"prompt_tokens": 1_000_000, "completion_tokens": 0}  # gpt-4o-mini: 1M x 0.15 per 1M = $0.15


def test_blank_customer_segment_conversation_and_user_are_missing(home):
    land(home, "day.jsonl", [
        envelope("named", "openai", "gpt-4o-mini-2024-07-18", USAGE, customer_id="acme", user_segment="pro", user_id="u1"),
        envelope("blank", "openai", "gpt-4o-mini-2024-07-18", USAGE, customer_id="", user_segment="", user_id="", conversation_id=""),
        envelope("spaces", "openai", "gpt-4o-mini-2024-07-18", USAGE, customer_id="  ", user_segment=" ", user_id=" ", conversation_id="   "),
        envelope("absent", "openai", "gpt-4o-mini-2024-07-18", USAGE, customer_id=None, user_segment=None, user_id=None, conversation_id=None),
    ])
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = con.execute("select request_id, customer_id, user_segment, conversation_id, user_id from core.request_costs order by 1").fetchall()
        assert [r for r in rows if r[0] != "named"] == [("absent", None, None, None, None), ("blank", None, None, None, None),
                                                       ("spaces", None, None, None, None)]
        ratio = con.execute("select customer_id, user_segment, cost_usd from marts.revenue_ratio order by 1").fetchall()
        assert ratio == [("acme", "pro", Decimal("0.15")), ("unattributed", "unattributed", Decimal("0.45"))]
        segments = con.execute("select user_segment, active_users, requests from marts.unit_economics order by 1").fetchall()
        assert segments == [("pro", 1, 1), ("unattributed", 0, 3)]
