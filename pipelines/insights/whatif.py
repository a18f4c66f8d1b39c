"""What-if scenarios: re-price a feature's real token usage on another model, and growth projections.

`run_whatif` takes a feature's priced requests of one month and prices each request's own token
buckets at the target model's list price in effect at the request's time (same service tier when the
target has it, else standard; the target's context band for the request's input size), set-based in
DuckDB. A bucket the target does not price separately is billed as it would be there: cache reads
and writes as input, reasoning as output. A request the target cannot price (no price at its time,
audio or web search it does not sell) stays on its model. With `share` s, the scenario spend is
actual - s x (actual of the re-priced requests) + s x (their cost on the target).

Two more moves between self-hosted GPUs and APIs (both saved at 1x the volume only: a GPU bill does not grow with
the traffic). `run_move_cluster` prices a cluster's real traffic of the month's observed days on an API model (its
own buckets at the price in effect at each request's time, negotiated overrides winning) against the cluster's
whole GPU bill of those days, idle included. `run_move_feature` serves a feature's priced API requests on a cluster
at the cluster's month cost per token at 100% utilization divided by the utilization assumed.

`breakeven` reads marts.self_host_breakeven, or computes it with its own SQL for the API models given.
The re-pricing is one table macro, reprice(requests, with_overrides) (sql/marts/_reprice.sql), shared by the what-ifs
and marts.self_host_breakeven.

Month-end projections extend the month's burn rate (see pipelines/budgets.py); growth factors
multiply the projected month (x2, x3, x10: the same mix at that many times the volume). Every number
is an estimate, and `marts.scenarios` says so in `is_estimate` and `description`.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb
import pyarrow as pa

from pipelines.insights.budgets import MONEY_PLACES, MonthSpan, month_start, observed_month
from pipelines.pricing.tiers import compare_rule, define_tiered_models
from pipelines.storage.database import sql_text, table_exists, transaction

GROWTH_FACTORS = (1, 2, 3, 10)
SCENARIOS_TABLE = "marts.scenarios"
BREAKEVEN_TABLE = "marts.self_host_breakeven"
ALL_FEATURES = "(all features)"
SELF_HOSTED = "self_hosted:"

SCENARIO_SCHEMA = pa.schema(
    [
        ("scenario_id", pa.string()),
        ("kind", pa.string()),
        ("month", pa.string()),
        ("feature", pa.string()),
        ("to_model", pa.string()),
        ("share", pa.decimal128(9, 4)),
        ("growth_factor", pa.int64()),
        ("requests", pa.int64()),
        ("repriced_requests", pa.int64()),
        ("first_day", pa.date32()),
        ("last_day", pa.date32()),
        ("days_observed", pa.int64()),
        ("days_in_month", pa.int64()),
        ("actual_usd", pa.decimal128(38, 15)),
        ("scenario_usd", pa.decimal128(38, 15)),
        ("baseline_month_end_usd", pa.decimal128(38, 15)),
        ("scenario_month_end_usd", pa.decimal128(38, 15)),
        ("delta_month_end_usd", pa.decimal128(38, 15)),
        ("is_estimate", pa.bool_()),
        ("description", pa.string()),
        ("built_at", pa.timestamp("us", tz="UTC")),
    ]
)

class WhatIfError(ValueError):
    """A what-if that cannot be computed: unknown feature or model, bad share or month, no data."""


@dataclass(frozen=True)
class WhatIf:
    """A model-switch scenario for one feature and month (all money in USD, Decimal)."""

    feature: str
    to_provider: str
    to_model: str
    share: Decimal
    span: MonthSpan
    requests: int
    unpriced_requests: int
    repriced_requests: int
    kept_requests: int
    tier_fallback_requests: int
    actual_usd: Decimal
    repriced_actual_usd: Decimal
    target_usd: Decimal
    target_price_ids: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"{self.to_provider}/{self.to_model}"

    @property
    def scenario_usd(self) -> Decimal:
        """Month-to-date spend had `share` of the re-priceable requests gone to the target model."""
        with decimal.localcontext(prec=60):
            return (self.actual_usd - self.share * self.repriced_actual_usd + self.share * self.target_usd).quantize(MONEY_PLACES)

    def month_end(self, growth: int = 1) -> tuple[Decimal, Decimal]:
        """(baseline, scenario) month-end spend at `growth` times the volume."""
        return self.span.project(self.actual_usd) * growth, self.span.project(self.scenario_usd) * growth

    @property
    def scenario_id(self) -> str:
        return f"model_switch:{self.span.month}:{self.feature}:{self.target}:{self.share.normalize()}"

    def description(self, growth: int) -> str:
        text = (
            f"estimate: {self.feature} with {_pct(self.share)} of its priced requests re-priced at {self.target} list prices "
            f"({self.repriced_requests} re-priced, {self.kept_requests} kept on their model, {self.unpriced_requests} unpriced left out)"
        )
        return text + (f", at {growth}x the volume" if growth != 1 else "")


def _pct(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


def resolve_model(con: duckdb.DuckDBPyConnection, text: str, option: str = "--to-model") -> tuple[str, str]:
    """(provider, price-book model) for `model` or `provider/model`, as the price book names it; `option` is the
    argument the error names."""
    provider, _, name = text.rpartition("/")
    rows = con.execute(
        "select distinct provider, model from reference.model_aliases where name = $name and ($provider = '' or provider = $provider) "
        "order by provider",
        {"name": name, "provider": provider},
    ).fetchall()
    if not rows:
        raise WhatIfError(f"{option} {text!r} is not in the price book (`tokenledger prices list` shows every model)")
    if len(rows) > 1:
        options = ", ".join(f"{p}/{m}" for p, m in rows)
        raise WhatIfError(f"{option} {text!r} is priced under several providers ({options}): name one as provider/model")
    return rows[0]


def run_whatif(
    con: duckdb.DuckDBPyConnection, feature: str, to_model: str, share: Decimal = Decimal(1), month: str | None = None
) -> WhatIf:
    """Re-price `feature`'s requests of `month` (default: the latest) as if `share` of them had gone to `to_model`."""
    share = Decimal(share)
    if not Decimal(0) < share <= Decimal(1):
        raise WhatIfError(f"--share must be in (0, 1], got {share}")
    for table in ("core.request_costs", "reference.prices", "reference.model_aliases"):
        if not table_exists(con, table):
            raise WhatIfError(f"no {table} in the warehouse yet: run `tokenledger run` first")
    try:
        span = observed_month(con, month)
    except ValueError as exc:
        raise WhatIfError(f"--month: {exc}") from None
    if span is None:
        raise WhatIfError(f"no spend in {month or 'the warehouse'} yet")
    known = [row[0] for row in con.execute("select distinct feature from marts.daily_spend order by 1").fetchall()]
    if feature not in known:
        raise WhatIfError(f"no feature {feature!r} in the data (features: {', '.join(known)})")
    provider, model = resolve_model(con, to_model)
    params = {"feature": feature, "provider": provider, "model": model, "month_start": span.start, "month_end": span.end}
    define_reprice(con)
    counts = _fetch_one(con, "queries/whatif_reprice", params)
    counts["target_price_ids"] = list(counts["target_price_ids"])
    return WhatIf(feature=feature, to_provider=provider, to_model=model, share=share, span=span, **counts)


