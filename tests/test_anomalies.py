"""marts.spend_anomalies: a steady week, then one day where each feature changes for a different reason."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest
from helpers import envelope, land

from pipelines.ingest.privacy import create_key
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

STEADY_DAYS = [dt.date(2026, 9, 1) + dt.timedelta(days=n) for n in range(8)]
ODD_DAY = dt.date(2026, 9, 9)


def _usage(prompt: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": prompt // 100}


def _day(day: dt.date, feature: str, model: str, requests: int, prompt: int, tier: str = "default") -> list[str]:
    return [
        envelope(f"{feature}_{day}_{n}", "openai", model, _usage(prompt), feature=feature, service_tier=tier,
                 timestamp=f"{day}T{n // 60:02d}:{n % 60:02d}:00Z")
        for n in range(requests)
    ]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    """Eight steady days of four features on four models; on the ninth day:
    support_chat sends 4x the requests, search 4x the tokens per request, summarize moves from
    gpt-4.1-mini to gpt-4.1, and email_draft runs on the batch tier at half the price."""
    home = Home.at(tmp_path_factory.mktemp("anomalies") / "home").ensure()
    create_key(home.secrets)
    lines = []
    for day in STEADY_DAYS:
        lines += _day(day, "support_chat", "gpt-4o-mini-2024-07-18", 10, 100_000)
        lines += _day(day, "search", "gpt-4o-2024-08-06", 10, 10_000)
        lines += _day(day, "summarize", "gpt-4.1-mini-2025-04-14", 10, 100_000)
        lines += _day(day, "email_draft", "o4-mini-2025-04-16", 10, 100_000)
    lines += _day(ODD_DAY, "support_chat", "gpt-4o-mini-2024-07-18", 40, 100_000)
    lines += _day(ODD_DAY, "search", "gpt-4o-2024-08-06", 10, 40_000)
    lines += _day(ODD_DAY, "summarize", "gpt-4.1-2025-04-14", 10, 100_000)
    lines += _day(ODD_DAY, "email_draft", "o4-mini-2025-04-16", 10, 100_000, tier="batch")
    land(home, "september.jsonl", lines)
    run_pipeline(home, progress=lambda _: None)
    return home


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_each_changed_series_is_flagged_once_with_its_cause(home):
    flagged = _query(
        home,
        "select dimension, subject, event_date, direction, cause from marts.spend_anomalies where is_anomaly order by dimension, subject",
    )
    assert flagged == [
        ("feature", "email_draft", ODD_DAY, "drop", "price"),
        ("feature", "search", ODD_DAY, "spike", "tokens_per_request"),
        ("feature", "summarize", ODD_DAY, "spike", "model_mix"),
        ("feature", "support_chat", ODD_DAY, "spike", "volume"),
        ("model", "gpt-4.1-2025-04-14", ODD_DAY, "spike", "volume"),
        ("model", "gpt-4.1-mini-2025-04-14", ODD_DAY, "drop", "volume"),
        ("model", "gpt-4o-2024-08-06", ODD_DAY, "spike", "tokens_per_request"),
        ("model", "gpt-4o-mini-2024-07-18", ODD_DAY, "spike", "volume"),
        ("model", "o4-mini-2025-04-16", ODD_DAY, "drop", "price"),
    ]


def test_score_is_robust_against_the_trailing_median(home):
    # support_chat: 10 requests of 100,000 input + 1,000 output tokens on gpt-4o-mini (0.15 / 0.60 per 1M)
    # = 10 x 0.0156 = 0.156 USD a day; 0.624 on the odd day. The baseline is flat (MAD 0), so the scale is its
    # floor: the larger of 5% of the median (0.0078) and 0.01 USD -> (0.624 - 0.156) / 0.01 = 46.8.
    rows = _query(
        home,
        "select event_date, requests, cost_usd, baseline_days, baseline_median_usd, baseline_mad_usd, robust_score, is_anomaly, volume_effect "
        "from marts.spend_anomalies where dimension = 'feature' and subject = 'support_chat' order by event_date",
    )
    assert [row[0] for row in rows] == [*STEADY_DAYS, ODD_DAY]
    assert rows[0][3:5] == (0, None)
    assert [row[6] for row in rows[1:8]] == [0.0] * 7
    assert not any(row[7] for row in rows[:8])
    day = rows[-1]
    assert day[1:7] == (40, Decimal("0.624"), 8, Decimal("0.156"), Decimal("0"), 46.8)
    assert day[7] is True and day[8] == pytest.approx(1.3863, abs=1e-4)  # ln 4


def test_every_feature_and_model_has_a_row_per_day(home):
    counts = _query(home, "select dimension, count(distinct subject), count(*) from marts.spend_anomalies group by 1 order by 1")
    # 4 features and 5 models (gpt-4.1 appears on the last day: its earlier days count as 0 spend), 9 days each
    assert counts == [("feature", 4, 36), ("model", 5, 45)]
