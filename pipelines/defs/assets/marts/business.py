"""Business marts: cost per outcome, revenue ratio, unit economics, self-hosted GPU costs and the model-tier view."""

from pipelines.defs.assets.reference import GPU_USD
from pipelines.defs.checks import SqlCheck, unconverted
from pipelines.defs.sql_models import Preview, sql_model


def _idle_broken(rows: list[tuple], con, params: dict) -> str:
    return f"{len(rows)} cluster-day(s) where allocated + idle is not the GPU bill"


IDLE_CHECK = SqlCheck(
    "allocated_plus_idle_is_the_bill",
    "marts.self_hosted_costs",
    ("date", "cluster", "bill_usd", "allocated_usd", "idle_usd", "daily_spend_idle_usd"),
    rule="allocated + idle = the GPU bill exactly, idle >= 0, and marts.daily_spend's idle_capacity rows agree",
    passed="allocated + idle = the GPU bill",
    describe=_idle_broken,
)
SELF_HOSTED_GPU_USD = unconverted(
    "marts.self_hosted_costs", GPU_USD.name, "GPU record", ("cluster", "event_date", "currency"), source="reference__gpu_capacity__gpu_cost_in_usd"
)

cost_per_outcome = sql_model(
    "marts.cost_per_outcome",
    "One row per day x feature x outcome type: outcomes, the feature's requests and spend, cost per outcome.",
    deps=["core.outcomes", "core.request_costs"],
    preview=Preview(("event_date", "feature", "outcome_type", "outcomes", "requests", "cost_usd", "cost_per_outcome_usd"),
                    "event_date desc, cost_usd desc, feature, outcome_type"),
)

outcome_costs = sql_model(
    "marts.outcome_costs",
    "One row per outcome: the requests linked to it (by conversation or request) and their direct cost.",
    deps=["core.outcomes", "core.request_costs"],
    preview=Preview(("outcome_id", "feature", "outcome_type", "linked_by", "linked_requests", "direct_cost_usd"),
                    "direct_cost_usd desc nulls last, outcome_id"),
)

revenue_ratio = sql_model(
    "marts.revenue_ratio",
    "One row per month x customer: revenue prorated by days, inference cost, cost-to-revenue ratio, gross margin.",
    deps=["core.revenue", "core.request_costs"],
    preview=Preview(("month", "customer_id", "user_segment", "revenue_usd", "cost_usd", "cost_to_revenue_ratio"),
                    "month desc, cost_to_revenue_ratio desc nulls last, customer_id"),
)

revenue_ratio_by_segment = sql_model(
    "marts.revenue_ratio_by_segment",
    "One row per month x user segment: customers, revenue, cost, cost-to-revenue ratio, margin, share of plan price.",
    deps=["marts.revenue_ratio"],
    preview=Preview(("month", "user_segment", "customers", "revenue_usd", "cost_usd", "cost_to_revenue_ratio", "cost_share_of_plan_price"),
                    "month desc, user_segment"),
)

unit_economics = sql_model(
    "marts.unit_economics",
    "One row per month x user segment: active users, requests, cost, cost per active user, per 1k requests, per 1M tokens.",
    deps=["core.request_costs"],
    preview=Preview(("month", "user_segment", "active_users", "requests", "cost_usd", "cost_per_active_user_usd", "cost_per_1m_tokens_usd"),
                    "month desc, user_segment"),
)

unit_economics_by_feature = sql_model(
    "marts.unit_economics_by_feature",
    "One row per month x user segment x feature: active users, requests, cost and the same unit costs.",
    deps=["core.request_costs"],
    preview=Preview(("month", "user_segment", "feature", "active_users", "requests", "cost_usd", "cost_per_1k_requests_usd"),
                    "month desc, cost_usd desc, user_segment, feature"),
)

self_hosted_costs = sql_model(
    "marts.self_hosted_costs",
    "One row per self-hosted cluster x day: GPU bill, utilization, allocated and idle cost, effective cost per 1M tokens.",
    deps=["reference.gpu_capacity", "core.request_costs", "marts.daily_spend"],
    preview=Preview(("event_date", "cluster", "gpu_cost_usd", "utilization", "allocated_cost_usd", "idle_cost_usd",
                     "effective_cost_per_1m_tokens_usd"), "event_date desc, cluster"),
    checks=[IDLE_CHECK, SELF_HOSTED_GPU_USD],
)

model_tier_spend = sql_model(
    "marts.model_tier_spend",
    "One row per month x feature x model tier: requests, spend, cost per request and per 1M tokens, share of the feature.",
    deps=["core.request_costs"],
    preview=Preview(("month", "feature", "model_tier", "requests", "cost_usd", "cost_per_request_usd", "share_of_feature_cost"),
                    "month desc, feature, model_tier"),
)
