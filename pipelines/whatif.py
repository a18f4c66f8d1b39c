"""What-if scenarios: re-price a feature's real token usage on another model, and growth projections.

`run_whatif` takes a feature's priced requests of one month and prices each request's own token
buckets at the target model's list price in effect at the request's time (same service tier when the
target has it, else standard; the target's context band for the request's input size), set-based in
DuckDB. A bucket the target does not price separately is billed as it would be there: cache reads
and writes as input, reasoning as output. A request the target cannot price (no price at its time,
audio or web search it does not sell) stays on its model. With `share` s, the scenario spend is
actual - s x (actual of the re-priced requests) + s x (their cost on the target).

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

from pipelines.budgets import MONEY_PLACES, MonthSpan, observed_month
from pipelines.warehouse import table_exists

GROWTH_FACTORS = (1, 2, 3, 10)
SCENARIOS_TABLE = "marts.scenarios"
ALL_FEATURES = "(all features)"

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

REPRICE_SQL = """
with requests as (
    select *
    from core.request_costs
    where feature = $feature and event_date >= $month_start and event_date < $month_end
),

target as (
    select *
    from reference.prices
    where provider = $provider and model = $model
),

target_tiers as (
    select distinct service_tier
    from target
),

matched as (
    select
        requests.*,
        target.price_id as target_price_id,
        target.input_per_mtok,
        coalesce(target.cache_read_per_mtok, target.input_per_mtok) as cache_read_per_mtok,
        coalesce(target.cache_write_5m_per_mtok, target.input_per_mtok) as cache_write_5m_per_mtok,
        coalesce(target.cache_write_1h_per_mtok, target.cache_write_5m_per_mtok, target.input_per_mtok) as cache_write_1h_per_mtok,
        target.output_per_mtok,
        coalesce(target.reasoning_per_mtok, target.output_per_mtok) as reasoning_per_mtok,
        target.audio_input_per_mtok,
        target.audio_output_per_mtok,
        target.web_search_per_1k,
        target.per_request,
    from requests
    left join target
        on target.service_tier = case
            when requests.service_tier in (select service_tier from target_tiers) then requests.service_tier
            else 'standard'
        end
        and requests.occurred_at >= target.effective_from
        and requests.occurred_at < coalesce(target.effective_to, 'infinity'::timestamptz)
        and requests.total_input_tokens >= target.input_tokens_from
        and requests.total_input_tokens < target.input_tokens_to
),

repriced as (
    select
        *,
        target_price_id is not null
            and input_per_mtok is not null
            and output_per_mtok is not null
            and (audio_input_tokens = 0 or audio_input_per_mtok is not null)
            and (audio_output_tokens = 0 or audio_output_per_mtok is not null)
            and (web_search_requests = 0 or web_search_per_1k is not null) as repriceable,
        (cast(input_tokens as decimal(38, 0)) * input_per_mtok
         + cast(cache_read_tokens as decimal(38, 0)) * cache_read_per_mtok
         + cast(cache_write_5m_tokens as decimal(38, 0)) * cache_write_5m_per_mtok
         + cast(cache_write_1h_tokens as decimal(38, 0)) * cache_write_1h_per_mtok
         + cast(output_tokens as decimal(38, 0)) * output_per_mtok
         + cast(reasoning_tokens as decimal(38, 0)) * reasoning_per_mtok
         + cast(audio_input_tokens as decimal(38, 0)) * coalesce(audio_input_per_mtok, 0)
         + cast(audio_output_tokens as decimal(38, 0)) * coalesce(audio_output_per_mtok, 0)) * 0.000001
        + cast(web_search_requests as decimal(38, 0)) * coalesce(web_search_per_1k, 0) * 0.001
        + coalesce(per_request, 0) as target_cost_usd,
    from matched
)

