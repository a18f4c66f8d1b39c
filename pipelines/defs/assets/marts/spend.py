"""Spend marts: spend per day and dimension, price coverage, cache savings, and restatements of closed months."""

from pipelines.defs.checks import SqlCheck
from pipelines.defs.sql_models import Preview, sql_model


def _unpriced(rows: list[tuple], con, params: dict) -> str:
    unpriced = sum(row[3] for row in rows)
    (total,) = con.execute("select count(*) from core.request_costs").fetchone()
    return f"{unpriced} of {total} requests have no price"


EVERY_MODEL_PRICED = SqlCheck(
    "every_model_priced",
    "marts.price_coverage",
    ("provider", "model", "reasons", "requests"),
    rule="every request's provider and model has a price in the price book at its time, tier and size",
    passed="every request is priced",
    describe=_unpriced,
    warn=True,
)

daily_spend = sql_model(
    "marts.daily_spend",
    "One row per day x feature x user segment x provider x model x service tier: requests, tokens, cost.",
    deps=["core.request_costs", "reference.gpu_capacity", "reference.fx_rates", "reference.reporting_currency"],
    preview=Preview(("event_date", "feature", "user_segment", "provider", "model", "requests", "cost_usd"), "event_date, cost_usd desc, feature"),
)

price_coverage = sql_model(
    "marts.price_coverage",
    "One row per provider x model seen without a price: requests, tokens, first and last seen.",
    deps=["core.request_costs"],
    preview=Preview(("provider", "model", "unpriced_reasons", "requests"), "requests desc, provider, model"),
    checks=[EVERY_MODEL_PRICED],
)

price_coverage_daily = sql_model(
    "marts.price_coverage_daily",
    "One row per day x provider x model x service tier x reason the price book could not price: requests and tokens.",
    deps=["core.request_costs"],
    preview=Preview(("event_date", "provider", "model", "unpriced_reason", "requests"), "event_date desc, requests desc"),
)

cache_savings = sql_model(
    "marts.cache_savings",
    "One row per day x feature with cached input: what cache reads saved and what cache writes cost above the input price.",
    deps=["core.request_costs", "reference.prices", "reference.price_overrides"],
    preview=Preview(("event_date", "feature", "cached_tokens", "saved_usd", "write_premium_usd", "net_saved_usd"), "event_date desc, saved_usd desc"),
)

restatements = sql_model(
    "marts.restatements",
    "One row per daily_spend row of a closed month that changed after the close: before, after, delta, why.",
    deps=["marts.daily_spend", "finance.daily_spend", "finance.closed_periods"],
    preview=Preview(("month", "event_date", "feature", "model", "reason", "delta_usd"), "month, event_date, feature"),
)
