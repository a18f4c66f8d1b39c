"""Data contracts at the layer boundaries: every row checked in SQL, the suite run by Great Expectations on a bounded frame.

Each contract is a Great Expectations suite. A window of 10M requests is too big to pull into pandas
(GX needed seconds and gigabytes per million rows), so a contract runs in two parts:

- in DuckDB, each expectation is one SQL condition counted over every row of the window (one scan,
  plus one grouping per uniqueness expectation): the exact unexpected counts and the first examples;
- in GX, the suite itself runs on a frame of at most a few thousand rows: a fixed sample of the window
  plus the first rows that broke each expectation, so GX sees every kind of failure the SQL found.

A contract fails when either engine finds a failure; counts and examples come from the SQL, so they
cover the whole window. GX is imported only when the SQL found a failure (the import costs seconds), in
the thread that validates: never on a thread of its own, where it raced Dagster's own imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import duckdb

from pipelines.adapters.providers import SERVICE_TIERS as ADAPTER_TIERS
from pipelines.storage.relations import sql_literal

TOKEN_COLUMNS = (
    "input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
    "output_tokens", "reasoning_tokens", "audio_input_tokens", "audio_output_tokens", "image_input_tokens", "image_output_tokens",
    "web_search_requests",
)
SERVICE_TIERS = list(ADAPTER_TIERS)
"""The tiers the staging contract accepts: those ingestion lets in (any other is rejected there, named)."""
UNPRICED_REASONS = [
    "unknown_model", "unknown_tier", "no_price_at_time", *(f"no_price_for_bucket:{b}" for b in (
        "input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "reasoning", "audio_input", "audio_output", "image_input", "image_output",
        "web_search",
    )),
]
SAMPLE_ROWS = 2_000
"""Rows of the window GX validates besides the failing ones."""
FAILING_ROWS = 20
"""Rows per failed expectation added to the GX frame (and the first 5 are the examples)."""
EXAMPLES = 5


@dataclass(frozen=True)
class Expectation:
    """One expectation: a GX expectation class name, its column, its arguments, and for a conditional
    expectation the SQL form of its `row_condition` (`where`)."""

    kind: str
    column: str | None = None
    kwargs: dict = field(default_factory=dict)
    where: str | None = None

    @property
    def type(self) -> str:
        """The GX expectation type, e.g. expect_column_values_to_be_between."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.kind).lower()

    @property
    def columns(self) -> list[str]:
        return list(self.kwargs.get("column_list") or [self.column])

    @property
    def label(self) -> str:
        return ",".join(self.columns)

    def unexpected_sql(self) -> str | None:
        """SQL true for a row that breaks this expectation; None for uniqueness, which needs a grouping."""
        c = self.column
        if self.kind == "ExpectColumnValuesToNotBeNull":
            bad = f"{c} is null"
        elif self.kind == "ExpectColumnValuesToBeNull":
            bad = f"{c} is not null"
        elif self.kind == "ExpectColumnValuesToMatchRegex":
            bad = f"{c} is not null and not regexp_matches({c}, {sql_literal(self.kwargs['regex'])})"
        elif self.kind == "ExpectColumnValuesToBeInSet":
            bad = f"{c} is not null and {c} not in ({', '.join(sql_literal(v) for v in self.kwargs['value_set'])})"
        elif self.kind == "ExpectColumnValuesToBeBetween":
            bounds = []
            if self.kwargs.get("min_value") is not None:
                bounds.append(f"{c} < {self.kwargs['min_value']}")
            if self.kwargs.get("max_value") is not None:
                bounds.append(f"{c} > {self.kwargs['max_value']}")
            bad = f"{c} is not null and ({' or '.join(bounds)})"
        elif self.kind in ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique"):
            return None
        else:
            raise ValueError(f"no SQL form for {self.kind}")
        return f"({self.where}) and {bad}" if self.where else bad