def whatif_rows(result: WhatIf, built_at: dt.datetime) -> pa.Table:
    """marts.scenarios rows for a model-switch what-if, one per growth factor."""
    rows = []
    for growth in GROWTH_FACTORS:
        baseline, scenario = result.month_end(growth)
        rows.append(
            _row(
                result.scenario_id, "model_switch", result.span, result.feature, growth, result.requests - result.unpriced_requests,
                result.actual_usd, result.scenario_usd, baseline, scenario, result.description(growth), built_at,
                to_model=result.target, share=result.share, repriced=result.repriced_requests,
            )
        )
    return pa.Table.from_pylist(rows, schema=SCENARIO_SCHEMA)


def define_reprice(con: duckdb.DuckDBPyConnection) -> None:
    """The table macro reprice(requests, with_overrides) on this connection (sql/marts/_reprice.sql)."""
    con.execute(f"create or replace temp macro reprice(requests, with_overrides) as table {sql_text('marts._reprice')}")


class _AtBurnRate:
    """A move's month end: its `actual_usd` and `scenario_usd` projected by its `span` (at 1x the volume only: a GPU
    bill does not grow with traffic)."""

    def month_end(self) -> tuple[Decimal, Decimal]:
        """(baseline, scenario) month-end spend at the observed burn rate."""
        return self.span.project(self.actual_usd), self.span.project(self.scenario_usd)


