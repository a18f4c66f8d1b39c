"""Reconciliation: the estimate from request logs against what the providers billed, per day, provider and model."""

from pipelines.defs.checks import SqlCheck
from pipelines.defs.sql_models import Preview, sql_model
from pipelines.settings import reconciliation_tolerance

TOLERANCE_CHECK = "variance_within_tolerance"


def _tolerance(home) -> dict:
    pct, usd = reconciliation_tolerance(home.root)
    return {"tolerance_pct": pct, "tolerance_usd": usd}


def _outside(rows: list[tuple], con, params: dict) -> str:
    days = len({row[0] for row in rows})
    return f"{len(rows)} provider-day rows on {days} day(s) are outside {params['tolerance_pct']}% / ${params['tolerance_usd']}"


VARIANCE_WITHIN_TOLERANCE = SqlCheck(
    TOLERANCE_CHECK,
    "marts.billing_reconciliation",
    ("charge_date", "provider", "model", "status", "estimated_usd", "billed_usd", "variance_usd"),
    rule="every billed provider-day is within the larger of tolerance_pct and tolerance_usd (settings.yaml)",
    passed="every billed day is within tolerance",
    describe=_outside,
    warn=True,
)

billing_reconciliation = sql_model(
    "marts.billing_reconciliation",
    "One row per charge date x provider x model: estimated cost, billed cost, variance and status.",
    deps=["core.billing_line_items", "marts.daily_spend", "reference.model_aliases"],
    params=_tolerance,
    preview=Preview(("charge_date", "provider", "model", "status", "estimated_cost_usd", "billed_cost_usd", "variance_usd"),
                    "charge_date desc, provider, model"),
    checks=[VARIANCE_WITHIN_TOLERANCE],
)
