"""Business marts: cost per outcome, revenue ratio, unit economics, self-hosted GPU costs, the full cost with overhead,
energy and carbon, and the model-tier view."""

from pipelines.defs.assets.reference import GPU_USD
from pipelines.defs.checks import SqlCheck, unconverted
from pipelines.defs.sql_models import sql_model
from pipelines.settings import energy_settings


def _idle_broken(rows: list[tuple], con, params: dict) -> str:
    return f"{len(rows)} cluster-day(s) where allocated + idle is not the GPU bill"


IDLE_CHECK = SqlCheck("allocated_plus_idle_is_the_bill", "marts.self_hosted_costs", _idle_broken, passed="allocated + idle = the GPU bill")
SELF_HOSTED_GPU_USD = unconverted("marts.self_hosted_costs", GPU_USD.name, "GPU record", source="reference__gpu_capacity__gpu_cost_in_usd")

def _not_allocated(rows: list[tuple], con, params: dict) -> str:
    return "; ".join(f"{what}: {allocated} USD in marts.full_cost, {expected} USD to allocate" for what, allocated, expected in rows)


EVERY_CENT_ALLOCATED = SqlCheck(
    "every_cent_allocated", "marts.full_cost", _not_allocated, passed="overhead to the cent and GPU cost (idle included) allocated exactly"
)
cost_per_outcome = sql_model("marts.cost_per_outcome", deps=["core.outcomes", "core.request_costs", "marts.full_cost", "marts.energy_carbon"])
outcome_costs = sql_model("marts.outcome_costs", deps=["core.outcomes", "core.request_costs"])
revenue_ratio = sql_model("marts.revenue_ratio", deps=["core.revenue", "core.request_costs"])
revenue_ratio_by_segment = sql_model("marts.revenue_ratio_by_segment", deps=["marts.revenue_ratio"])
unit_economics = sql_model(
    "marts.unit_economics", deps=["core.request_costs", "marts.full_cost", "marts.energy_carbon", "marts.outcome_costs"]
)
unit_economics_by_feature = sql_model("marts.unit_economics_by_feature", deps=["core.request_costs", "marts.full_cost"])
model_tier_spend = sql_model("marts.model_tier_spend", deps=["core.request_costs"])
self_hosted_costs = sql_model(
    "marts.self_hosted_costs",
    deps=["reference.gpu_capacity", "core.request_costs", "marts.daily_spend"],
    checks=[IDLE_CHECK, SELF_HOSTED_GPU_USD],
)
full_cost = sql_model(
    "marts.full_cost", deps=["core.request_costs", "marts.self_hosted_costs", "core.overhead", "marts.daily_spend"], checks=[EVERY_CENT_ALLOCATED]
)
energy_carbon = sql_model(
    "marts.energy_carbon",
    deps=["reference.gpu_capacity", "reference.carbon_intensity", "core.request_costs", "marts.self_hosted_costs"],
    params=lambda home: {"default_pue": energy_settings(home.root)[0]},
)