@dataclass(frozen=True)
class ClusterMove(_AtBurnRate):
    """A self-hosted cluster's traffic of the month's observed days on an API model (money in USD, Decimal).

    actual = the cluster's GPU bill of those days, idle included; scenario = what its requests would have cost on
    the API model (those it cannot price left out)."""

    cluster: str
    to_provider: str
    to_model: str
    span: MonthSpan
    requests: int
    repriced_requests: int
    unpriceable_requests: int
    tier_fallback_requests: int
    tokens: int
    gpu_records: int
    gpu_usd: Decimal
    target_usd: Decimal
    target_price_ids: list[str] = field(default_factory=list)
    target_override_ids: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"{self.to_provider}/{self.to_model}"

    @property
    def actual_usd(self) -> Decimal:
        return self.gpu_usd

    @property
    def scenario_usd(self) -> Decimal:
        return self.target_usd

    @property
    def scenario_id(self) -> str:
        return f"move_cluster:{self.span.month}:{self.cluster}:{self.target}"

    def description(self) -> str:
        prices = "negotiated prices where price_overrides.yaml has them, else list prices" if self.target_override_ids else "list prices"
        return (
            f"estimate: cluster {self.cluster}'s traffic of {self.span.first_day}..{self.span.last_day} ({self.requests} requests) "
            f"moved to {self.target}: {self.repriced_requests} requests priced at its {prices} in effect at each request's time "
            f"({self.unpriceable_requests} it cannot price left out), against the cluster's whole GPU bill of those days "
            f"({self.gpu_records} GPU records, idle included), assuming the GPUs are given up; month end at the observed burn rate"
        )


@dataclass(frozen=True)
class FeatureMove(_AtBurnRate):
    """A feature's priced API requests of the month served on a self-hosted cluster (money in USD, Decimal).

    They cost their tokens at the cluster's month cost per token at 100% utilization divided by `utilization`;
    the feature's other requests (self-hosted already) keep their cost. actual = the feature's priced cost."""

    feature: str
    cluster: str
    utilization: Decimal
    span: MonthSpan
    requests: int
    unpriced_requests: int
    moved_requests: int
    kept_requests: int
    moved_tokens: int
    actual_usd: Decimal
    moved_actual_usd: Decimal
    gpu_records: int
    gpu_month_usd: Decimal
    capacity_tokens: int
    cluster_usd: Decimal

    @property
    def target(self) -> str:
        return f"{SELF_HOSTED}{self.cluster}"

    @property
    def cost_per_1m_tokens_full_utilization_usd(self) -> Decimal:
        with decimal.localcontext(prec=60):
            return (self.gpu_month_usd * 1_000_000 / self.capacity_tokens).quantize(MONEY_PLACES)

    @property
    def scenario_usd(self) -> Decimal:
        return self.actual_usd - self.moved_actual_usd + self.cluster_usd

    @property
    def scenario_id(self) -> str:
        return f"move_feature:{self.span.month}:{self.feature}:{self.cluster}:{self.utilization.normalize()}"

    def description(self) -> str:
        return (
            f"estimate: {self.feature}'s {self.moved_requests} priced API requests of {self.span.first_day}..{self.span.last_day} "
            f"({self.moved_tokens} tokens) served on cluster {self.cluster} at its {self.span.month} GPU cost per token at 100% "
            f"utilization ({self.cost_per_1m_tokens_full_utilization_usd.normalize():f} USD per 1M tokens) divided by "
            f"{_pct(self.utilization)} utilization, assuming the cluster is sized to run at that utilization and the requests "
            f"need as many tokens there; {self.kept_requests} self-hosted requests keep their cost, {self.unpriced_requests} "
            "unpriced left out; month end at the observed burn rate"
        )


