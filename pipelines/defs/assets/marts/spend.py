"""Spend marts: spend per day and dimension, price coverage, cache savings, and restatements of closed months."""

from pipelines.defs.checks import SqlCheck
from pipelines.defs.sql_models import sql_model


def _unpriced(rows: list[tuple], con, params: dict) -> str:
    """How many requests have no price, naming the models with the most (rows come most requests first)."""
    unpriced = sum(row[3] for row in rows)
    (total,) = con.execute("select count(*) from core.request_costs").fetchone()
    top = ", ".join(f"{provider}/{model[:80]} ({requests})" for provider, model, _, requests in rows[:3])
    more = f" and {len(rows) - 3} more model(s)" if len(rows) > 3 else ""
    return f"{unpriced} of {total} requests have no price: {top}{more}"


EVERY_MODEL_PRICED = SqlCheck("every_model_priced", "marts.price_coverage", _unpriced, passed="every request is priced", warn=True)

def _unreported(rows: list[tuple], con, params: dict) -> str:
    days = ", ".join(str(row[0]) for row in rows[:3])
    return (f"{len(rows)} day(s) have no {rows[0][1]} rate on or before them in reference.fx_rates, so their cost_reporting is null "
            f"(e.g. {days}); add rates under landing/fx")


REPORTED = SqlCheck("reported_in_the_reporting_currency", "marts.daily_spend", _unreported,
                    passed="every day has a rate for the reporting currency", warn=True)

daily_spend = sql_model(
    "marts.daily_spend", deps=["core.request_costs", "reference.gpu_capacity", "reference.fx_rates", "reference.reporting_currency"],
    checks=[REPORTED],
)
price_coverage = sql_model("marts.price_coverage", deps=["core.request_costs"], checks=[EVERY_MODEL_PRICED])
price_coverage_daily = sql_model("marts.price_coverage_daily", deps=["core.request_costs"])
cache_savings = sql_model("marts.cache_savings", deps=["core.request_costs", "reference.prices", "reference.price_overrides"])
restatements = sql_model("marts.restatements", deps=["marts.daily_spend", "finance.daily_spend", "finance.closed_periods"])
