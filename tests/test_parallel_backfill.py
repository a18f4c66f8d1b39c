"""A backfill run as parallel Dagster runs (one per daily partition, multiprocess executor) gives the same
warehouse as one sequential run over the range. Duplicates, staging, pricing and the daily spend commit their own
days to the lake's Delta tables, so no step of a day's partition takes the `duckdb` pool and the runs' pricing steps
run at the same time; only publishing is serialized. (Wall time, 8 days: benchmarks/parallel_backfill.py.)"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.defs.stages import finish_run
from pipelines.demo.gateway import generate_gateway_logs
from pipelines.settings import HOME_ENV, PSEUDONYM_KEY_ENV
from pipelines.storage.database import publish
from pipelines.storage.home import Home

START = dt.date(2026, 11, 2)
DAYS = 2
PER_DAY = 200
TABLES = ("staging.stg_gateway_requests", "core.request_costs", "marts.daily_spend")
JOB = "daily_backfill"


def daily_job() -> dg.JobDefinition:
    """The daily partitioned assets as one job on the multiprocess executor (home from $TOKENLEDGER_HOME).

    Each step runs in its own process; steps in the `duckdb` pool wait for the pool's one slot.
    """
    from pipelines.definitions import defs
    from pipelines.defs.stages import stage_keys

    definitions = defs()
    _, daily, _ = stage_keys(list(definitions.assets or []))
    job = dg.define_asset_job(
        JOB, selection=dg.AssetSelection.assets(*daily), executor_def=dg.multiprocess_executor.configured({"max_concurrent": 2})
    )
    return dg.Definitions.merge(definitions, dg.Definitions(jobs=[job])).resolve_job_def(JOB)


_LAUNCH = """
import sys
import dagster as dg
import test_parallel_backfill as t
instance = dg.DagsterInstance.from_config(sys.argv[1])
result = dg.execute_job(dg.reconstructable(t.daily_job), instance=instance, tags={"dagster/partition": sys.argv[2]})
print(result.run_id)
sys.exit(0 if result.success else 1)
"""


def _ingested_home(root: Path) -> Home:
    """A home with three days of landed requests, ingested (lake, reference and audit assets) in process."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome
    from pipelines.defs.stages import stage_keys
    from pipelines.runner import instance_for

    home = Home.at(root).ensure()
    generate_gateway_logs(home.landing, start=START, days=DAYS, requests_per_day=PER_DAY, seed=11, bad_lines=False)
    assets = list(defs().assets or [])
    ingest, _, _ = stage_keys(assets)
    with instance_for(home) as instance:
        result = dg.materialize(
            assets, selection=dg.AssetSelection.assets(*ingest), instance=instance,
            resources={"tokenledger": TokenledgerHome(home=str(home.root))},
        )
    assert result.success
    return home


def _tables(home: Home) -> dict[str, list[tuple]]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return {table: con.execute(f"select * from {table} order by all").fetchall() for table in TABLES}


def _intervals(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float, str]]:
    """(start, end, step) of every step of a run, from its event log."""
    started, ended = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ended[event.step_key] = record.timestamp
    return [(started[key], ended[key], key) for key in started if key in ended]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "parallel-backfill-test-key")
    return "parallel-backfill-test-key"


def test_parallel_partition_runs_equal_one_sequential_run(tmp_path, key):
    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome
    from pipelines.defs.stages import stage_keys
    from pipelines.runner import instance_for

    sequential = _ingested_home(tmp_path / "sequential")
    parallel = _ingested_home(tmp_path / "parallel")

    assets = list(defs().assets or [])
    _, daily, history = stage_keys(assets)
    last = START + dt.timedelta(days=DAYS - 1)
    with instance_for(sequential) as instance:
        result = dg.materialize(  # the days, then the whole-history marts, as the models job does
            assets, selection=dg.AssetSelection.assets(*daily, *history), instance=instance,
            resources={"tokenledger": TokenledgerHome(home=str(sequential.root))},
            tags={"dagster/asset_partition_range_start": START.isoformat(), "dagster/asset_partition_range_end": last.isoformat()},
        )
    assert result.success
    with instance_for(sequential) as instance:
        assert finish_run(sequential, instance, result.run_id)

    env = {
        **os.environ, PSEUDONYM_KEY_ENV: key, HOME_ENV: str(parallel.root),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    partitions = [(START + dt.timedelta(days=n)).isoformat() for n in range(DAYS)]
    launched = [
        subprocess.Popen([sys.executable, "-c", _LAUNCH, str(parallel.dagster_home), partition],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for partition in partitions
    ]
    run_ids = []
    for process in launched:
        out, err = process.communicate(timeout=900)
        assert process.returncode == 0, err[-3000:]
        run_ids.append(out.strip().splitlines()[-1])

    with instance_for(parallel) as instance:  # the partition runs wrote days only: the whole-history marts, then publish
        assert not finish_run(parallel, instance, run_ids[-1])
        rebuilt = dg.materialize(assets, selection=dg.AssetSelection.assets(*history), instance=instance,
                                 resources={"tokenledger": TokenledgerHome(home=str(parallel.root))})
        assert rebuilt.success and finish_run(parallel, instance, rebuilt.run_id)
    for home in (sequential, parallel):
        publish(home)
    assert _tables(parallel) == _tables(sequential)
    counts = [len(rows) for rows in _tables(parallel).values()]
    assert counts[0] == counts[1] == DAYS * PER_DAY and counts[2] > 0

    with dg.DagsterInstance.from_config(str(parallel.dagster_home)) as instance:
        runs = [instance.get_run_stats(run_id) for run_id in run_ids]
        steps = [interval for run_id in run_ids for interval in _intervals(instance, run_id)]
    assert max(r.start_time for r in runs) < min(r.end_time for r in runs), "the partition runs did not run at the same time"
    pricing = sorted(s for s in steps if s[2] == "core__request_costs")
    assert len(pricing) == DAYS
    assert pricing[1][0] < pricing[0][1], f"the pricing steps ran one after the other: {pricing}"
    assert len([s for s in steps if s[2] == "marts__daily_spend"]) == DAYS


def test_no_step_of_a_days_partition_waits_for_the_warehouse():
    """Every daily asset commits its days to the lake: none takes the `duckdb` pool (dagster.yaml: one slot)."""
    from pipelines.definitions import defs
    from pipelines.defs.stages import stage_keys

    assets = [a for a in defs().assets or [] if isinstance(a, dg.AssetsDefinition)]
    _, daily, _ = stage_keys(assets)
    pools = {key.to_user_string(): a.op.pool for a in assets for key in a.keys if key in set(daily)}
    assert pools == {"audit/duplicate_requests": None, "staging/stg_gateway_requests": None,
                     "core/request_costs": None, "marts/daily_spend": None}
    warehouse = [a for a in assets if a.op.pool == "duckdb"]
    assert warehouse, "the assets that write the warehouse file still take the pool"
