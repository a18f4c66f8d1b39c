"""Budgets: budgets.yaml validation, month-end projection from the burn rate (hand-computed), the warning check."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
from helpers import envelope, land

from pipelines.ingest.privacy import create_key
from pipelines.insights.budgets import Budget, BudgetError, MonthSpan, budget_status, load_budgets, observed_month
from pipelines.runner import RunSummary, run_pipeline
from pipelines.storage.home import Home

# gpt-4o-2024-08-06 standard: 1,000 input x 2.50 + 100 output x 10.00 = 3,500 per 1M -> 0.0035 USD a request.
# gpt-4o-mini-2024-07-18 standard: 1,000 x 0.15 + 100 x 0.60 = 210 per 1M -> 0.00021 USD a request.
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}
DAYS = [dt.date(2026, 10, 20) + dt.timedelta(days=n) for n in range(4)]
BUDGETS = """\
# monthly USD
features:
  support_chat: 0.40
  search: 1
  code_assist: 5
segments:
  enterprise: 0.10
  pro: 0.0126
"""


def _quiet(_: str) -> None:
    return None


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> tuple[Home, RunSummary]:
    """Oct 20-23 2026: support_chat (enterprise) 10 gpt-4o requests a day, search (pro) 5 gpt-4o-mini requests a day."""
    home = Home.at(tmp_path_factory.mktemp("budgets") / "home").ensure()
    create_key(home.secrets)
    lines = []
    for day in DAYS:
        for n in range(10):
            lines.append(envelope(f"chat_{day}_{n}", "openai", "gpt-4o-2024-08-06", USAGE, timestamp=f"{day}T08:{n:02d}:00Z"))
        for n in range(5):
            lines.append(envelope(f"search_{day}_{n}", "openai", "gpt-4o-mini-2024-07-18", USAGE, timestamp=f"{day}T09:{n:02d}:00Z",
                                  feature="search", user_segment="pro"))
    land(home, "october.jsonl", lines)
    (home.root / "budgets.yaml").write_text(BUDGETS)
    return home, run_pipeline(home, progress=_quiet)


def _write(tmp_path, text: str):
    (tmp_path / "budgets.yaml").write_text(text)
    return tmp_path


def test_budgets_file_is_read_as_decimals(tmp_path):
    assert load_budgets(tmp_path) == []
    assert load_budgets(_write(tmp_path, BUDGETS)) == [
        Budget("feature", "support_chat", Decimal("0.40")),
        Budget("feature", "search", Decimal("1")),
        Budget("feature", "code_assist", Decimal("5")),
        Budget("segment", "enterprise", Decimal("0.10")),
        Budget("segment", "pro", Decimal("0.0126")),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("features:\n  support_chat: lots\n", "budgets.yaml: features.support_chat: expected a monthly amount in USD (a number >= 0), got 'lots'"),
        ("features:\n  support_chat: -5\n", "budgets.yaml: features.support_chat: expected a monthly amount in USD (a number >= 0), got -5"),
        ("segments:\n  pro: true\n", "budgets.yaml: segments.pro: expected a monthly amount in USD (a number >= 0), got true"),
        ("feature:\n  support_chat: 5\n", "budgets.yaml: unknown key 'feature' (known: currency, features, segments)"),
        ("segments: [pro, team]\n", "budgets.yaml: segments: expected a mapping of segment name to monthly USD, got list"),
        ("currency: EUR\nfeatures: {search: 1}\n", "budgets.yaml: currency: budgets are in USD, got 'EUR'"),
        ("- 5\n", "budgets.yaml: expected a mapping with 'features' and/or 'segments', got list"),
        ("features: {search: 1\n", "budgets.yaml: not valid YAML"),
    ],
)
def test_bad_budgets_file_names_the_file_and_field(tmp_path, text, problem):
    with pytest.raises(BudgetError) as error:
        load_budgets(_write(tmp_path, text))
    assert problem in str(error.value)


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(BudgetError) as error:
        load_budgets(_write(tmp_path, "features:\n  a: x\n  b: -1\nsegments:\n  c: 2\n"))
    assert str(error.value).splitlines()[1:] == [
        "  budgets.yaml: features.a: expected a monthly amount in USD (a number >= 0), got 'x'",
        "  budgets.yaml: features.b: expected a monthly amount in USD (a number >= 0), got -1",
    ]


def test_projection_extends_the_burn_rate_to_the_month_end():
    span = MonthSpan("2026-10", dt.date(2026, 10, 20), dt.date(2026, 10, 23))
    assert (span.days_observed, span.days_remaining, span.days_in_month, span.end) == (4, 8, 31, dt.date(2026, 11, 1))
    assert span.project(Decimal("0.14")) == Decimal("0.42")
    assert span.burn_rate(Decimal("0.14")) == Decimal("0.035")
    # a third of a cent a day does not terminate: the projection keeps 15 places, like DECIMAL(38, 15)
    three_days = MonthSpan("2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 3))
    assert three_days.project(Decimal("0.01")) == Decimal("0.093333333333333")
    finished = MonthSpan("2026-09", dt.date(2026, 9, 1), dt.date(2026, 9, 30))
    assert finished.days_remaining == 0 and finished.project(Decimal("12.5")) == Decimal("12.5")


def test_budget_status_mart_and_warning_check(pipeline):
    home, summary = pipeline
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = con.execute(
            "select scope, name, budget_usd, spent_usd, burn_rate_usd_per_day, projected_usd, projected_pct_of_budget, "
            "days_observed, days_remaining, status from marts.budget_status"
        ).fetchall()
    # Oct 20-23: 4 days observed, 8 left of 31 -> projection = spent x 3
    assert rows == [
        ("feature", "support_chat", Decimal("0.4"), Decimal("0.14"), Decimal("0.035"), Decimal("0.42"), Decimal("105.00"), 4, 8, "projected_over"),
        ("feature", "search", Decimal("1"), Decimal("0.0042"), Decimal("0.00105"), Decimal("0.0126"), Decimal("1.26"), 4, 8, "on_track"),
        ("feature", "code_assist", Decimal("5"), Decimal("0"), Decimal("0"), Decimal("0"), Decimal("0.00"), 4, 8, "on_track"),
        ("segment", "enterprise", Decimal("0.1"), Decimal("0.14"), Decimal("0.035"), Decimal("0.42"), Decimal("420.00"), 4, 8, "over_budget"),
        ("segment", "pro", Decimal("0.0126"), Decimal("0.0042"), Decimal("0.00105"), Decimal("0.0126"), Decimal("100.00"), 4, 8, "on_track"),
    ]
    assert (
        "marts/budget_status projection_within_budget: feature support_chat: projected 0.42 USD > budget 0.40 USD for 2026-10; "
        "segment enterprise: projected 0.42 USD > budget 0.10 USD for 2026-10"
    ) in summary.warnings


def test_invalid_budgets_fail_the_asset_with_the_file_and_field(pipeline):
    home, _ = pipeline
    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome

    (home.root / "budgets.yaml").write_text("features:\n  support_chat: lots\n")
    try:
        result = dg.materialize(
            list(defs().assets), selection=dg.AssetSelection.assets(["marts", "budget_status"]),
            resources={"tokenledger": TokenledgerHome(home=str(home.root))}, raise_on_error=False,
        )
    finally:
        (home.root / "budgets.yaml").write_text(BUDGETS)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    described = failure.step_failure_data.user_failure_data.description
    assert "budgets.yaml: features.support_chat: expected a monthly amount in USD (a number >= 0), got 'lots'" in described


def test_a_month_the_data_has_moved_past_is_projected_at_its_spend(tmp_path):
    """A feature whose last request is of Nov 21, in a warehouse with data of December: November is over, so its
    projection is its spend (docs/report.md). It was projected over the nine days after the 21st, spent x 5.5 here,
    and warned of a budget it never passed."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    lines = [envelope(f"late_{day}", "openai", "gpt-4o-2024-08-06", USAGE, timestamp=f"2026-11-{day}T08:00:00Z", feature="late")
             for day in (20, 21)]
    lines.append(envelope("december", "openai", "gpt-4o-2024-08-06", USAGE, timestamp="2026-12-02T08:00:00Z", feature="search"))
    land(home, "requests.jsonl", lines)
    (home.root / "budgets.yaml").write_text("features:\n  late: 0.01\n")
    run_pipeline(home, progress=_quiet)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        span = observed_month(con, "2026-11")
        assert (span.first_day, span.last_day, span.days_observed, span.days_remaining) == (dt.date(2026, 11, 20), dt.date(2026, 11, 30), 11, 0)
        # two gpt-4o requests at 0.0035 each; December's request is not November's
        assert budget_status(con, load_budgets(home.root), "2026-11").select(["spent_usd", "projected_usd", "status"]).to_pylist() == [
            {"spent_usd": Decimal("0.007"), "projected_usd": Decimal("0.007"), "status": "on_track"}]
