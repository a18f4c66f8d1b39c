"""The Dagster code location: every definition under pipelines/defs, loaded from the folder.

Cross-cutting policy is applied here, once: every asset in group `marts` gets the marts' freshness policy.
"""

from pathlib import Path

import dagster as dg

from pipelines.defs.freshness import MARTS_FRESHNESS


def _marts_fresh(spec: dg.AssetSpec) -> dg.AssetSpec:
    return dg.apply_freshness_policy(spec, MARTS_FRESHNESS) if spec.group_name == "marts" else spec


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return dg.Definitions(
        assets=dg.map_asset_specs(_marts_fresh, list(loaded.assets or [])),
        asset_checks=loaded.asset_checks,
        schedules=loaded.schedules,
        sensors=loaded.sensors,
        jobs=loaded.jobs,
        resources=loaded.resources,
        executor=loaded.executor,
        loggers=loaded.loggers,
        metadata=loaded.metadata,
    )
