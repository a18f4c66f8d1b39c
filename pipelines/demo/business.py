"""Synthetic business inputs for the demo: outcome events, revenue records and self-hosted GPU capacity.

They are derived from the gateway logs already landed under `<home>/landing/gateway/envelope/`, so every
outcome links to real demo requests (by conversation_id or request_id), every paying customer is a demo
customer, and GPU records exist for the self-hosted clusters the logs use. Generation is set-based in DuckDB
and deterministic: the same logs and seed give the same files.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb

from pipelines.storage.home import Home

OUTCOMES_DIR = "outcomes"
REVENUE_DIR = "revenue"
GPU_DIR = "gpu"

# feature -> (outcome_type, linked by, chance per conversation or request, value_usd per outcome)
OUTCOME_RULES = {
    "support_chat": ("ticket_resolved", "conversation_id", 0.55, "6.50"),
    "agent_workflows": ("task_completed", "conversation_id", 0.45, "18.00"),
    "code_assist": ("suggestion_accepted", "request_id", 0.32, "0.40"),
    "search": ("answer_clicked", "request_id", 0.28, None),
    "summarize": ("summary_exported", "request_id", 0.50, None),
    "email_draft": ("draft_sent", "request_id", 0.40, "0.25"),
}

# segment -> (plan, monthly price in USD, share of its customers billed yearly at 10 months' price)
PLANS = {
    "pro": ("pro", "49.00", 0.0),
    "team": ("team", "399.00", 0.3),
    "enterprise": ("enterprise", "4800.00", 0.5),
}

GPU_TYPE = "H100-80GB"
GPU_HOURLY_RATE = "2.49"
GPU_TOKENS_PER_HOUR = 2_500_000
"""Tokens one GPU serves per hour at full load (capacity_tokens_per_hour)."""
TARGET_UTILIZATION = 0.6


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
    with duckdb.connect() as con:
        con.execute(
            f"""
            copy (
                select
                    'sh_' || md5(request_id) as request_id,
                    timestamp,
                    '{SELF_HOSTED_PROVIDER}' as provider,
                    '{SELF_HOSTED_MODEL}' as model,
                    'default' as service_tier,
                    feature, user_id, user_segment, customer_id, conversation_id,
                    {{'input_tokens': coalesce(try_cast(usage ->> 'prompt_tokens' as bigint), try_cast(usage ->> 'input_tokens' as bigint), 800),
                      'output_tokens': coalesce(try_cast(usage ->> 'completion_tokens' as bigint), try_cast(usage ->> 'output_tokens' as bigint), 200)}} as usage,
                from read_ndjson($files, columns = {{
                        request_id: 'VARCHAR', timestamp: 'VARCHAR', feature: 'VARCHAR', user_id: 'VARCHAR', user_segment: 'VARCHAR',
                        customer_id: 'VARCHAR', conversation_id: 'VARCHAR', usage: 'JSON'}}, ignore_errors = true)
                where feature in ('summarize', 'search') and request_id is not null
                    and regexp_matches(timestamp, '([Zz]|[+-]\\d{{2}}:?\\d{{2}})$')
                    and not regexp_matches(cast(usage as varchar), ':\\s*-\\d')
                    and hash(request_id || '{seed}') % 1000 < {int(SELF_HOSTED_SHARE * 1000)}
                order by timestamp, request_id
            ) to '{path.as_posix()}' (format json)
            """,
            {"files": files},
        )
    return path


def generate_business_data(home: Home, start: dt.date, end: dt.date, seed: int) -> dict:
    """Write outcomes, revenue and GPU records for the demo requests landed between start and end (inclusive).

    Files: landing/outcomes/<date>.jsonl (one per day, plus one outcome without a link per file, which ingestion
    rejects), landing/revenue/subscriptions.csv and, when the logs hold self_hosted:<cluster> requests,
    landing/gpu/capacity.csv. Returns what was written.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    files = sorted(str(p) for p in (home.landing / "gateway" / "envelope").rglob("*.jsonl*") if not p.name.startswith("."))
    summary = {"outcomes": 0, "revenue_records": 0, "gpu_records": 0, "self_hosted_clusters": [], "files": []}
    if not files:
        return summary
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        _load_requests(con, files, start, end)
        summary["outcomes"] = _write_outcomes(con, home.landing / OUTCOMES_DIR, seed, summary["files"])
        summary["revenue_records"] = _write_revenue(con, home.landing / REVENUE_DIR, start, end, seed, summary["files"])
        summary["gpu_records"], summary["self_hosted_clusters"] = _write_gpu(con, home.landing / GPU_DIR, start, end, summary["files"])
    return summary


