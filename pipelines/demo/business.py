"""Synthetic business inputs for the demo: outcome events, revenue records, self-hosted GPU capacity with power
draw, overhead bills and grid carbon intensity.

They are derived from the gateway logs already landed under `<home>/landing/gateway/envelope/`, so every
outcome links to real demo requests (by conversation_id or request_id), every paying customer is a demo
customer, and GPU records exist for the self-hosted clusters the logs use. Generation is set-based in DuckDB
and deterministic: the same logs and seed give the same files. The selects are sql/queries/demo_*.sql; Python
registers OUTCOME_RULES and PLANS as tables for them and writes each result where it lands.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.storage.database import in_memory, sql_text
from pipelines.storage.home import Home
from pipelines.storage.relations import sql_literal

OUTCOMES_DIR = "outcomes"
REVENUE_DIR = "revenue"
GPU_DIR = "gpu"
OVERHEAD_DIR = "overhead"
CARBON_DIR = "carbon"

# feature -> (outcome_type, linked by, chance per conversation or request, value_usd per outcome)
OUTCOME_RULES = {
    "support_chat": ("ticket_resolved", "conversation_id", 0.55, Decimal("6.50")),
    "agent_workflows": ("task_completed", "conversation_id", 0.45, Decimal("18.00")),
    "code_assist": ("suggestion_accepted", "request_id", 0.32, Decimal("0.40")),
    "search": ("answer_clicked", "request_id", 0.28, None),
    "summarize": ("summary_exported", "request_id", 0.50, None),
    "email_draft": ("draft_sent", "request_id", 0.40, Decimal("0.25")),
}
_OUTCOME_RULES_SCHEMA = pa.schema([
    ("feature", pa.string()), ("outcome_type", pa.string()), ("linked_by", pa.string()), ("chance", pa.float64()),
    ("value_usd", pa.decimal128(18, 2)),
])

# segment -> (plan, monthly price in USD, share of its customers billed yearly at 10 months' price)
PLANS = {
    "pro": ("pro", Decimal("49.00"), 0.0),
    "team": ("team", Decimal("399.00"), 0.3),
    "enterprise": ("enterprise", Decimal("4800.00"), 0.5),
}
_PLANS_SCHEMA = pa.schema([
    ("user_segment", pa.string()), ("plan", pa.string()), ("monthly_price", pa.decimal128(18, 2)), ("yearly_share", pa.float64()),
])

GPU_TYPE = "H100-80GB"
GPU_HOURLY_RATE = "2.49"
GPU_TOKENS_PER_HOUR = 2_500_000
"""Tokens one GPU serves per hour at full load (capacity_tokens_per_hour)."""
TARGET_UTILIZATION = 0.6
GPU_POWER_WATTS = 610
"""The demo cluster's measured average draw per GPU (an H100 SXM's board power is 700 W)."""
GRID_REGION = "us-east-1"
GRID_GCO2E_PER_KWH = (372, 395, 410, 388, 366, 402, 381)
"""A week of daily grid intensity for the demo cluster's region, repeated (gCO2e/kWh)."""

# category, allocate_by, restriction (provider= or cluster=), USD per day, description
OVERHEAD = (
    ("egress", "tokens", "", Decimal("3.20"), "response egress"),
    ("storage", "tokens", "cluster", Decimal("1.45"), "model weights and KV-cache disks"),
    ("storage", "requests", "", Decimal("0.85"), "embedding store"),
    ("observability", "requests", "", Decimal("2.10"), "tracing and log retention"),
    ("load_balancing", "requests", "", Decimal("0.75"), "gateway load balancer"),
    ("engineering", "feature:agent_workflows", "", Decimal("12.00"), "on-call for the agent runtime"),
)


SELF_HOSTED_PROVIDER = "self_hosted:gpu-pool-a"
SELF_HOSTED_MODEL = "llama-3.1-70b-instruct"
SELF_HOSTED_SHARE = 0.06
"""Share of summarize and search requests the demo also sends to its self-hosted cluster."""


