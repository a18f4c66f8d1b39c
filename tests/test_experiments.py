"""Experiments: variants from tags or the assignment feed, point estimates by hand, and the verdicts' error rates.

The SQL files run on an in-memory DuckDB with the tables they read built from Arrow rows (as in tests/sql/), and
the statistics run for real (`insights.experiments.experiment_stats`): an A/A experiment over 100 seeds, a planted
30% cost cut, a split that does not match its design, units found in two variants.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from pipelines.insights.experiments import (
    Design,
    ExperimentDesignError,
    designs_table,
    experiment_stats,
    load_designs,
    sample_ratio,
)
from pipelines.records.business import EXPERIMENTS, parse_experiments
from pipelines.storage.database import sql_text
from pipelines.storage.money import define_money_macros
from pipelines.warehouse.tables import OUTCOME_REQUESTS

MONEY = pa.decimal128(38, 15)
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

REQUESTS = pa.schema(
    [("source", pa.string()), ("request_id", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")), ("event_date", pa.date32()),
     ("feature", pa.string()), ("provider", pa.string()), ("model", pa.string()), ("service_tier", pa.string()),
     ("user_id", pa.string()), ("customer_id", pa.string()), ("conversation_id", pa.string()), ("latency_ms", pa.int64()),
     ("status", pa.string()), ("is_priced", pa.bool_()), ("cost_usd", MONEY), ("tags", pa.string())]
)
OUTCOMES = pa.schema(
    [("outcome_id", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")), ("event_date", pa.date32()), ("outcome_type", pa.string()),
     ("feature", pa.string()), ("request_id", pa.string()), ("conversation_id", pa.string()), ("linked_by", pa.string()),
     ("value_usd", MONEY)]
)


@pytest.fixture
def con():
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        define_money_macros(con)
        for schema in ("core", "marts"):
            con.execute(f"create schema {schema}")
        yield con


def _request(request_id: str, cost: str, latency: int, *, conversation: str | None = None, user: str | None = None,
             experiment: str | None = "e", variant: str | None = None, status: str = "ok", at: dt.datetime = T0,
             feature: str = "support_chat", model: str = "gpt-4o") -> dict:
    tags = json.dumps({"experiment": experiment, "variant": variant}) if experiment and variant else None
    return {"source": "envelope", "request_id": request_id, "occurred_at": at, "event_date": at.date(), "feature": feature,
            "provider": "openai", "model": model, "service_tier": "standard", "user_id": user, "customer_id": None,
            "conversation_id": conversation, "latency_ms": latency, "status": status, "is_priced": True,
            "cost_usd": Decimal(cost), "tags": tags}


def _outcome(outcome_id: str, *, conversation: str | None = None, request: str | None = None, feature: str = "support_chat") -> dict:
    return {"outcome_id": outcome_id, "occurred_at": T0, "event_date": T0.date(), "outcome_type": "resolved", "feature": feature,
            "request_id": request, "conversation_id": conversation, "linked_by": "conversation_id" if conversation else "request_id",
            "value_usd": None}


def _load(con, requests, outcomes=(), assignments=None) -> None:
    for name, rows, schema in (("core.request_costs", requests, REQUESTS), ("core.outcomes", outcomes, OUTCOMES)):
        con.register("_rows", rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows), schema=schema))
        con.execute(f"create or replace table {name} as select * from _rows")
        con.unregister("_rows")
    con.register("lake_experiment_assignments", assignments if assignments is not None else EXPERIMENTS.lake_schema.empty_table())


def _results(con, designs: dict | None = None) -> list[dict]:
    con.register("experiment_designs", designs_table(designs or {}))
    OUTCOME_REQUESTS.setup(con, None, (dt.date.min, dt.date.max))  # the table macro the pipeline defines for it
    for name in ("core.experiment_assignments", "core.experiment_units"):
        con.execute(f"create or replace table {name} as {sql_text(name)}")
    con.register("experiment_stats", experiment_stats(con, designs or {}))
    cursor = con.execute(f"select * from ({sql_text('marts.experiment_results')}) order by experiment, feature, variant")
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


# ---------------------------------------------------------------- by hand


def test_point_estimates_per_variant_by_hand(con):
    requests = [
        # control a: conversations c1 (2 requests, resolved) and c2 (1 request, an error, not resolved)
        _request("r1", "0.010", 100, conversation="c1", variant="a"),
        _request("r2", "0.020", 300, conversation="c1", variant="a"),
        _request("r3", "0.030", 200, conversation="c2", variant="a", status="error"),
        # variant b: c3 resolved twice (two outcome events), c4 resolved by a request-linked outcome, c5 not
        _request("r4", "0.005", 50, conversation="c3", variant="b"),
        _request("r5", "0.001", 70, conversation="c4", variant="b"),
        _request("r6", "0.004", 900, conversation="c5", variant="b"),
        _request("r7", "0.002", 60, conversation="c5", variant="b"),
        # not in the experiment
        _request("r8", "9", 10, conversation="c9", experiment=None),
    ]
    outcomes = [_outcome("o1", conversation="c1"), _outcome("o2", conversation="c3"), _outcome("o3", conversation="c3"),
                _outcome("o4", request="r5"), _outcome("o5", conversation="c9"),
                _outcome("o6", conversation="c1", feature="search")]  # another feature: not support_chat's
    _load(con, requests, outcomes)
    a, b = _results(con)
    assert (a["variant"], a["is_control"], b["is_control"], b["control_variant"]) == ("a", True, False, "a")
    # a: 2 units, 3 requests, 0.06 USD, 1 outcome -> 0.5 outcomes per unit, 0.06 per outcome, 0.03 per unit
    assert (a["units"], a["requests"], a["cost_usd"], a["outcomes"]) == (2, 3, Decimal("0.06"), 1)
    assert (a["outcome_rate"], a["cost_per_outcome"], a["cost_per_unit"]) == (0.5, Decimal("0.06"), Decimal("0.03"))
    # latencies 100, 200, 300: p50 = 200; p95 = 300 (quantile_disc); one error in three requests
    assert (a["p50_latency_ms"], a["p95_latency_ms"], a["error_rate"]) == (200, 300, pytest.approx(1 / 3))
    # b: 3 units, 4 requests, 0.012 USD, 3 outcomes (o2, o3, o4) -> 1 per unit, 0.004 per outcome, 0.004 per unit
    assert (b["units"], b["requests"], b["cost_usd"], b["outcomes"]) == (3, 4, Decimal("0.012"), 3)
    assert (b["outcome_rate"], b["cost_per_outcome"], b["cost_per_unit"]) == (1.0, Decimal("0.004"), Decimal("0.004"))
    # latencies 50, 60, 70, 900: p50 = 60 (the 2nd of 4), p95 = 900
    assert (b["p50_latency_ms"], b["p95_latency_ms"], b["error_rate"]) == (60, 900, 0.0)
    # against the control: differences exact, ratios as DOUBLE
    assert b["cost_per_outcome_diff"] == Decimal("-0.056")
    assert b["cost_per_outcome_ratio"] == pytest.approx(0.004 / 0.06)
    assert (b["outcome_rate_diff"], b["outcome_rate_ratio"]) == (0.5, 2.0)
    assert (b["p95_latency_diff_ms"], b["p95_latency_ratio"]) == (600, 3.0)
    # 2 and 3 units are far below min_units: no verdict
    assert b["verdict"] == b["cost_per_outcome_verdict"] == "too_few_units"
    assert a["verdict"] is None and a["cost_per_outcome_diff"] is None
    assert b["conflicting_units"] == 0


def test_assignment_feed_places_a_units_requests_after_assigned_at_and_the_feed_marks_the_control(con, tmp_path):
    feed = "\n".join(json.dumps(r) for r in [
        {"experiment": "e", "variant": "new", "user_id": "p_u1", "assigned_at": "2026-11-02T09:00:00Z"},
        {"experiment": "e", "variant": "old", "user_id": "p_u2", "assigned_at": "2026-11-02T09:00:00Z", "is_control": "true"},
        {"experiment": "e", "variant": "old", "conversation_id": "c7", "assigned_at": "2026-11-02T09:00:00+01:00"},
    ]).encode()
    parsed = parse_experiments(feed, "assign.jsonl")
    assert parsed.rejected.num_rows == 0
    rows = parsed.rows.append_column("source_file", pa.array(["x"] * 3)).append_column("file_id", pa.array(["f"] * 3))
    before = T0 - dt.timedelta(minutes=1)
    requests = [
        _request("r1", "0.01", 100, user="p_u1", experiment=None),
        _request("r0", "5", 100, user="p_u1", experiment=None, at=before),  # before the assignment: not in it
        _request("r2", "0.02", 100, user="p_u2", experiment=None),
        _request("r3", "0.03", 100, conversation="c7", experiment=None, at=T0 - dt.timedelta(minutes=30)),  # 08:30Z, after 08:00Z
    ]
    _load(con, requests, assignments=rows.cast(EXPERIMENTS.lake_schema))
    new, old = _results(con)
    assert (new["variant"], new["is_control"], new["units"], new["requests"], new["cost_usd"]) == ("new", False, 1, 1, Decimal("0.01"))
    assert (old["variant"], old["is_control"], old["units"], old["requests"], old["cost_usd"]) == ("old", True, 2, 2, Decimal("0.05"))
    units = con.execute("select unit_type, unit_id, requests from core.experiment_units order by all").fetchall()
    assert units == [("conversation_id", "c7", 1), ("user_id", "p_u1", 1), ("user_id", "p_u2", 1)]


def test_a_unit_in_two_variants_is_left_out_and_counted(con):
    requests = [
        _request("r1", "0.01", 100, conversation="c1", variant="a"),
        _request("r2", "0.01", 100, conversation="c2", variant="b"),
        _request("r3", "0.50", 100, conversation="c3", variant="a"),
        _request("r4", "0.70", 100, conversation="c3", variant="b"),  # c3 ran under both: belongs to neither
    ]
    assignments = pa.Table.from_pylist([
        # u9 assigned twice to different variants (say in two files): rejected from the results, counted
        {"source_row": 1, "experiment": "e", "variant": "a", "user_id": "p_u9", "assigned_at": T0, "event_date": T0.date(), "source_file": "x", "file_id": "f"},
        {"source_row": 2, "experiment": "e", "variant": "b", "user_id": "p_u9", "assigned_at": T0, "event_date": T0.date(), "source_file": "y", "file_id": "g"},
    ], schema=EXPERIMENTS.lake_schema)
    _load(con, requests, assignments=assignments)
    a, b = _results(con)
    assert (a["units"], a["cost_usd"], b["units"], b["cost_usd"]) == (1, Decimal("0.01"), 1, Decimal("0.01"))
    assert a["conflicting_units"] == b["conflicting_units"] == 2
    conflicts = con.execute(sql_text("checks/core__experiment_units__one_variant_per_unit")).fetchall()
    assert conflicts == [("e", "conversation_id", "c3")]
    (variants,) = con.execute("select conflicting_variants from core.experiment_assignments where conflict").fetchone()
    assert variants == "a, b"


# ---------------------------------------------------------------- error rates of the verdicts


def _simulated(seed: int, units: int = 300, cost_factor: float = 1.0, resolve: float = 0.5, share_b: float = 0.5) -> tuple[pa.Table, pa.Table]:
    """`units` conversations split at random between a and b: 1-6 requests each, lognormal cost and latency,
    resolved with probability `resolve`; b's costs are multiplied by `cost_factor`."""
    rng = np.random.default_rng(seed)
    variant = np.where(rng.random(units) < share_b, "b", "a")
    per_unit = rng.integers(1, 7, units)
    unit = np.repeat(np.arange(units), per_unit)
    n = len(unit)
    unit_level = rng.lognormal(0, 0.5, units)  # requests of one conversation are alike: the unit matters
    cost = unit_level[unit] * rng.lognormal(np.log(0.002), 0.6, n) * np.where(variant[unit] == "b", cost_factor, 1.0)
    latency = (unit_level[unit] * rng.lognormal(np.log(800), 0.4, n)).astype(np.int64)
    conversations = np.array([f"c{i}" for i in range(units)])[unit]
    tags = np.array([json.dumps({"experiment": "e", "variant": v}) for v in ("a", "b")])[(variant[unit] == "b").astype(int)]
    requests = pa.table({
        "source": pa.array(["envelope"] * n), "request_id": pa.array([f"r{i}" for i in range(n)]),
        "occurred_at": pa.array([T0] * n, pa.timestamp("us", tz="UTC")), "event_date": pa.array([T0.date()] * n, pa.date32()),
        "feature": pa.array(["support_chat"] * n), "provider": pa.array(["openai"] * n), "model": pa.array(["gpt-4o"] * n),
        "service_tier": pa.array(["standard"] * n), "user_id": pa.nulls(n, pa.string()), "customer_id": pa.nulls(n, pa.string()),
        "conversation_id": pa.array(conversations), "latency_ms": pa.array(latency), "status": pa.array(["ok"] * n),
        "is_priced": pa.array([True] * n), "cost_usd": pa.array([Decimal(f"{c:.12f}") for c in cost], MONEY), "tags": pa.array(tags),
    }, schema=REQUESTS)
    resolved = np.flatnonzero(rng.random(units) < resolve)
    outcomes = pa.Table.from_pylist([_outcome(f"o{i}", conversation=f"c{i}") for i in resolved], schema=OUTCOMES)
    return requests, outcomes


