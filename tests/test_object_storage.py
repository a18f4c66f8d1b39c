"""Landing and lake in an S3-compatible bucket (a real moto server started here): the same warehouse as on local disk."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.demo.gateway import generate_gateway_logs
from pipelines.settings import LAKE_URL_ENV, LANDING_URL_ENV, PSEUDONYM_KEY_ENV
from pipelines.storage.database import connect, publish
from pipelines.storage.home import Home

BUCKET = "tokenledger-test"
START = dt.date(2026, 11, 2)
TABLES = ("staging.stg_gateway_requests", "core.request_costs", "marts.daily_spend")


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """A moto S3 server on a free loopback port, for this module only.

    Its request log goes to a file: a pipe nobody drains fills after a few hundred requests and the server
    then blocks on its next log line, every request after it timing out.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=sink, text=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    yield endpoint
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def aws(monkeypatch, s3_endpoint):
    """Standard AWS variables pointing at the moto server, and an empty bucket (gone with the server)."""
    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "object-storage-test-key")
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


def _landing(folder: Path) -> list[Path]:
    """Two days of gateway logs as gzip JSON Lines, and one Parquet envelope file with a Gemini request."""
    summary = generate_gateway_logs(folder, start=START, days=2, requests_per_day=300, seed=5, bad_lines=True, files_per_day=2)
    parquet = folder / "gateway" / "envelope" / "extra" / "gemini.parquet"
    parquet.parent.mkdir(parents=True)
    pq.write_table(
        pa.table({
            "request_id": ["pq-1", "pq-2"],
            "timestamp": ["2026-11-03T08:00:00Z", "2026-11-03T09:00:00Z"],
            "provider": ["google", "google"],
            "model": ["gemini-2.5-flash", "gemini-2.5-flash"],
            "feature": ["search", "search"],
            "user_id": ["u_1", "u_2"],
            "usage": ['{"promptTokenCount": 4000, "cachedContentTokenCount": 1000, "candidatesTokenCount": 300}', "[1]"],
        }),
        parquet,
    )
    return [*summary.files, parquet]


def _run(home: Home) -> dg.ExecuteInProcessResult:
    """Ingest, then every daily partitioned asset over the landed days and the whole-history marts, in process (the CLI's
    stages; a run that wrote days without the whole-history marts is never published)."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome
    from pipelines.defs.stages import finish_run, stage_keys
    from pipelines.runner import instance_for

    assets = list(defs().assets or [])
    ingest, daily, history = stage_keys(assets)
    resources = {"tokenledger": TokenledgerHome(home=str(home.root))}
    with instance_for(home) as instance:
        ingested = dg.materialize(assets, selection=dg.AssetSelection.assets(*ingest), instance=instance, resources=resources)
        assert ingested.success
        tags = {"dagster/asset_partition_range_start": START.isoformat(), "dagster/asset_partition_range_end": (START + dt.timedelta(days=1)).isoformat()}
        models = dg.materialize(assets, selection=dg.AssetSelection.assets(*daily, *history), instance=instance, resources=resources, tags=tags)
        assert models.success and finish_run(home, instance, models.run_id)
    publish(home)
    return ingested


def _tables(home: Home) -> dict[str, list[tuple]]:
    return {table: _query(home, f"select * from {table} order by all") for table in TABLES}


def _query(home: Home, sql: str) -> list[tuple]:
    """The published warehouse as tokenledger's readers open it: with the lake in a bucket, its request-level
    views read the Delta tables' files there through datasets registered on the connection."""
    with connect(home, read_only=True) as con:
        return con.execute(sql).fetchall()


