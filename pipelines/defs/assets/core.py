"""Core: priced requests, provider bills, business outcomes and revenue, one row per fact."""

import dagster as dg

from pipelines.defs.checks import SqlCheck, markdown_table, unconverted
from pipelines.defs.sql_models import Preview, sql_model
from pipelines.warehouse.contracts import CORE

PRICED_ROWS_EXPLAINED = SqlCheck(
    "priced_rows_are_explained",
    "core.request_costs",
    ("request_id", "price_id", "cost_usd", "reason"),
    rule="priced rows have a price_id and a non-negative cost; unpriced rows have a reason and no cost",
    passed="every priced row has a price entry and a cost; every unpriced row a reason",
    describe=lambda rows, con, params: f"{len(rows)}+ request(s) break the rule, e.g. {rows[0][0]}",
    blocking=True,
)
REVENUE_USD = unconverted("core.revenue", "revenue_in_usd", "revenue record", ("customer_id", "period_start", "currency"))


def _request_costs_metadata(con, window: dict, inputs: dict) -> dict:
    unpriced, cost = con.execute(
        "select count(*) filter (where not is_priced), coalesce(sum(cost_usd), 0) from core.request_costs "
        "where event_date >= $window_start and event_date < $window_end",
        window,
    ).fetchall()[0]
    top = con.execute(
        "select provider, model, unpriced_reason, count(*) as requests from core.request_costs "
        "where event_date >= $window_start and event_date < $window_end and not is_priced group by all order by requests desc limit 5",
        window,
    ).fetchall()
    return {
        "unpriced_requests": unpriced,
        "cost_usd": float(round(cost, 2)),
        "names_matched_by_rule": dg.MetadataValue.json(inputs.get("model_names") or []),
        "top_unpriced": dg.MetadataValue.md(markdown_table(["provider", "model", "reason", "requests"], top)),
    }


request_costs = sql_model(
    "core.request_costs",
    "One row per unique request, priced by the price entry in effect at its timestamp.",
    deps=[
        "staging.stg_gateway_requests", "reference.prices", "reference.model_aliases", "reference.price_overrides",
        "reference.gpu_capacity",
    ],
    checks=[PRICED_ROWS_EXPLAINED],
    contract=CORE,
    metadata=_request_costs_metadata,
)

billing_line_items = sql_model(
    "core.billing_line_items",
    "One row per billing line item: day, provider, account, model and token bucket where the bill names them, amounts in USD.",
    deps=["lake/billing_line_items", "audit.ingested_files", "reference.fx_rates", "reference.model_aliases", "finance.closed_periods"],
    preview=Preview(("charge_date", "source_format", "provider", "model", "token_bucket", "charge_category", "billed_cost_usd"),
                    "charge_date desc, source_format, provider, model"),
)

outcomes = sql_model(
    "core.outcomes",
    "One row per business outcome, with how it links to the requests behind it.",
    deps=["lake/outcomes"],
    preview=Preview(("event_date", "feature", "outcome_type", "linked_by", "outcome_id"), "event_date desc, feature, outcome_type"),
)

revenue = sql_model(
    "core.revenue",
    "One row per revenue record (invoice or subscription period) with its amount in USD.",
    deps=["lake/revenue", "reference.fx_rates"],
    preview=Preview(("customer_id", "user_segment", "plan", "period_start", "period_end", "amount", "currency", "amount_usd"),
                    "period_start desc, customer_id"),
    checks=[REVENUE_USD],
)