def test_an_aa_experiment_finds_no_difference_in_at_least_95_of_100_seeds(con):
    verdicts = {metric: [] for metric in ("verdict", "cost_per_outcome_verdict", "outcome_rate_verdict", "p95_latency_verdict")}
    for seed in range(100):
        requests, outcomes = _simulated(seed)
        _load(con, requests, outcomes)
        (_, b) = _results(con)
        for metric in verdicts:
            verdicts[metric].append(b[metric])
    for metric, found in verdicts.items():
        print(metric, {v: found.count(v) for v in set(found)})
        assert found.count("no_difference") >= 95, (metric, {v: found.count(v) for v in set(found)})


def test_a_planted_30_percent_cost_cut_is_better_on_cost_and_no_different_on_outcomes(con):
    requests, outcomes = _simulated(7, units=2000, cost_factor=0.7)
    _load(con, requests, outcomes)
    a, b = _results(con)
    assert b["cost_per_outcome_verdict"] == "better" and b["verdict"] == "better"
    assert b["outcome_rate_verdict"] == "no_difference"
    assert b["cost_per_outcome_ratio_low"] < 0.7 < b["cost_per_outcome_ratio_high"] < 1
    assert b["cost_per_outcome_diff_low"] < float(b["cost_per_outcome_diff"]) < b["cost_per_outcome_diff_high"] < 0
    assert "bootstrap" in b["interval_method"] and b["sample_ratio_mismatch"] is False


