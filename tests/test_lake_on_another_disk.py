"""A lake on another filesystem than the home's scratch (`TOKENLEDGER_LAKE_URL` naming a folder on another disk):
ingestion moved its staged files from `<home>/.tmp` into the lake with a rename, which fails across filesystems
("Invalid cross-device link"), so no file ever ingested. It now copies them beside their place and renames there.
The lake is put on a second filesystem of this machine (/dev/shm, a tmpfs) when there is one; elsewhere the rename
fails as the kernel would (EXDEV) for a move out of the scratch."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from helpers import envelope, land, sample_usage

from pipelines.runner import run_pipeline
from pipelines.settings import LAKE_URL_ENV

SHM = Path("/dev/shm")


@pytest.fixture
def lake_elsewhere(home, monkeypatch):
    if SHM.is_dir() and os.access(SHM, os.W_OK) and SHM.stat().st_dev != home.root.stat().st_dev:
        folder = Path(tempfile.mkdtemp(prefix="tokenledger-lake-", dir=SHM))
    else:
        folder = home.root.parent / "other-disk-lake"
        real = os.replace

        def across(source, target, *args, **kwargs):
            if Path(source).is_relative_to(home.scratch) and not Path(target).is_relative_to(home.scratch):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(source), None, str(target))
            return real(source, target, *args, **kwargs)

        monkeypatch.setattr(os, "replace", across)
    monkeypatch.setenv(LAKE_URL_ENV, str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_lake_on_another_filesystem_ingests(home, lake_elsewhere):
    land(home, "samples.jsonl", [envelope("req_openai", "openai", "gpt-4o-2024-08-06", sample_usage("openai_chat_completions_usage.json"))])
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select request_id, cost_usd from core.request_costs").fetchall() == [("req_openai", Decimal("0.005615"))]
    assert [p.name for p in (lake_elsewhere / "gateway_requests").rglob("*.parquet")] and not any(home.scratch.rglob("*.parquet"))
    assert not [p for p in lake_elsewhere.rglob(".*.tmp")]
