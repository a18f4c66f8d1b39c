"""Spend anomalies: the parameters of `sql/marts/spend_anomalies.sql` and how to read its flags.

A day is flagged when at least `min_baseline_days` of the `baseline_days` before it exist, its robust
score |spend - median| / (1.4826 x MAD) reaches `threshold` (3.5, the usual cut-off for a modified
z-score), and the spend moved by at least `min_delta_usd`. The scale never drops below 5% of the
median or `min_scale_usd`, so a perfectly flat baseline does not turn cents into alarms.
"""

from __future__ import annotations

from decimal import Decimal

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