def test_a_split_that_does_not_match_its_design_is_flagged(con):
    requests, outcomes = _simulated(3, units=2000, share_b=0.4)
    _load(con, requests, outcomes)
    a, b = _results(con)
    assert a["sample_ratio_mismatch"] and a["srm_p_value"] < 0.001 and a["expected_share"] == 0.5
    con.execute(f"create table marts.experiment_results as {sql_text('marts.experiment_results')}")
    flagged = con.execute(sql_text("checks/marts__experiment_results__sample_ratio_as_designed")).fetchall()
    assert [row[0] for row in flagged] == ["e"]
    # designed 60/40: no mismatch
    a, b = _results(con, {"e": Design(split={"a": Decimal(60), "b": Decimal(40)})})
    assert not a["sample_ratio_mismatch"] and a["expected_share"] == 0.6


def test_experiments_yaml_names_the_file_experiment_and_key(tmp_path):
    assert load_designs(tmp_path) == {}
    (tmp_path / "experiments.yaml").write_text("experiments:\n  e:\n    control: old\n    split: {old: 50, new: 50}\n    min_units: 100\n")
    assert load_designs(tmp_path) == {"e": Design(control="old", split={"old": Decimal(50), "new": Decimal(50)}, min_units=100)}
    for text, message in [
        ("experiments:\n  e:\n    spilt: {}\n", "experiments.yaml: experiments.'e': unknown key 'spilt'"),
        ("experiments:\n  e:\n    split: {a: -1}\n", "split.'a' must be a positive number, found -1"),
        ("experiments:\n  e:\n    min_units: 1\n", "min_units must be a whole number from 2 on, found 1"),
        ("- e\n", "expected a mapping with one key, experiments"),
    ]:
        (tmp_path / "experiments.yaml").write_text(text)
        with pytest.raises(ExperimentDesignError, match=message.replace("(", r"\(").replace("{", r"\{").replace(".", r"\.")):
            load_designs(tmp_path)


