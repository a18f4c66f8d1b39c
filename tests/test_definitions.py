"""The Dagster code location loads, with the contract's asset keys, one daily partitioning and the duckdb pool."""

from __future__ import annotations

import dagster as dg
import yaml

from pipelines.definitions import defs
from pipelines.home import shipped_dir

WAREHOUSE_ASSETS = {
    "reference/prices", "reference/model_aliases", "reference/price_overrides", "reference/fx_rates", "audit/ingested_files", "audit/rejected_rows",
    "staging/stg_gateway_requests", "core/request_costs", "marts/daily_spend", "marts/price_coverage", "marts/restatements",
}


def test_definitions_load_with_the_contract_assets():
    graph = defs().resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == WAREHOUSE_ASSETS | {"lake/gateway_requests"}


def test_every_warehouse_writer_uses_the_duckdb_pool():
    definitions = defs()
    pools = {}
    for assets_def in definitions.assets:
        for key in assets_def.keys:
            pools[key.to_user_string()] = assets_def.op.pool
    assert {k for k, pool in pools.items() if pool == "duckdb"} == WAREHOUSE_ASSETS
    assert pools["lake/gateway_requests"] is None


def test_daily_models_share_one_utc_partitioning():
    graph = defs().resolve_asset_graph()
    partitioned = {
        key.to_user_string(): graph.get(key).partitions_def
        for key in graph.get_all_asset_keys()
        if graph.get(key).partitions_def is not None
    }
    assert set(partitioned) == {"staging/stg_gateway_requests", "core/request_costs", "marts/daily_spend"}
    (only,) = {id(p) for p in partitioned.values()}
    partitions = next(iter(partitioned.values()))
    assert isinstance(partitions, dg.DailyPartitionsDefinition) and partitions.timezone == "UTC"


def test_instance_settings_limit_the_pool_and_turn_off_telemetry():
    settings = yaml.safe_load(shipped_dir("dagster.yaml").read_text())
    assert settings["telemetry"]["enabled"] is False
    assert settings["concurrency"]["pools"]["default_limit"] == 1
