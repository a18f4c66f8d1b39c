"""Data contracts at the layer boundaries, as Great Expectations suites run on a frame of the window's rows.

GX is imported inside `validate` (importing it costs seconds), and validates a pandas frame pulled
from DuckDB: only the window's rows and only the suite's columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

TOKEN_COLUMNS = (
    "input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
    "output_tokens", "reasoning_tokens", "audio_input_tokens", "audio_output_tokens", "web_search_requests",
)
SERVICE_TIERS = ["standard", "batch", "flex", "priority", "scale", "provisioned_throughput", "on_demand_flex", "on_demand_priority"]
UNPRICED_REASONS = [
    "unknown_model", "unknown_tier", "no_price_at_time", *(f"no_price_for_bucket:{b}" for b in (
        "input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "reasoning", "audio_input", "audio_output", "web_search",
    )),
]


@dataclass(frozen=True)
class Expectation:
    """One expectation: a GX expectation class name, its column and its arguments."""

    kind: str
    column: str | None = None
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Contract:
    """A suite and the SQL that pulls the rows it validates (named parameters $window_start, $window_end)."""

    name: str
    table: str
    columns: tuple[str, ...]
    expectations: tuple[Expectation, ...]

    def select_sql(self) -> str:
        cols = ", ".join(f"cast({c} as double) as {c}" if c.endswith("_usd") else c for c in self.columns)
        return f"select {cols} from {self.table} where event_date >= $window_start and event_date < $window_end"


@dataclass(frozen=True)
class ContractResult:
    """The outcome of one suite: success, rows checked, and each failed expectation with examples."""

    contract: str
    success: bool
    rows: int
    failures: list[dict]


STAGING = Contract(
    name="lake_to_staging",
    table="staging.stg_gateway_requests",
    columns=("source", "request_id", "occurred_at", "provider", "model", "service_tier", "feature", *TOKEN_COLUMNS),
    expectations=(
        Expectation("ExpectColumnValuesToNotBeNull", "request_id"),
        Expectation("ExpectColumnValuesToNotBeNull", "occurred_at"),
        Expectation("ExpectColumnValuesToNotBeNull", "model"),
        Expectation("ExpectColumnValuesToNotBeNull", "feature"),
        Expectation("ExpectCompoundColumnsToBeUnique", None, {"column_list": ["source", "request_id"]}),
        Expectation("ExpectColumnValuesToMatchRegex", "provider", {"regex": r"^(?:openai|azure_openai|anthropic|google|aws_bedrock|self_hosted:[A-Za-z0-9_.-]+)$"}),
        Expectation("ExpectColumnValuesToBeInSet", "service_tier", {"value_set": SERVICE_TIERS}),
        *(Expectation("ExpectColumnValuesToBeBetween", c, {"min_value": 0}) for c in TOKEN_COLUMNS),
    ),
)

CORE = Contract(
    name="core_to_marts",
    table="core.request_costs",
    columns=("request_id", "is_priced", "price_id", "unpriced_reason", "cost_usd", "input_cost_usd", "output_cost_usd"),
    expectations=(
        Expectation("ExpectColumnValuesToBeUnique", "request_id"),
        Expectation("ExpectColumnValuesToNotBeNull", "is_priced"),
        Expectation("ExpectColumnValuesToNotBeNull", "price_id", {"row_condition": "is_priced == True", "condition_parser": "pandas"}),
        Expectation("ExpectColumnValuesToNotBeNull", "cost_usd", {"row_condition": "is_priced == True", "condition_parser": "pandas"}),
        Expectation("ExpectColumnValuesToBeNull", "cost_usd", {"row_condition": "is_priced == False", "condition_parser": "pandas"}),
        Expectation("ExpectColumnValuesToBeInSet", "unpriced_reason", {"value_set": UNPRICED_REASONS}),
        Expectation("ExpectColumnValuesToBeBetween", "cost_usd", {"min_value": 0}),
        Expectation("ExpectColumnValuesToBeBetween", "input_cost_usd", {"min_value": 0}),
        Expectation("ExpectColumnValuesToBeBetween", "output_cost_usd", {"min_value": 0}),
    ),
)


def validate(con: duckdb.DuckDBPyConnection, contract: Contract, params: dict) -> ContractResult:
    """Pull the window's rows as a frame and run the contract's suite on it."""
    frame = con.execute(contract.select_sql(), params).df()
    return validate_frame(frame, contract)


def validate_frame(frame, contract: Contract) -> ContractResult:
    """Run the contract's GX suite on a pandas frame in an ephemeral context (no files, no telemetry)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    if frame.empty:
        return ContractResult(contract.name, True, 0, [])
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    expectations = [
        getattr(gx.expectations, e.kind)(**({"column": e.column} if e.column else {}), **e.kwargs) for e in contract.expectations
    ]
    suite = context.suites.add(gx.ExpectationSuite(name=contract.name, expectations=expectations))
    batch = context.data_sources.add_pandas("frames").add_dataframe_asset(contract.name).add_batch_definition_whole_dataframe("frame")
    run = context.validation_definitions.add(gx.ValidationDefinition(name=contract.name, data=batch, suite=suite))
    result = run.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    failures = []
    for outcome in result.results:
        if outcome.success:
            continue
        config = outcome.expectation_config
        raised = (outcome.exception_info or {}).get("exception_message") if outcome.exception_info else None
        failures.append(
            {
                "expectation": config.type,
                "column": config.kwargs.get("column") or ",".join(config.kwargs.get("column_list") or []),
                "unexpected_count": outcome.result.get("unexpected_count"),
                "examples": [str(v) for v in (outcome.result.get("partial_unexpected_list") or [])[:5]],
                **({"error": str(raised)} if raised else {}),
            }
        )
    return ContractResult(contract.name, bool(result.success), len(frame), failures)