# ---------------------------------------------------------------- the assignment feed


def test_assignment_feed_rejects_rows_naming_no_unit_two_units_or_a_bad_timestamp():
    lines = [
        {"experiment": "e", "variant": "a", "user_id": "u_secret_1", "assigned_at": "2026-11-02T09:00:00Z", "is_control": "yes"},
        {"experiment": "e", "variant": "a", "assigned_at": "2026-11-02T09:00:00Z"},
        {"experiment": "e", "variant": "a", "user_id": "u_secret_2", "conversation_id": "c1", "assigned_at": "2026-11-02T09:00:00Z"},
        {"experiment": "e", "variant": "a", "conversation_id": "c1", "assigned_at": "2026-11-02 09:00:00"},
        {"experiment": "e", "variant": "a", "conversation_id": "c1", "assigned_at": "2026-11-02T09:00:00Z", "is_control": "maybe"},
        {"variant": "a", "conversation_id": "c1", "assigned_at": "2026-11-02T09:00:00Z"},
    ]
    result = parse_experiments("\n".join(json.dumps(r) for r in lines).encode(), "a.jsonl")
    assert result.rows.num_rows == 1 and result.rows["is_control"].to_pylist() == [True]
    assert [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()] == [
        (2, "user_id", "missing: an assignment names one of user_id, conversation_id, customer_id"),
        (3, "user_id", "an assignment names one unit, found 2 of user_id, conversation_id, customer_id"),
        (4, "assigned_at", "timestamp has no UTC offset: '2026-11-02 09:00:00'"),
        (5, "is_control", "not true or false: 'maybe'"),
        (6, "experiment", "missing required field"),
    ]
    # a rejected record keeps no raw user id
    assert not [r for r in result.rejected["record"].to_pylist() if "u_secret" in (r or "")]


