"""Reconciliation: the estimate from request logs against what the providers billed, per day, provider and model."""

from pipelines.defs.checks import SqlCheck
from pipelines.defs.sql_models import sql_model
from pipelines.settings import reconciliation_tolerance

TOLERANCE_CHECK = "variance_within_tolerance"


def _tolerance(home) -> dict:
    pct, usd = reconciliation_tolerance(home.root)
    return {"tolerance_pct": pct, "tolerance_usd": usd}


def _outside(rows: list[tuple], con, params: dict) -> str:
    days = len({row[0] for row in rows})
    return f"{len(rows)} provider-day rows on {days} day(s) are outside {params['tolerance_pct']}% / ${params['tolerance_usd']}"


VARIANCE_WITHIN_TOLERANCE = SqlCheck(TOLERANCE_CHECK, "marts.billing_reconciliation", _outside, passed="every billed day is within tolerance", warn=True)

billing_reconciliation = sql_model(
    "marts.billing_reconciliation",
    deps=["core.billing_line_items", "marts.daily_spend", "reference.model_aliases"],
    params=_tolerance,
    checks=[VARIANCE_WITHIN_TOLERANCE],
)
