"""Automation: the 02:00 UTC schedule, the landing sensor, clearing late dates after a run, freshness on the marts.
Schedules and sensors are evaluated against a real Dagster instance; the jobs they start really run."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pytest
from helpers import envelope, land

from pipelines.defs.automation import sensors as automation
from pipelines.defs.freshness import MARTS_FRESHNESS
from pipelines.ingest.privacy import create_key
from pipelines.settings import HOME_ENV
from pipelines.storage.home import Home
from pipelines.storage.lake import mark_pending, pending_dates

USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A home with a key, the code location loaded for it (as the daemon does, from $TOKENLEDGER_HOME), an instance."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    monkeypatch.setenv(HOME_ENV, str(home.root))
    from pipelines.definitions import defs

    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield home, defs(), instance


def _resources(home: Home) -> dict:
    from pipelines.defs.resources import TokenledgerHome

    return {"tokenledger": TokenledgerHome(home=str(home.root))}


def _ours(tags: dict) -> dict:
    """The tags the schedule or sensor set (Dagster adds its own, like dagster/schedule_name)."""
    return {k: v for k, v in tags.items() if k.startswith(("dagster/asset_partition_range", "tokenledger/"))}


def test_definitions_hold_the_schedule_sensors_jobs_and_freshness(setup):
    _, definitions, _ = setup
    schedule = definitions.resolve_schedule_def("daily_refresh")
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == ("0 2 * * *", "UTC", "tokenledger_daily")
    assert {s.name for s in definitions.sensors} >= {"new_landing_files", "clear_materialized_dates"}
    graph = definitions.resolve_asset_graph()
    for key in (["marts", "spend_anomalies"], ["marts", "budget_status"], ["marts", "scenarios"]):
        assert graph.get(dg.AssetKey(key)).freshness_policy == MARTS_FRESHNESS
    assert all(graph.get(k).freshness_policy is None for k in graph.get_all_asset_keys() if k.path[0] in ("lake", "staging", "core"))
    daily_job = definitions.resolve_job_def("tokenledger_daily")
    models_job = definitions.resolve_job_def("tokenledger_models")
    assert dg.AssetKey(["lake", "gateway_requests"]) in daily_job.asset_layer.executable_asset_keys
    assert dg.AssetKey(["lake", "gateway_requests"]) not in models_job.asset_layer.executable_asset_keys
    assert dg.AssetKey(["marts", "daily_spend"]) in models_job.asset_layer.executable_asset_keys


def test_schedule_runs_yesterday_and_every_late_date(setup):
    home, definitions, instance = setup
    mark_pending(home, {dt.date(2026, 10, 3), dt.date(2026, 10, 4), dt.date(2026, 10, 19), dt.date(2019, 1, 1)})
    schedule = definitions.resolve_schedule_def("daily_refresh")
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=dt.datetime(2026, 10, 21, 2, 0, tzinfo=dt.timezone.utc), resources=_resources(home)
    )
    requests = list(schedule.evaluate_tick(context).run_requests)
    assert [(r.run_key, r.job_name, _ours(r.tags)) for r in requests] == [
        ("2026-10-21:2026-10-03..2026-10-04", "tokenledger_models",
         {"dagster/asset_partition_range_start": "2026-10-03", "dagster/asset_partition_range_end": "2026-10-04"}),
        ("2026-10-21:2026-10-19..2026-10-20", "tokenledger_daily",
         {"dagster/asset_partition_range_start": "2026-10-19", "dagster/asset_partition_range_end": "2026-10-20", "tokenledger/ingest": "true"}),
    ]


def test_sensor_ingests_new_files_then_materializes_the_dates_they_touched(setup):
    home, definitions, instance = setup
    sensor = definitions.resolve_sensor_def("new_landing_files")
    land(home, "a.jsonl", [
        envelope("a1", "openai", "gpt-4o-2024-08-06", USAGE, timestamp="2026-10-05T10:00:00Z"),
        envelope("a2", "openai", "gpt-4o-2024-08-06", USAGE, timestamp="2026-10-07T10:00:00Z"),
    ])

    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=_resources(home), definitions=definitions))
    (ingest,) = first.run_requests
    assert ingest.job_name == "tokenledger_ingest" and first.cursor == automation.landing_fingerprint(home)

    result = definitions.resolve_job_def("tokenledger_ingest").execute_in_process(instance=instance, resources=_resources(home))
    assert result.success
    assert pending_dates(home) == {dt.date(2026, 10, 5), dt.date(2026, 10, 7)}

    second = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=_resources(home), definitions=definitions))
    assert [(r.job_name, _ours(r.tags)) for r in second.run_requests] == [
        ("tokenledger_models", {"dagster/asset_partition_range_start": "2026-10-05", "dagster/asset_partition_range_end": "2026-10-05"}),
        ("tokenledger_models", {"dagster/asset_partition_range_start": "2026-10-07", "dagster/asset_partition_range_end": "2026-10-07"}),
    ]

    models = definitions.resolve_job_def("tokenledger_models")
    clear = definitions.resolve_sensor_def("clear_materialized_dates")
    publish = definitions.resolve_sensor_def("publish_after_success")
    for request in second.run_requests:
        run = models.execute_in_process(instance=instance, tags=request.tags, resources=_resources(home))
        assert run.success
        context = dg.build_run_status_sensor_context(
            sensor_name="clear_materialized_dates", dagster_event=run.get_run_success_event(), dagster_instance=instance,
            dagster_run=run.dagster_run, resources=_resources(home),
        )
        clear(context)
        assert publish(context).skip_message == "published the warehouse"  # what readers open is this run's
    assert pending_dates(home) == set()
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select event_date, requests from marts.daily_spend order by 1").fetchall() == [
            (dt.date(2026, 10, 5), 1), (dt.date(2026, 10, 7), 1)
        ]
        assert con.execute("select count(*) from marts.spend_anomalies").fetchall() == [(6,)]

    third = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=_resources(home), definitions=definitions))
    assert third.run_requests == [] and "no new landing files" in third.skip_message


def test_dates_whose_lake_rows_changed_during_the_run_stay_late(setup):
    home, definitions, instance = setup
    land(home, "b.jsonl", [envelope("b1", "openai", "gpt-4o-2024-08-06", USAGE, timestamp="2026-10-05T10:00:00Z")])
    tags = {"dagster/asset_partition_range_start": "2026-10-05", "dagster/asset_partition_range_end": "2026-10-06"}
    run = instance.create_run_for_job(definitions.resolve_job_def("tokenledger_models"), tags=tags)
    # the ingestion below happens after this run (never started, so start time 0) began: its date stays late
    result = definitions.resolve_job_def("tokenledger_ingest").execute_in_process(instance=instance, resources=_resources(home))
    mark_pending(home, {dt.date(2026, 10, 6)})
    context = dg.build_run_status_sensor_context(
        sensor_name="clear_materialized_dates", dagster_event=result.get_run_success_event(), dagster_instance=instance,
        dagster_run=run, resources=_resources(home),
    )
    outcome = definitions.resolve_sensor_def("clear_materialized_dates")(context)
    assert outcome.skip_message == "cleared 1 late date(s) of 2026-10-05 .. 2026-10-06; 1 changed while it ran and stay late"
    assert pending_dates(home) == {dt.date(2026, 10, 5)}


def test_a_daemon_run_that_fails_after_writing_days_is_not_published_until_one_finishes(setup):
    """The publish sensors published a failed run's warehouse as it was: new days beside whole-history marts built
    before them. A run that failed after writing a day is left unpublished (readers keep the last good state) until
    a run that rebuilt every whole-history mart succeeds; the failure here is a real one, a budgets.yaml the
    whole-history stage cannot read."""
    home, definitions, instance = setup
    land(home, "october.jsonl", [envelope("req_1", "openai", "gpt-4o-mini", USAGE, timestamp="2026-10-05T10:00:00Z")])
    models = definitions.resolve_job_def("tokenledger_models")
    tags = {"dagster/asset_partition_range_start": "2026-10-05", "dagster/asset_partition_range_end": "2026-10-05"}
    assert definitions.resolve_job_def("tokenledger_ingest").execute_in_process(instance=instance, resources=_resources(home)).success

    def after(run, name):
        event = run.get_run_success_event() if run.success else run.get_run_failure_event()
        context = dg.build_run_status_sensor_context(sensor_name=name, dagster_event=event, dagster_instance=instance,
                                                     dagster_run=run.dagster_run, resources=_resources(home))
        return definitions.resolve_sensor_def(name)(context).skip_message

    (home.root / "budgets.yaml").write_text("features:\n  search: lots\n")
    failed = models.execute_in_process(instance=instance, tags=tags, resources=_resources(home), raise_on_error=False)
    assert not failed.success
    assert "wrote days or marts and the whole-history marts were not rebuilt" in after(failed, "publish_after_failure")
    assert not home.warehouse.exists()  # nothing half-built was ever published

    (home.root / "budgets.yaml").unlink()
    done = models.execute_in_process(instance=instance, tags=tags, resources=_resources(home))
    assert after(done, "publish_after_success") == "published the warehouse"
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select event_date, requests from marts.daily_spend").fetchall() == [(dt.date(2026, 10, 5), 1)]