def test_tagged_units_are_users_unless_a_user_ran_under_two_variants_or_experiments_yaml_names_the_unit(con):
    by_user = [
        _request("r1", "0.01", 100, user="p_u1", conversation="c1", variant="a"),
        _request("r2", "0.01", 100, user="p_u1", conversation="c2", variant="a"),
        _request("r3", "0.01", 100, user="p_u2", conversation="c3", variant="b"),
        _request("r5", "0.01", 100, conversation="c5", variant="b"),  # no user: its conversation
    ]
    _load(con, by_user)
    a, b = _results(con)
    assert (a["units"], b["units"], a["conflicting_units"]) == (1, 2, 0)  # u1; u2 and c5
    # u2 also ran under a: randomized per conversation, so conversations are the units
    per_conversation = [*by_user, _request("r4", "0.01", 100, user="p_u2", conversation="c4", variant="a")]
    _load(con, per_conversation)
    a, b = _results(con)
    assert (a["units"], b["units"], a["conflicting_units"]) == (3, 2, 0)  # c1, c2, c4; c3, c5
    units = con.execute("select unit_type, unit_id, latencies_ms from core.experiment_units order by unit_id").fetchall()
    assert units == [("conversation_id", f"c{n}", [100]) for n in range(1, 6)]
    # experiments.yaml fixes the unit: per user, u2 is in two variants and is left out
    a, b = _results(con, {"e": Design(unit="user_id")})
    assert (a["units"], b["units"], a["conflicting_units"]) == (1, 1, 1)