@dataclass(frozen=True)
class Contract:
    """A suite and the table it validates (rows of the window $window_start <= event_date < $window_end)."""

    name: str
    table: str
    columns: tuple[str, ...]
    expectations: tuple[Expectation, ...]

    def projection(self) -> str:
        return ", ".join(f"cast({c} as double) as {c}" if c.endswith("_usd") else c for c in self.columns)

    def window_sql(self) -> str:
        return "event_date >= $window_start and event_date < $window_end"

    def select_sql(self) -> str:
        return f"select {self.projection()} from {self.table} where {self.window_sql()}"


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
    columns=("source", "request_id", "event_date", "occurred_at", "provider", "model", "service_tier", "feature", *TOKEN_COLUMNS),
    expectations=(
        Expectation("ExpectColumnValuesToNotBeNull", "request_id"),
        Expectation("ExpectColumnValuesToNotBeNull", "occurred_at"),
        Expectation("ExpectColumnValuesToNotBeNull", "model"),
        Expectation("ExpectColumnValuesToNotBeNull", "feature"),
        Expectation("ExpectCompoundColumnsToBeUnique", None, {"column_list": ["source", "request_id", "event_date"]}),
        Expectation("ExpectColumnValuesToMatchRegex", "provider", {"regex": r"^(?:openai|azure_openai|anthropic|google|aws_bedrock|mistral|deepseek|xai|self_hosted:[A-Za-z0-9_.-]+)$"}),
        Expectation("ExpectColumnValuesToBeInSet", "service_tier", {"value_set": SERVICE_TIERS}),
        *(Expectation("ExpectColumnValuesToBeBetween", c, {"min_value": 0}) for c in TOKEN_COLUMNS),
    ),
)

_PRICED = {"row_condition": "is_priced == True", "condition_parser": "pandas"}
_UNPRICED = {"row_condition": "is_priced == False", "condition_parser": "pandas"}

CORE = Contract(
    name="core_to_marts",
    table="core.request_costs",
    columns=("source", "request_id", "event_date", "is_priced", "price_id", "unpriced_reason", "cost_usd", "input_cost_usd", "output_cost_usd"),
    expectations=(
        Expectation("ExpectCompoundColumnsToBeUnique", None, {"column_list": ["source", "request_id", "event_date"]}),
        Expectation("ExpectColumnValuesToNotBeNull", "is_priced"),
        Expectation("ExpectColumnValuesToNotBeNull", "price_id", _PRICED, where="is_priced"),
        Expectation("ExpectColumnValuesToNotBeNull", "cost_usd", _PRICED, where="is_priced"),
        Expectation("ExpectColumnValuesToBeNull", "cost_usd", _UNPRICED, where="not is_priced"),
        Expectation("ExpectColumnValuesToBeInSet", "unpriced_reason", {"value_set": UNPRICED_REASONS}),
        Expectation("ExpectColumnValuesToBeBetween", "cost_usd", {"min_value": 0}),
        Expectation("ExpectColumnValuesToBeBetween", "input_cost_usd", {"min_value": 0}),
        Expectation("ExpectColumnValuesToBeBetween", "output_cost_usd", {"min_value": 0}),
    ),
)

def validate(con: duckdb.DuckDBPyConnection, contract: Contract, params: dict, relation: str | None = None) -> ContractResult:
    """Check every row of the window in SQL, then run the GX suite on a bounded frame of the window.

    `relation`: check these rows (a SQL relation, e.g. a lake table's new files before their commit) instead of
    the contract's table."""
    if relation is not None:
        contract = replace(contract, table=relation)
    rows, counts = _unexpected_counts(con, contract, params)
    if rows == 0:
        return ContractResult(contract.name, True, 0, [])
    failing = [e for e, n in zip(contract.expectations, counts) if n]
    frame = _bounded_frame(con, contract, params, failing)
    checked = validate_frame(frame, contract)
    found = {(f["expectation"], f["column"]): f for f in checked.failures}
    failures = []
    for expectation, count in zip(contract.expectations, counts):
        by_gx = found.pop((expectation.type, expectation.label), None)
        if count:
            failures.append(
                {
                    "expectation": expectation.type,
                    "column": expectation.label,
                    "unexpected_count": count,
                    "examples": _examples(con, contract, expectation, params),
                    **({"error": by_gx["error"]} if by_gx and "error" in by_gx else {}),
                }
            )
        elif by_gx:
            failures.append({**by_gx, "found_by": f"Great Expectations on a sample of {len(frame)} rows"})
    failures += list(found.values())
    return ContractResult(contract.name, not failures, rows, failures)