def _load_requests(con: duckdb.DuckDBPyConnection, files: list[str], start: dt.date, end: dt.date) -> None:
    """The demo's good requests in [start, end]: lines the pipeline loads (bad lines and duplicates left out)."""
    con.execute(
        """
        create temp table requests as
        select distinct on (request_id)
            request_id,
            cast(timestamp as timestamptz) as occurred_at,
            provider,
            feature,
            customer_id,
            user_segment,
            conversation_id,
            status,
            coalesce(try_cast(usage ->> 'prompt_tokens' as bigint), try_cast(usage ->> 'input_tokens' as bigint), 0)
                + coalesce(try_cast(usage ->> 'completion_tokens' as bigint), try_cast(usage ->> 'output_tokens' as bigint), 0) as tokens,
        from read_ndjson(
            $files,
            columns = {
                request_id: 'VARCHAR', timestamp: 'VARCHAR', provider: 'VARCHAR', feature: 'VARCHAR',
                customer_id: 'VARCHAR', user_segment: 'VARCHAR', conversation_id: 'VARCHAR', status: 'VARCHAR', usage: 'JSON'
            },
            ignore_errors = true
        )
        where request_id is not null
            and regexp_matches(timestamp, '([Zz]|[+-]\\d{2}:?\\d{2})$')
            and not regexp_matches(cast(usage as varchar), ':\\s*-\\d')
            and cast(cast(timestamp as timestamptz) as date) between $start and $end
        order by request_id, occurred_at
        """,
        {"files": files, "start": start, "end": end},
    )


def _chance(key: str, seed: int, salt: str) -> str:
    """SQL: a deterministic uniform number in [0, 1) from a key, the seed and a salt."""
    return f"(hash({key}, {seed}, '{salt}') % 1000000) / 1000000.0"


def _write_outcomes(con: duckdb.DuckDBPyConnection, folder: Path, seed: int, written: list[str]) -> int:
    rules = " union all ".join(
        f"select '{feature}' as feature, '{kind}' as outcome_type, '{link}' as linked_by, {chance} as chance, "
        f"{f'cast({value} as decimal(18, 2))' if value else 'cast(null as decimal(18, 2))'} as value_usd"
        for feature, (kind, link, chance, value) in OUTCOME_RULES.items()
    )
    con.execute(
        f"""
        create temp table outcomes as
        with rules as ({rules}),
        conversations as (
            select conversation_id, any_value(feature) as feature, max(occurred_at) as last_at, count(*) as requests
            from requests
            where status = 'ok' and conversation_id is not null
            group by conversation_id
        ),
        candidates as (
            select 'conversation_id' as linked_by, conversation_id as link, feature, last_at as at
            from conversations
            union all
            select 'request_id', request_id, feature, occurred_at
            from requests
            where status = 'ok'
        )
        select
            'out_' || left(md5(candidates.link || '{seed}'), 16) as outcome_id,
            candidates.at + to_seconds(30 + cast({_chance('candidates.link', seed, 'delay')} * 900 as bigint)) as occurred_at,
            rules.outcome_type,
            candidates.feature,
            case when candidates.linked_by = 'request_id' then candidates.link end as request_id,
            case when candidates.linked_by = 'conversation_id' then candidates.link end as conversation_id,
            rules.value_usd,
        from candidates
        inner join rules
            on rules.feature = candidates.feature
            and rules.linked_by = candidates.linked_by
        where {_chance('candidates.link', seed, 'outcome')} < rules.chance
        """
    )
    folder.mkdir(parents=True, exist_ok=True)
    days = [row[0] for row in con.execute("select distinct cast(occurred_at as date) from outcomes order by 1").fetchall()]
    for day in days:
        path = folder / f"{day:%Y-%m-%d}.jsonl"
        con.execute(
            f"""
            copy (
                select outcome_id, strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ') as timestamp, outcome_type, feature,
                    request_id, conversation_id, value_usd
                from outcomes
                where cast(occurred_at as date) = $day
                union all
                select 'out_unlinked_{day:%Y%m%d}', '{day:%Y-%m-%d}T12:00:00Z', 'ticket_resolved', 'support_chat', null, null, null
                order by timestamp, outcome_id
            ) to '{_sql_path(path)}' (format json)
            """,
            {"day": day},
        )
        written.append(str(path))
    return con.execute("select count(*) from outcomes").fetchall()[0][0]


