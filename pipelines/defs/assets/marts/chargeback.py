"""Chargeback: the usage each payer of <home>/chargeback.yaml pays for, its statement lines and its statements."""

import dagster as dg

from pipelines.defs.checks import SqlCheck
from pipelines.defs.sql_models import sql_model
from pipelines.insights.chargeback import ChargebackError, load_chargeback


def _payers(con, home) -> dict:
    try:
        chargeback = load_chargeback(home.root)
    except ChargebackError as exc:
        raise dg.Failure(description=str(exc)) from exc
    return {"chargeback_payers": chargeback.payers, "chargeback_tier_prices": chargeback.tier_prices}


def _blocked(rows: list[tuple], con, params: dict) -> str:
    return "; ".join(f"{statement}: {reason}" for statement, reason in rows)


def _issuable(con, params: dict) -> str:
    (statements,) = con.execute("select count(*) from marts.chargeback_statements").fetchone()
    return f"all {statements} statements can be issued" if statements else "no statements: add <home>/chargeback.yaml"


STATEMENTS_ISSUABLE = SqlCheck("statements_issuable", "marts.chargeback_statements", _blocked, passed=_issuable, warn=True)

chargeback_usage = sql_model(
    "marts.chargeback_usage", deps=["core.request_costs", "marts.outcome_costs", "reference.fx_rates"], rows=_payers
)
chargeback_lines = sql_model("marts.chargeback_lines", deps=["marts.chargeback_usage", "finance.chargeback_usage", "finance.closed_periods"])
chargeback_statements = sql_model(
    "marts.chargeback_statements", deps=["marts.chargeback_lines", "finance.closed_periods"], checks=[STATEMENTS_ISSUABLE]
)