select
    count(*) as requests,
    count(*) filter (where not is_priced) as unpriced_requests,
    count(*) filter (where is_priced and repriceable) as repriced_requests,
    count(*) filter (where is_priced and not repriceable) as kept_requests,
    cast(coalesce(sum(cost_usd) filter (where is_priced), 0) as decimal(38, 15)) as actual_usd,
    cast(coalesce(sum(cost_usd) filter (where is_priced and repriceable), 0) as decimal(38, 15)) as repriced_actual_usd,
    cast(coalesce(sum(target_cost_usd) filter (where is_priced and repriceable), 0) as decimal(38, 15)) as target_usd,
    count(*) filter (where is_priced and repriceable and service_tier not in (select service_tier from target_tiers)) as tier_fallback_requests,
    coalesce(list(distinct target_price_id order by target_price_id) filter (where is_priced and repriceable), []) as target_price_ids,
from repriced
"""

GROWTH_SQL = """
select feature, count(*) as requests, cast(coalesce(sum(cost_usd), 0) as decimal(38, 15)) as actual_usd,
from core.request_costs
where event_date >= $month_start and event_date < $month_end
group by rollup (feature)
order by feature nulls first
"""


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


def resolve_model(con: duckdb.DuckDBPyConnection, text: str) -> tuple[str, str]:
    """(provider, price-book model) for `model` or `provider/model`, as the price book names it."""
    provider, _, name = text.rpartition("/")
    rows = con.execute(
        "select distinct provider, model from reference.model_aliases where name = $name and ($provider = '' or provider = $provider) "
        "order by provider",
        {"name": name, "provider": provider},
    ).fetchall()
    if not rows:
        raise WhatIfError(f"--to-model {text!r} is not in the price book (`tokenledger prices list` shows every model)")
    if len(rows) > 1:
        options = ", ".join(f"{p}/{m}" for p, m in rows)
        raise WhatIfError(f"--to-model {text!r} is priced under several providers ({options}): name one as provider/model")
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
    cursor = con.execute(REPRICE_SQL, params)
    names = [column[0] for column in cursor.description]
    counts = dict(zip(names, cursor.fetchall()[0]))
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


def growth_rows(con: duckdb.DuckDBPyConnection, built_at: dt.datetime, month: str | None = None) -> pa.Table:
    """marts.scenarios growth rows for the month (default: the latest): per feature and in total, x1 x2 x3 x10."""
    span = observed_month(con, month)
    if span is None or not table_exists(con, "core.request_costs"):
        return SCENARIO_SCHEMA.empty_table()
    rows = []
    for feature, requests, actual in con.execute(GROWTH_SQL, {"month_start": span.start, "month_end": span.end}).fetchall():
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


def ensure_scenarios_table(con: duckdb.DuckDBPyConnection) -> None:
    if not table_exists(con, SCENARIOS_TABLE):
        con.register("_scenarios_shape", SCENARIO_SCHEMA.empty_table())
        con.execute(f"create table {SCENARIOS_TABLE} as select * from _scenarios_shape")
        con.unregister("_scenarios_shape")


def save_scenarios(con: duckdb.DuckDBPyConnection, rows: pa.Table, replace_kind: str | None = None) -> int:
    """Write rows into marts.scenarios in one transaction, replacing rows with the same scenario ids
    (or every row of `replace_kind`); return the table's row count."""
    ensure_scenarios_table(con)
    con.execute("begin transaction")
    try:
        con.register("_scenario_rows", rows)
        if replace_kind is not None:
            con.execute(f"delete from {SCENARIOS_TABLE} where kind = $kind", {"kind": replace_kind})
        con.execute(f"delete from {SCENARIOS_TABLE} where scenario_id in (select scenario_id from _scenario_rows)")
        con.execute(f"insert into {SCENARIOS_TABLE} by name select * from _scenario_rows")
        con.unregister("_scenario_rows")
        (count,) = con.execute(f"select count(*) from {SCENARIOS_TABLE}").fetchall()[0]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return count
