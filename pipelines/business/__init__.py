"""Business inputs beside the gateway logs: outcome events, revenue records and self-hosted GPU capacity.

`inputs` parses the landed files (landing/outcomes, landing/revenue, landing/gpu) into the lake with
the same manifest, audit and rejection rules as gateway logs; `tiers` reads the model-tier rules the
routing view uses; `money` holds the exact DECIMAL division the business marts share. The formats and
the marts' formulas are documented in docs/business-inputs.md.
"""

from pipelines.business.inputs import GPU, OUTCOMES, REVENUE, SOURCES, ensure_fx_rates, ensure_gpu_capacity
from pipelines.business.money import define_money_macros
from pipelines.business.tiers import TIERS, ModelTiersError, load_tier_rules

__all__ = [
    "GPU",
    "OUTCOMES",
    "REVENUE",
    "SOURCES",
    "TIERS",
    "ModelTiersError",
    "define_money_macros",
    "ensure_fx_rates",
    "ensure_gpu_capacity",
    "load_tier_rules",
]
