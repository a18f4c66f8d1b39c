"""The Dagster code location loads, with the contract's asset keys, one daily partitioning and the duckdb pool."""

from __future__ import annotations

import dagster as dg
import yaml

from pipelines.definitions import defs
from pipelines.storage.home import shipped_dir
from pipelines.storage.lake_tables import LAKE_TABLES

WAREHOUSE_ASSETS = {
    "reference/prices", "reference/model_aliases", "reference/price_overrides", "reference/fx_rates", "audit/ingested_files", "audit/rejected_rows",
    "staging/stg_gateway_requests", "core/request_costs", "marts/daily_spend", "marts/price_coverage", "marts/restatements",
    "core/billing_line_items", "marts/billing_reconciliation",
}
LAKE_ASSETS = {"lake/gateway_requests", "lake/billing_line_items"}


def test_definitions_load_with_the_contract_assets():
    graph = defs().resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert WAREHOUSE_ASSETS | LAKE_ASSETS <= keys


def test_every_warehouse_writer_uses_the_duckdb_pool_and_lake_writers_none():
    definitions = defs()
    writers, lake = {}, {}
    for assets_def in definitions.assets:
        for key in assets_def.keys:
            name = key.to_user_string()
            if key.path[0] == "lake" or name.replace("/", ".") in LAKE_TABLES:
                lake[name] = assets_def.op.pool
            else:
                writers[name] = assets_def.op.pool
    assert WAREHOUSE_ASSETS - {t.replace(".", "/") for t in LAKE_TABLES} <= set(writers)
    # Every other asset writes the one DuckDB file, so it waits for the single `duckdb` slot.
    assert {k: pool for k, pool in writers.items() if pool != "duckdb"} == {}
    # Lake assets write Parquet, and the request-level tables commit their days to Delta tables: they run in parallel.
    assert LAKE_ASSETS | {"audit/duplicate_requests", "staging/stg_gateway_requests", "core/request_costs"} <= set(lake)
    assert set(lake.values()) == {None}


def test_every_mart_has_a_freshness_policy():
    definitions = defs()
    marts = {key.to_user_string(): a.specs_by_key[key].freshness_policy for a in definitions.assets for key in a.keys if key.path[0] == "marts"}
    assert {"marts/daily_spend", "marts/billing_reconciliation", "marts/cost_per_outcome", "marts/spend_anomalies"} <= set(marts)
    assert {name for name, policy in marts.items() if policy is None} == set()


def test_daily_models_share_one_utc_partitioning():
    graph = defs().resolve_asset_graph()
    partitioned = {
        key.to_user_string(): graph.get(key).partitions_def
        for key in graph.get_all_asset_keys()
        if graph.get(key).partitions_def is not None
    }
    assert set(partitioned) == {"staging/stg_gateway_requests", "audit/duplicate_requests", "core/request_costs", "marts/daily_spend"}
    (only,) = {id(p) for p in partitioned.values()}
    partitions = next(iter(partitioned.values()))
    assert isinstance(partitions, dg.DailyPartitionsDefinition) and partitions.timezone == "UTC"


def test_instance_settings_limit_the_pool_and_turn_off_telemetry():
    settings = yaml.safe_load(shipped_dir("dagster.yaml").read_text())
    assert settings["telemetry"]["enabled"] is False
    assert settings["concurrency"]["pools"]["default_limit"] == 1


def test_the_ingest_job_holds_no_partitioned_asset_and_the_models_job_every_one():
    """The ingest job runs without a partition: a daily asset in it (say audit.duplicate_requests, in the audit
    group) would fail every sensor and schedule run."""
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    partitioned = {key for key in graph.get_all_asset_keys() if graph.get(key).is_partitioned}
    ingest = definitions.resolve_job_def("tokenledger_ingest").asset_layer.selected_asset_keys
    models = definitions.resolve_job_def("tokenledger_models").asset_layer.selected_asset_keys
    assert dg.AssetKey(["audit", "duplicate_requests"]) in partitioned
    assert ingest and not ingest & partitioned
    assert partitioned <= models


def test_a_run_through_dagsters_own_api_is_published_by_publish_after(home, monkeypatch):
    """A run of the daily job started with Dagster's API (as `dg.materialize` or a notebook would) writes the working
    warehouse only: `<home>/warehouse.duckdb` appears once `publish_after` finishes the run and publishes it, as
    `tokenledger run` and the daemon's publish sensors do after theirs."""
    import datetime as dt
    from decimal import Decimal

    import duckdb
    from helpers import envelope, land

    from pipelines.defs.stages import range_tags
    from pipelines.runner import publish_after

    land(home, "api.jsonl", [envelope("api-1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 100})])
    monkeypatch.setenv("TOKENLEDGER_HOME", str(home.root))
    instance = dg.DagsterInstance.ephemeral()
    day = dt.date(2026, 11, 27)
    result = defs().resolve_job_def("tokenledger_daily").execute_in_process(instance=instance, tags=range_tags(day - dt.timedelta(days=1), day))
    assert result.success
    # one result for the two days, which Dagster shows on each partition: it says it is the window's, not a day's
    (costs,) = {event.materialization.metadata["window_row_count"].value: event for event in result.get_asset_materialization_events()
                if event.asset_key == dg.AssetKey(["core", "request_costs"])}.values()
    metadata = costs.materialization.metadata
    assert metadata["window"].value == "2026-11-26 .. 2026-11-27" and metadata["window_row_count"].value == 1
    assert "dagster/row_count" not in metadata
    assert not home.warehouse.exists() and home.work_warehouse.is_file()
    assert publish_after(home.root, instance, result.run_id) is True
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select request_id, cost_usd from core.request_costs").fetchall() == [("api-1", Decimal("0.0035"))]
        assert con.execute("select sum(requests) from marts.daily_spend").fetchall() == [(1,)]


def test_a_lake_table_built_before_what_it_reads_says_what_to_build_first(home, monkeypatch):
    """Selecting core/request_costs alone on a new home failed with DuckDB's 'Catalog Error: Table ... does not exist'."""
    monkeypatch.setenv("TOKENLEDGER_HOME", str(home.root))
    job = defs().resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), asset_selection=[dg.AssetKey(["core", "request_costs"])],
                                    partition_key="2026-11-27", raise_on_error=False)
    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.to_string()  # the step's error with its cause
    assert "core.request_costs reads a table this home has not built yet" in message and "run `tokenledger run`" in message


def test_a_home_named_with_glob_characters_keeps_its_dagster_settings(tmp_path):
    """Dagster finds dagster.yaml by a glob of its path: under a home named `h [x]{*}` it matched nothing and the
    instance ran on Dagster's defaults (telemetry on, step output captured, no pool limit)."""
    from pipelines.runner import instance_for
    from pipelines.storage.home import Home

    home = Home.at(tmp_path / "h o'm\"e;ü [x]{*}").ensure()  # not '?': Dagster's SQLite URL ends there
    for cli in (False, True):
        with instance_for(home, cli=cli) as instance:
            assert instance.get_settings("telemetry") == {"enabled": False}
            assert instance.get_settings("concurrency")["pools"]["default_limit"] == 1
            assert type(instance.compute_log_manager).__name__ == ("NoOpComputeLogManager" if cli else "LocalComputeLogManager")
            assert instance.root_directory == str(home.dagster_home)
