"""Reconciliation: the estimate from request logs against what the providers billed, per day, provider and model."""

from pipelines.defs.checks import SqlCheck
from pipelines.defs.sql_models import sql_model
from pipelines.settings import reconciliation_tolerance

TOLERANCE_CHECK = "variance_within_tolerance"


def _tolerance(home) -> dict:
    pct, usd = reconciliation_tolerance(home.root)
    return {"tolerance_pct": pct, "tolerance_usd": usd}


def _outside(rows: list[tuple], con, params: dict) -> str:
    unconverted = [row for row in rows if row[3] == "no_fx_rate"]
    outside = [row for row in rows if row[3] != "no_fx_rate"]
    said = []
    if outside:
        days = len({row[0] for row in outside})
        said.append(f"{len(outside)} provider-day rows on {days} day(s) are outside {params['tolerance_pct']}% / ${params['tolerance_usd']}")
    if unconverted:
        days = len({row[0] for row in unconverted})
        said.append(f"{len(unconverted)} provider-day rows on {days} day(s) have a bill line in a currency without an exchange rate "
                    "(its USD amount is unknown: add the rate to landing/fx)")
    return "; ".join(said)


VARIANCE_WITHIN_TOLERANCE = SqlCheck(TOLERANCE_CHECK, "marts.billing_reconciliation", _outside, passed="every billed day is within tolerance", warn=True)

billing_reconciliation = sql_model(
    "marts.billing_reconciliation",
    deps=["core.billing_line_items", "marts.daily_spend", "reference.model_aliases"],
    params=_tolerance,
    checks=[VARIANCE_WITHIN_TOLERANCE],
)