def write_self_hosted_logs(home: Home, seed: int) -> Path | None:
    """Envelope logs for a self-hosted cluster: a sample of the demo's summarize and search requests
    served again by an open-weights model (plain input/output tokens), under landing/gateway/envelope/."""
    files = sorted(str(p) for p in (home.landing / "gateway" / "envelope").rglob("*.jsonl*") if "self_hosted" not in p.name)
    if not files:
        return None
    path = home.landing / "gateway" / "envelope" / "self_hosted.jsonl"
    params = {
        "files": files, "seed": str(seed), "per_mille": int(SELF_HOSTED_SHARE * 1000),
        "provider": SELF_HOSTED_PROVIDER, "model": SELF_HOSTED_MODEL,
    }
    with in_memory() as con:
        con.execute(f"copy ({sql_text('queries/demo_self_hosted_requests')}) to {sql_literal(path.as_posix())} (format json)", params)
    return path


def generate_business_data(home: Home, start: dt.date, end: dt.date, seed: int) -> dict:
    """Write outcomes, revenue and GPU records for the demo requests landed between start and end (inclusive).

    Files: landing/outcomes/<date>.jsonl (one per day, plus one outcome without a link per file, which ingestion
    rejects), landing/revenue/subscriptions.csv, landing/overhead/overhead.csv, landing/carbon/grid.csv and,
    when the logs hold self_hosted:<cluster> requests, landing/gpu/capacity.csv. Returns what was written.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    files = sorted(str(p) for p in (home.landing / "gateway" / "envelope").rglob("*.jsonl*") if not p.name.startswith("."))
    summary = {"outcomes": 0, "revenue_records": 0, "gpu_records": 0, "self_hosted_clusters": [], "files": []}
    if not files:
        return summary
    with in_memory() as con:
        con.execute("set TimeZone = 'UTC'")
        _load_requests(con, files, start, end)
        summary["outcomes"] = _write_outcomes(con, home.landing / OUTCOMES_DIR, seed, summary["files"])
        summary["revenue_records"] = _write_revenue(con, home.landing / REVENUE_DIR, start, end, seed, summary["files"])
        summary["gpu_records"], summary["self_hosted_clusters"] = _write_gpu(
            con, home.landing / GPU_DIR, start, end, summary["files"]
        )
    summary["overhead_records"] = _write_overhead(home.landing / OVERHEAD_DIR, start, end, summary["self_hosted_clusters"], summary["files"])
    summary["carbon_records"] = _write_carbon(home.landing / CARBON_DIR, start, end, summary["files"])
    return summary


def _load_requests(con: duckdb.DuckDBPyConnection, files: list[str], start: dt.date, end: dt.date) -> None:
    """The demo's good requests in [start, end]: lines the pipeline loads (bad lines and duplicates left out)."""
    params = {"files": files, "start": start, "end": end}
    con.execute(f"create temp table requests as {sql_text('queries/demo_requests')}", params)


def _write_outcomes(con: duckdb.DuckDBPyConnection, folder: Path, seed: int, written: list[str]) -> int:
    """One JSON Lines file per day of outcome events, each with one outcome that links to nothing; returns the events drawn."""
    _register(con, "outcome_rules", OUTCOME_RULES, _OUTCOME_RULES_SCHEMA)
    con.execute(f"create temp table outcomes as {sql_text('queries/demo_outcomes')}", {"seed": seed})
    folder.mkdir(parents=True, exist_ok=True)
    days = [row[0] for row in con.execute("select distinct cast(occurred_at as date) from outcomes order by 1").fetchall()]
    for day in days:
        path = folder / f"{day:%Y-%m-%d}.jsonl"
        con.execute(f"copy ({sql_text('queries/demo_outcomes_of_day')}) to {sql_literal(path.as_posix())} (format json)", {"day": day})
        written.append(str(path))
    return con.execute("select count(*) from outcomes").fetchall()[0][0]