def _keys(client, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def test_landing_and_lake_in_a_bucket_give_the_same_warehouse_as_local_folders(tmp_path, aws, monkeypatch):
    local = Home.at(tmp_path / "local").ensure()
    files = _landing(local.landing)
    _run(local)

    for path in files:
        aws.upload_file(str(path), BUCKET, f"landing/{path.relative_to(local.landing).as_posix()}")
    monkeypatch.setenv(LANDING_URL_ENV, f"s3://{BUCKET}/landing")
    monkeypatch.setenv(LAKE_URL_ENV, f"s3://{BUCKET}/lake")
    remote = Home.at(tmp_path / "remote").ensure()
    ingested = _run(remote)

    lake = _keys(aws, "lake/")
    assert any(k.startswith("lake/gateway_requests/event_date=2026-11-02/") and k.endswith(".parquet") for k in lake)
    assert any(k.startswith("lake/gateway_requests/event_date=2026-11-03/") for k in lake)
    assert sum(k.startswith("lake/_audit/ingested_files/") for k in lake) == len(files)
    assert not list(remote.lake.rglob("*.parquet")), "with a lake URL nothing may be written to the local lake folder"

    metadata = ingested.asset_materializations_for_node("lake__gateway_requests")[0].metadata
    assert metadata["files_ingested"].value == len(files)
    assert metadata["rows_rejected"].value == 4 * 4 + 1
    remote_tables, local_tables = _tables(remote), _tables(local)
    assert remote_tables == local_tables
    assert len(remote_tables["core.request_costs"]) == 2 * 300 + 1
    assert _query(remote, "select provider, model, is_priced from core.request_costs where request_id = 'pq-1'") == [
        ("google", "gemini-2.5-flash", True)
    ]

    again = _run(remote).asset_materializations_for_node("lake__gateway_requests")[0].metadata
    assert again["files_ingested"].value == 0 and again["files_unchanged"].value == len(files)
    assert _tables(remote) == remote_tables


_COMMIT_DAY = """
import datetime as dt
import sys

from pipelines.storage.database import connect_scratch
from pipelines.storage.home import Home
from pipelines.storage.lake_tables import commit_window

home, day = Home.at(sys.argv[1]), dt.date.fromisoformat(sys.argv[2])
select = f"select date '{day}' as event_date, range as n, (range * 0.001)::decimal(38, 15) as cost_usd from range(1000)"
with connect_scratch(home) as con:
    print(commit_window(home, con, "test.concurrent_days", select, day, day + dt.timedelta(days=1), {})[0])
"""


@pytest.mark.parametrize("where", ["bucket", "local"])
def test_concurrent_commits_to_one_lake_table_all_land(tmp_path, aws, monkeypatch, where):
    """Four processes each replace another day of one Delta table at the same moment (as four partition runs
    pricing at once do): every commit lands, none is lost, and each day holds exactly its rows."""
    from deltalake import DeltaTable

    from pipelines.storage.lake_tables import open_table

    if where == "bucket":
        monkeypatch.setenv(LAKE_URL_ENV, f"s3://{BUCKET}/lake")
    home = Home.at(tmp_path / "home").ensure()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    days = [(START + dt.timedelta(days=n)).isoformat() for n in range(5)]
    first = subprocess.run([sys.executable, "-c", _COMMIT_DAY, str(home.root), days[0]], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    together = [subprocess.Popen([sys.executable, "-c", _COMMIT_DAY, str(home.root), day], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env) for day in days[1:]]
    for process in together:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        assert out.strip() == "1000"

    table = open_table(home, "test.concurrent_days")
    assert isinstance(table, DeltaTable) and table.version() == len(days) - 1  # one commit per process
    rows = table.to_pyarrow_dataset().to_table().group_by("event_date").aggregate([("n", "count"), ("cost_usd", "sum")])
    assert sorted((str(d), n, str(c)) for d, n, c in zip(*(rows[col].to_pylist() for col in ("event_date", "n_count", "cost_usd_sum")))) == [
        (day, 1000, "499.500000000000000") for day in days
    ]
    if where == "bucket":
        assert any(k.startswith("lake/tables/test/concurrent_days/_delta_log/") for k in _keys(aws, "lake/tables/"))