def _write_revenue(con: duckdb.DuckDBPyConnection, folder: Path, start: dt.date, end: dt.date, seed: int, written: list[str]) -> int:
    """Subscription periods per paying customer, from an anchor day of its own, covering [start, end]."""
    plans = " union all ".join(
        f"select '{segment}' as user_segment, '{plan}' as plan, cast({price} as decimal(18, 2)) as monthly_price, {yearly} as yearly_share"
        for segment, (plan, price, yearly) in PLANS.items()
    )
    con.execute(
        f"""
        create temp table revenue as
        with plans as ({plans}),
        customers as (
            select customer_id, arg_max(user_segment, occurred_at) as user_segment
            from requests
            where customer_id is not null
            group by customer_id
        ),
        billed as (
            select
                customers.customer_id,
                customers.user_segment,
                plans.plan,
                plans.monthly_price,
                {_chance('customers.customer_id', seed, 'yearly')} < plans.yearly_share as yearly,
                1 + cast(floor({_chance('customers.customer_id', seed, 'anchor')} * 28) as bigint) as anchor_day,
            from customers
            inner join plans on plans.user_segment = customers.user_segment
        ),
        monthly as (
            select
                billed.*,
                cast(unnest(generate_series(
                    date_trunc('month', $start) - interval 1 month, date_trunc('month', $end), interval 1 month
                )) as date) + cast(anchor_day - 1 as integer) as period_start,
            from billed
            where not yearly
        ),
        yearly as (
            select
                billed.*,
                cast(date_trunc('month', $start) - to_months(1 + cast(floor({_chance('customer_id', seed, 'since')} * 11) as bigint)) as date)
                    + cast(anchor_day - 1 as integer) as period_start,
            from billed
            where yearly
        ),
        periods as (
            select *, cast(period_start + interval 1 month as date) as period_end, monthly_price as amount
            from monthly
            union all
            select *, cast(period_start + interval 1 year as date) as period_end, monthly_price * 10 as amount
            from yearly
        )
        select customer_id, user_segment, plan, period_start, period_end, amount, 'USD' as currency
        from periods
        where period_start <= $end and period_end > $start
        """,
        {"start": start, "end": end},
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "subscriptions.csv"
    con.execute(
        f"""
        copy (
            select customer_id, user_segment, period_start, period_end, amount, currency, plan
            from revenue
            order by customer_id, period_start
        ) to '{_sql_path(path)}' (format csv, header true)
        """
    )
    written.append(str(path))
    return con.execute("select count(*) from revenue").fetchall()[0][0]


def _write_gpu(con: duckdb.DuckDBPyConnection, folder: Path, start: dt.date, end: dt.date, written: list[str]) -> tuple[int, list[str]]:
    """One record per self-hosted cluster and day: one GPU rented for the whole hours its day's tokens
    need at about TARGET_UTILIZATION (an autoscaled pool billed by the hour), at least one hour a day."""
    days = con.execute(
        """
        select substr(lower(provider), length('self_hosted:') + 1) as cluster, cast(occurred_at as date) as day, sum(tokens) as tokens
        from requests
        where lower(provider) like 'self\\_hosted:%' escape '\\'
        group by all
        order by all
        """
    ).fetchall()
    if not days:
        return 0, []
    served = {(cluster, day): tokens for cluster, day, tokens in days}
    clusters = sorted({cluster for cluster, _, _ in days})
    rows = []
    for cluster in clusters:
        day = start
        while day <= end:
            hours = max(1, math.ceil(served.get((cluster, day), 0) / (TARGET_UTILIZATION * GPU_TOKENS_PER_HOUR)))
            rows.append(f"{cluster},{day.isoformat()},{GPU_TYPE},1,{hours},{GPU_HOURLY_RATE},USD,{GPU_TOKENS_PER_HOUR}")
            day += dt.timedelta(days=1)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "capacity.csv"
    path.write_text("cluster,date,gpu_type,gpu_count,hours,hourly_rate,currency,capacity_tokens_per_hour\n" + "\n".join(rows) + "\n")
    written.append(str(path))
    return len(rows), clusters


def _sql_path(path: Path) -> str:
    return path.as_posix().replace("'", "''")