def _write_revenue(
    con: duckdb.DuckDBPyConnection, folder: Path, start: dt.date, end: dt.date, seed: int, written: list[str]
) -> int:
    """Subscription periods per paying customer, from an anchor day of its own, covering [start, end]."""
    _register(con, "plans", PLANS, _PLANS_SCHEMA)
    params = {"start": start, "end": end, "seed": seed}
    con.execute(f"create temp table revenue as {sql_text('queries/demo_subscriptions')}", params)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "subscriptions.csv"
    con.execute(
        f"copy (select * from revenue order by customer_id, period_start) to {sql_literal(path.as_posix())} (format csv, header true)"
    )
    written.append(str(path))
    return con.execute("select count(*) from revenue").fetchall()[0][0]


def _write_gpu(
    con: duckdb.DuckDBPyConnection, folder: Path, start: dt.date, end: dt.date, written: list[str]
) -> tuple[int, list[str]]:
    """One record per self-hosted cluster and day: one GPU rented for the whole hours its day's tokens
    need at about TARGET_UTILIZATION (an autoscaled pool billed by the hour), at least one hour a day."""
    days = con.execute(sql_text("queries/demo_self_hosted_tokens")).fetchall()
    if not days:
        return 0, []
    served = {(cluster, day): tokens for cluster, day, tokens in days}
    clusters = sorted({cluster for cluster, _, _ in days})
    rows = []
    for cluster in clusters:
        day = start
        while day <= end:
            hours = max(1, math.ceil(served.get((cluster, day), 0) / (TARGET_UTILIZATION * GPU_TOKENS_PER_HOUR)))
            rows.append(f"{cluster},{day.isoformat()},{GPU_TYPE},1,{hours},{GPU_HOURLY_RATE},USD,{GPU_TOKENS_PER_HOUR},{GPU_POWER_WATTS}")
            day += dt.timedelta(days=1)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "capacity.csv"
    header = "cluster,date,gpu_type,gpu_count,hours,hourly_rate,currency,capacity_tokens_per_hour,avg_power_watts"
    path.write_text("\n".join([header, *rows]) + "\n")
    written.append(str(path))
    return len(rows), clusters


def _write_overhead(folder: Path, start: dt.date, end: dt.date, clusters: list[str], written: list[str]) -> int:
    """The overhead bills around inference for the demo's days (one record per bill, end exclusive): egress,
    the cluster's disks, an embedding store, observability, the load balancer and on-call for one feature."""
    days = (end - start).days + 1
    rows = []
    for category, base, restricted, per_day, description in OVERHEAD:
        if restricted == "cluster" and not clusters:
            continue
        cluster = clusters[0] if restricted == "cluster" else ""
        end_exclusive = end + dt.timedelta(days=1)
        rows.append(f"{category},{start.isoformat()},{end_exclusive.isoformat()},{per_day * days},USD,{base},,{cluster},{description}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "overhead.csv"
    path.write_text("category,period_start,period_end,amount,currency,allocate_by,provider,cluster,description\n" + "\n".join(rows) + "\n")
    written.append(str(path))
    return len(rows)


def _write_carbon(folder: Path, start: dt.date, end: dt.date, written: list[str]) -> int:
    """Daily grid carbon intensity for the demo cluster's region (settings.yaml clusters: <name>: region)."""
    rows, day = [], start
    while day <= end:
        rows.append(f"{day.isoformat()},{GRID_REGION},{GRID_GCO2E_PER_KWH[day.toordinal() % len(GRID_GCO2E_PER_KWH)]}")
        day += dt.timedelta(days=1)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grid.csv"
    path.write_text("date,region,gco2e_per_kwh\n" + "\n".join(rows) + "\n")
    written.append(str(path))
    return len(rows)


def _register(con: duckdb.DuckDBPyConnection, name: str, table: dict[str, tuple], schema: pa.Schema) -> None:
    """A constant table (OUTCOME_RULES, PLANS: first column the key) registered as `name` for a select to join."""
    rows = [dict(zip(schema.names, (key, *values))) for key, values in table.items()]
    con.register(name, pa.Table.from_pylist(rows, schema=schema))
