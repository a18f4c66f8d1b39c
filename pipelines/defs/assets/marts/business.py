"""Business marts: cost per outcome, revenue ratio, unit economics, self-hosted GPU costs and the model-tier view."""

from pipelines.defs.assets.reference import GPU_USD
from pipelines.defs.checks import SqlCheck, unconverted
from pipelines.defs.sql_models import sql_model


def _idle_broken(rows: list[tuple], con, params: dict) -> str:
    return f"{len(rows)} cluster-day(s) where allocated + idle is not the GPU bill"


IDLE_CHECK = SqlCheck("allocated_plus_idle_is_the_bill", "marts.self_hosted_costs", _idle_broken, passed="allocated + idle = the GPU bill")
SELF_HOSTED_GPU_USD = unconverted("marts.self_hosted_costs", GPU_USD.name, "GPU record", source="reference__gpu_capacity__gpu_cost_in_usd")

cost_per_outcome = sql_model("marts.cost_per_outcome", deps=["core.outcomes", "core.request_costs"])
outcome_costs = sql_model("marts.outcome_costs", deps=["core.outcomes", "core.request_costs"])
revenue_ratio = sql_model("marts.revenue_ratio", deps=["core.revenue", "core.request_costs"])
revenue_ratio_by_segment = sql_model("marts.revenue_ratio_by_segment", deps=["marts.revenue_ratio"])
unit_economics = sql_model("marts.unit_economics", deps=["core.request_costs"])
unit_economics_by_feature = sql_model("marts.unit_economics_by_feature", deps=["core.request_costs"])
model_tier_spend = sql_model("marts.model_tier_spend", deps=["core.request_costs"])
self_hosted_costs = sql_model(
    "marts.self_hosted_costs",
    deps=["reference.gpu_capacity", "core.request_costs", "marts.daily_spend"],
    checks=[IDLE_CHECK, SELF_HOSTED_GPU_USD],
)