# ---------------------------------------------------------------- through the real pipeline


def test_the_pipeline_ingests_assignments_and_builds_the_experiment_marts(home):
    from helpers import envelope, land

    from pipelines.ingest.privacy import load_key, pseudonymize
    from pipelines.runner import run_pipeline

    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    lines = []
    for i in range(40):  # 40 users, 2 requests each; users 0-19 assigned a, 20-39 b by the feed; u_39 also a (a conflict)
        for j in range(2):
            lines.append(envelope(f"r{i}-{j}", "openai", "gpt-4o-2024-08-06" if i < 20 else "gpt-4o-mini-2024-07-18", usage,
                                  user_id=f"u_{i}", conversation_id=f"c_{i}_{j}", latency_ms=500 + i, status="ok"))
    lines.append(envelope("tagged", "openai", "gpt-4o-2024-08-06", usage, user_id="u_99", tags={"experiment": "t", "variant": "x"}))
    hostile = "<script>alert(1)</script>\x1b[2J\nforged"
    lines.append(envelope("hostile", "openai", "gpt-4o-2024-08-06", usage, user_id="u_98", tags={"experiment": hostile, "variant": hostile}))
    land(home, "2026-11-27/requests.jsonl", lines)
    folder = home.landing / "experiments"
    folder.mkdir(parents=True)
    rows = [{"experiment": "e", "variant": "a" if i < 20 else "b", "user_id": f"u_{i}", "assigned_at": "2026-11-27T00:00:00Z",
             **({"is_control": True} if i == 0 else {})} for i in range(40)]
    rows.append({"experiment": "e", "variant": "a", "user_id": "u_39", "assigned_at": "2026-11-27T00:00:00Z"})
    rows.append({"experiment": "e", "variant": "a", "user_id": "u_raw_rejected", "conversation_id": "c1", "assigned_at": "2026-11-27T00:00:00Z"})
    (folder / "assignments.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    (folder / "more.csv").write_text("experiment,variant,user_id,assigned_at\ne,b,u_20,2026-11-27T00:00:00Z\n", encoding="utf-8")  # a duplicate

    summary = run_pipeline(home, progress=lambda _: None)
    assert any("one_variant_per_unit" in w for w in summary.warnings), summary.warnings
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        files = con.execute(
            "select rows_read, rows_loaded, rows_rejected, rows_duplicate from audit.ingested_files where path like '%experiments/%' order by 1"
        ).fetchall()
        assert sorted(files) == [(1, 0, 0, 1), (42, 41, 1, 0)]
        (field, reason, record) = con.execute(
            "select field, reason, record from audit.rejected_rows where source_file like '%experiments/assignments.jsonl'").fetchone()
        assert (field, reason) == ("user_id", "an assignment names one unit, found 2 of user_id, conversation_id, customer_id")
        assert "u_raw_rejected" not in record
        units = dict(con.execute("select unit_id, variant from core.experiment_assignments").fetchall())
        key = load_key(home.secrets)
        assert units[pseudonymize(pa.array(["u_3"]), key)[0].as_py()] == "a" and not [u for u in units if u.startswith("u_")]
        results = {(r[0], r[1]): r[2:] for r in con.execute(
            "select experiment, variant, units, requests, is_control, conflicting_units, verdict from marts.experiment_results").fetchall()}
    # u_39 is in a and b: left out and counted; e's control is the variant the feed marked
    assert results[("e", "a")] == (20, 40, True, 1, None)
    assert results[("e", "b")] == (19, 38, False, 1, "too_few_units")
    assert results[("t", "x")] == (1, 1, True, 0, None)

    # tokenledger experiments prints each experiment's variants, the control first, with the verdicts
    env = {k: v for k, v in os.environ.items() if k not in ("TOKENLEDGER_HOME", "TOKENLEDGER_PSEUDONYM_KEY")}
    cli = [sys.executable, "-m", "pipelines.cli", "experiments", "--home", str(home.root)]
    done = subprocess.run(cli + ["--experiment", "e"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "e / support_chat; 1 units in two variants left out" in lines
    (control,) = [line for line in lines if line.strip().startswith("a ")]
    (variant,) = [line for line in lines if line.strip().startswith("b ")]
    assert lines.index(control) < lines.index(variant) and control.rstrip().endswith("control")
    assert "too_few_units" in variant and "t / " not in done.stdout
    # a hostile experiment name is printed escaped, and drawn as text in the report
    everything = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=300)
    assert everything.returncode == 0 and "\x1b" not in everything.stdout and "<script>alert(1)</script>\\x1b[2J\\nforged" in everything.stdout
    from pipelines.report import write_report

    page = write_report(home).read_text(encoding="utf-8")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    missing = subprocess.run(cli + ["--experiment", "nope"], capture_output=True, text=True, env=env, timeout=300)
    assert missing.returncode == 2 and missing.stderr == "tokenledger: no experiment named 'nope' in marts.experiment_results\n"


def test_a_parquet_feed_with_typed_columns_is_read_like_the_text_formats():
    import io

    import pyarrow.parquet as pq

    table = pa.table({
        "experiment": ["e", "e"], "variant": ["a", "b"], "conversation_id": ["c1", "c2"],
        "assigned_at": pa.array([T0, T0 + dt.timedelta(hours=1)], pa.timestamp("us", tz="UTC")),
        "is_control": [True, False],
    })
    sink = io.BytesIO()
    pq.write_table(table, sink)
    result = parse_experiments(sink.getvalue(), "assignments.parquet")
    assert result.rejected.num_rows == 0, result.rejected.to_pylist()
    assert result.rows.select(["variant", "conversation_id", "assigned_at", "is_control"]).to_pylist() == [
        {"variant": "a", "conversation_id": "c1", "assigned_at": T0, "is_control": True},
        {"variant": "b", "conversation_id": "c2", "assigned_at": T0 + dt.timedelta(hours=1), "is_control": False},
    ]


def test_a_designed_variant_without_any_unit_is_a_mismatch():
    """experiments.yaml splits 50/50 and only `a` has units (80 of them): the strongest mismatch, chi-square 80 with one
    degree of freedom. The designed variant without units was left out: one variant, no test, expected share 1.0."""
    expected, p_value = sample_ratio({"a": 80}, Design(split={"a": Decimal(50), "b": Decimal(50)}))
    assert expected == {"a": 0.5, "b": 0.5}
    assert p_value == pytest.approx(3.7e-19, rel=0.05)
    # three designed, two seen in the designed ratio of the three: b's missing third is still a mismatch
    expected, p_value = sample_ratio({"a": 400, "c": 400}, Design(split={"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)}))
    assert p_value < 1e-50
    # a variant seen but not designed: the design cannot be the reference, so the seen variants share equally
    expected, p_value = sample_ratio({"a": 50, "z": 50}, Design(split={"a": Decimal(50), "b": Decimal(50)}))
    assert expected == {"a": 0.5, "z": 0.5} and p_value == pytest.approx(1.0)
    # units in a variant designed to get none
    assert sample_ratio({"a": 10, "b": 1}, Design(split={"a": Decimal(100), "b": Decimal(0)}))[1] == 0.0