def _unexpected_counts(con: duckdb.DuckDBPyConnection, contract: Contract, params: dict) -> tuple[int, list[int]]:
    """Rows in the window, and for each expectation the rows that break it (GX's unexpected_count)."""
    conditions = [e.unexpected_sql() for e in contract.expectations]
    counted = ", ".join(f"count(*) filter (where {c})" for c in conditions if c is not None)
    result = con.execute(
        f"select count(*){', ' + counted if counted else ''} from {contract.table} where {contract.window_sql()}", params
    ).fetchall()[0]
    rows, simple = result[0], list(result[1:])
    counts = []
    for expectation, condition in zip(contract.expectations, conditions):
        if condition is not None:
            counts.append(int(simple.pop(0)))
            continue
        keys = ", ".join(expectation.columns)
        duplicated = con.execute(
            f"select coalesce(sum(n), 0) from (select count(*) as n from {contract.table} "
            f"where {contract.window_sql()} and ({' and '.join(f'{k} is not null' for k in expectation.columns)}) "
            f"group by {keys} having count(*) > 1)",
            params,
        ).fetchall()[0][0]
        counts.append(int(duplicated))
    return int(rows), counts


FILE_ORDER = "source_file, source_row"
"""The order examples are shown in: where the rows were in the landed files (every contract table keeps both)."""


def _breaking_rows(contract: Contract, expectation: Expectation, limit: int) -> str:
    """SQL for the first `limit` rows (in the landed files' order) that break the expectation."""
    condition = expectation.unexpected_sql()
    if condition is None:
        keys = ", ".join(expectation.columns)
        return (
            f"select {contract.projection()} from (select *, count(*) over (partition by {keys}) as _copies "
            f"from {contract.table} where {contract.window_sql()}) "
            f"where _copies > 1 and {' and '.join(f'{k} is not null' for k in expectation.columns)} order by {FILE_ORDER} limit {limit}"
        )
    return (
        f"select {contract.projection()} from {contract.table} "
        f"where {contract.window_sql()} and {condition} order by {FILE_ORDER} limit {limit}"
    )


def _examples(con: duckdb.DuckDBPyConnection, contract: Contract, expectation: Expectation, params: dict) -> list[str]:
    """The first unexpected values, as GX shows them (a dict per row for compound columns)."""
    rows = con.execute(_breaking_rows(contract, expectation, EXAMPLES), params).df()
    if expectation.column is None:
        return [str(record) for record in rows[expectation.columns].to_dict("records")]
    return [str(value) for value in rows[expectation.column].tolist()]


def _bounded_frame(con: duckdb.DuckDBPyConnection, contract: Contract, params: dict, failing: list[Expectation]):
    """A pandas frame of at most SAMPLE_ROWS + FAILING_ROWS per failed expectation rows of the window."""
    parts = [f"select * from ({contract.select_sql()}) using sample reservoir({SAMPLE_ROWS} rows) repeatable (7)"]
    parts += [f"select * from ({_breaking_rows(contract, e, FAILING_ROWS)})" for e in failing]
    # `union`: a breaking row drawn into the sample too would otherwise be in the frame twice, and GX would call it a
    # duplicate request (the exact counts above are the SQL's, whatever the frame holds)
    return con.execute(" union ".join(f"({part})" for part in parts), params).df()


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