def _span(con: duckdb.DuckDBPyConnection, month: str | None, tables: tuple[str, ...]) -> MonthSpan:
    for table in tables:
        if not table_exists(con, table):
            raise WhatIfError(f"no {table} in the warehouse yet: run `tokenledger run` first")
    try:
        span = observed_month(con, month)
    except ValueError as exc:
        raise WhatIfError(f"--month: {exc}") from None
    if span is None:
        raise WhatIfError(f"no spend in {month or 'the warehouse'} yet")
    return span


def _check_cluster(con: duckdb.DuckDBPyConnection, cluster: str, option: str) -> str:
    """`cluster` or `self_hosted:<cluster>` as the cluster's name; WhatIfError lists the known clusters."""
    cluster = cluster.removeprefix(SELF_HOSTED)
    known = [row[0] for row in con.execute(sql_text("queries/self_hosted_clusters")).fetchall()]
    if cluster not in known:
        raise WhatIfError(f"no cluster {cluster!r} in the data ({option}; clusters: {', '.join(known) or 'none'})")
    return cluster


def _fetch_one(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> dict:
    cursor = con.execute(sql_text(name), params)
    names = [column[0] for column in cursor.description]
    return dict(zip(names, cursor.fetchall()[0]))


def run_move_cluster(con: duckdb.DuckDBPyConnection, cluster: str, to_model: str, month: str | None = None) -> ClusterMove:
    """Price cluster `cluster`'s requests of `month` (default: the latest) on `to_model` against the cluster's GPU bill."""
    span = _span(con, month, ("core.request_costs", "reference.gpu_capacity", "reference.prices", "reference.model_aliases"))
    cluster = _check_cluster(con, cluster, "--move-cluster")
    provider, model = resolve_model(con, to_model)
    define_reprice(con)
    params = {"provider": f"{SELF_HOSTED}{cluster}", "to_provider": provider, "to_model": model,
              "window_start": span.first_day, "window_end": span.last_day + dt.timedelta(days=1)}
    found = _fetch_one(con, "queries/whatif_move_cluster", params)
    days = f"{span.first_day}..{span.last_day}"
    if not found["gpu_records"]:
        raise WhatIfError(f"cluster {cluster!r} has no GPU record in {days}: land its capacity under landing/gpu")
    if found["gpu_usd"] is None:
        raise WhatIfError(f"cluster {cluster!r} has GPU records in {days} without a USD rate: add rates under landing/fx")
    if not found["requests"]:
        raise WhatIfError(f"cluster {cluster!r} served no request in {days}")
    if not found["repriced_requests"]:
        raise WhatIfError(f"{provider}/{model} has no price for any request of cluster {cluster!r} in {days}")
    found["target_price_ids"] = list(found["target_price_ids"])
    found["target_override_ids"] = list(found["target_override_ids"])
    return ClusterMove(cluster=cluster, to_provider=provider, to_model=model, span=span, **found)


def run_move_feature(
    con: duckdb.DuckDBPyConnection, feature: str, cluster: str, utilization: Decimal, month: str | None = None
) -> FeatureMove:
    """Serve `feature`'s priced API requests of `month` (default: the latest) on cluster `cluster` at its month cost
    per token at 100% utilization divided by `utilization`."""
    utilization = Decimal(utilization)
    if not (utilization.is_finite() and Decimal(0) < utilization <= Decimal(1)):
        raise WhatIfError(f"--utilization must be in (0, 1], got {utilization}")
    span = _span(con, month, ("core.request_costs", "reference.gpu_capacity"))
    known = [row[0] for row in con.execute("select distinct feature from marts.daily_spend order by 1").fetchall()]
    if feature not in known:
        raise WhatIfError(f"no feature {feature!r} in the data (features: {', '.join(known)})")
    cluster = _check_cluster(con, cluster, "--to-cluster")
    numerator, denominator = utilization.as_integer_ratio()
    params = {"feature": feature, "provider": f"{SELF_HOSTED}{cluster}", "month_start": span.start, "month_end": span.end,
              "utilization_numerator": numerator, "utilization_denominator": denominator}
    found = _fetch_one(con, "queries/whatif_move_feature", params)
    if not found["gpu_records"]:
        raise WhatIfError(f"cluster {cluster!r} has no GPU record in {span.month}: land its capacity under landing/gpu")
    if found["gpu_month_usd"] is None:
        raise WhatIfError(f"cluster {cluster!r} has GPU records in {span.month} without a USD rate: add rates under landing/fx")
    if not found["capacity_tokens"]:
        raise WhatIfError(
            f"cluster {cluster!r} has GPU records in {span.month} without capacity_tokens_per_hour: its cost per token at 100% "
            "utilization is unknown"
        )
    if not found["moved_requests"]:
        raise WhatIfError(f"feature {feature!r} has no priced API request in {span.month} to move")
    return FeatureMove(feature=feature, cluster=cluster, utilization=utilization, span=span, **found)


def move_rows(result: ClusterMove | FeatureMove, built_at: dt.datetime) -> pa.Table:
    """The marts.scenarios row of a move (1x the volume only)."""
    baseline, scenario = result.month_end()
    if isinstance(result, ClusterMove):
        kind, feature, requests, moved = "move_cluster", f"(cluster {result.cluster})", result.requests, result.repriced_requests
    else:
        kind, feature, requests, moved = "move_feature", result.feature, result.requests - result.unpriced_requests, result.moved_requests
    row = _row(
        result.scenario_id, kind, result.span, feature, 1, requests, result.actual_usd, result.scenario_usd, baseline, scenario,
        result.description(), built_at, to_model=result.target, share=Decimal(1), repriced=moved,
    )
    return pa.Table.from_pylist([row], schema=SCENARIO_SCHEMA)


def breakeven(
    con: duckdb.DuckDBPyConnection, cluster: str | None = None, month: str | None = None, compare_with: list[str] | None = None
) -> list[dict]:
    """Rows of marts.self_host_breakeven for `cluster` and `month` (default: all); with `compare_with` (API model names),
    the same SQL computed now with every self-hosted model compared with those, nothing saved."""
    if month is not None:
        try:
            month_start(month)
        except ValueError:
            raise WhatIfError(f"--month: not a month (YYYY-MM): {month!r}") from None
    needed = ("core.request_costs", "reference.gpu_capacity", "reference.prices", "reference.model_aliases") if compare_with else (BREAKEVEN_TABLE,)
    for table in needed:
        if not table_exists(con, table):
            raise WhatIfError(f"no {table} in the warehouse yet: run `tokenledger run` first")
    relation = BREAKEVEN_TABLE
    if compare_with:
        targets = list(dict.fromkeys(resolve_model(con, text, "--compare-with") for text in compare_with))
        con.register("tier_rules", compare_rule(targets, "--compare-with"))
        define_tiered_models(con)
        define_reprice(con)
        con.execute(f"create or replace temp view breakeven_now as {sql_text(BREAKEVEN_TABLE)}")
        relation = "breakeven_now"
    if cluster is not None:  # a cluster the data does not know is a mistake, not "no traffic compared"
        cluster = cluster.removeprefix(SELF_HOSTED)
        if table_exists(con, "reference.gpu_capacity") and table_exists(con, "marts.daily_spend"):
            cluster = _check_cluster(con, cluster, "--cluster")
    cursor = con.execute(sql_text("queries/breakeven"), {"relation": relation, "cluster": cluster, "month": month})
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def growth_rows(con: duckdb.DuckDBPyConnection, built_at: dt.datetime, month: str | None = None) -> pa.Table:
    """marts.scenarios growth rows for the month (default: the latest): per feature and in total, x1 x2 x3 x10."""
    span = observed_month(con, month)
    if span is None or not table_exists(con, "core.request_costs"):
        return SCENARIO_SCHEMA.empty_table()
    rows = []
    for feature, requests, actual in con.execute(sql_text("queries/whatif_growth"), {"month_start": span.start, "month_end": span.end}).fetchall():
        feature = feature if feature is not None else ALL_FEATURES
        projected = span.project(actual)
        for growth in GROWTH_FACTORS:
            description = (
                f"estimate: {feature} month-end spend at the {span.first_day}..{span.last_day} burn rate"
                + (f", at {growth}x the volume" if growth != 1 else "")
            )
            rows.append(
                _row(
                    f"growth:{span.month}:{feature}", "growth", span, feature, growth, requests, actual, actual,
                    projected, projected * growth, description, built_at,
                )
            )
    return pa.Table.from_pylist(rows, schema=SCENARIO_SCHEMA)


def _row(scenario_id, kind, span, feature, growth, requests, actual, scenario, baseline_end, scenario_end, description, built_at,
         to_model=None, share=None, repriced=None) -> dict:
    return {
        "scenario_id": scenario_id,
        "kind": kind,
        "month": span.month,
        "feature": feature,
        "to_model": to_model,
        "share": share,
        "growth_factor": growth,
        "requests": requests,
        "repriced_requests": repriced,
        "first_day": span.first_day,
        "last_day": span.last_day,
        "days_observed": span.days_observed,
        "days_in_month": span.days_in_month,
        "actual_usd": actual,
        "scenario_usd": scenario,
        "baseline_month_end_usd": baseline_end,
        "scenario_month_end_usd": scenario_end,
        "delta_month_end_usd": scenario_end - baseline_end,
        "is_estimate": True,
        "description": description,
        "built_at": built_at,
    }


def save_scenarios(con: duckdb.DuckDBPyConnection, rows: pa.Table, replace_kind: str | None = None) -> int:
    """Write rows into marts.scenarios (through its SQL, sql/marts/scenarios.sql) in one transaction, replacing
    rows with the same scenario ids (or every row of `replace_kind`); return the table's row count.

    The table must exist: open the warehouse with `pipelines.warehouse.tables.open_warehouse`."""
    with transaction(con):
        con.register("scenario_rows", rows)
        if replace_kind is not None:
            con.execute(f"delete from {SCENARIOS_TABLE} where kind = $kind", {"kind": replace_kind})
        con.execute(f"delete from {SCENARIOS_TABLE} where scenario_id in (select scenario_id from scenario_rows)")
        con.execute(f"insert into {SCENARIOS_TABLE} by name {sql_text(SCENARIOS_TABLE)}")
        con.unregister("scenario_rows")
        (count,) = con.execute(f"select count(*) from {SCENARIOS_TABLE}").fetchall()[0]
    return count


def refresh_growth_scenarios(con: duckdb.DuckDBPyConnection, built_at: dt.datetime) -> tuple[int, int]:
    """Replace marts.scenarios' growth rows with the latest month's unless only built_at would change; (rows, growth rows)."""
    growth = growth_rows(con, built_at)
    columns = ", ".join(name for name in SCENARIO_SCHEMA.names if name != "built_at")
    kept = f"(select {columns} from {SCENARIOS_TABLE} where kind = 'growth')"
    con.register("growth_rows", growth)
    ((changed,),) = con.execute(f"select count(*) from ((select {columns} from growth_rows except all {kept}) "
                                f"union all ({kept} except all select {columns} from growth_rows))").fetchall()
    con.unregister("growth_rows")
    rows = save_scenarios(con, growth, replace_kind="growth") if changed else con.execute(f"select count(*) from {SCENARIOS_TABLE}").fetchall()[0][0]
    return rows, growth.num_rows
