"""Spend anomalies: the parameters of `sql/marts/spend_anomalies.sql` and how to read its flags.

A day is flagged when at least `min_baseline_days` of the `baseline_days` before it exist, its robust
score |spend - median| / (1.4826 x MAD) reaches `threshold` (3.5, the usual cut-off for a modified
z-score), and the spend moved by at least `min_delta_usd`. The scale never drops below 5% of the
median or `min_scale_usd`, so a perfectly flat baseline does not turn cents into alarms.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from pipelines.storage.database import sql_text

PARAMS = {
    "baseline_days": 14,
    "min_baseline_days": 5,
    "threshold": 3.5,
    "min_delta_usd": Decimal("0.01"),
    "min_scale_usd": Decimal("0.01"),
}
CAUSES = {
    "volume": "more or fewer requests",
    "tokens_per_request": "longer or shorter requests (tokens per request)",
    "model_mix": "traffic moved between models",
    "price": "cost per token of the same models changed (price, tier or cache hits)",
}


def anomalies_select() -> tuple[str, dict]:
    """The select behind marts.spend_anomalies and its parameters."""
    return sql_text("marts.spend_anomalies"), dict(PARAMS)


def flagged(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Flagged days, newest first: dimension, subject, provider, date, spend, baseline median, score, direction, cause."""
    return con.execute(
        "select dimension, subject, provider, event_date, cost_usd, baseline_median_usd, robust_score, direction, cause "
        "from marts.spend_anomalies where is_anomaly order by event_date desc, abs(robust_score) desc"
    ).fetchall()
