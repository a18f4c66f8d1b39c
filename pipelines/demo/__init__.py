"""Realistic demo data: a week of gateway logs, outcomes, revenue, GPU capacity with power draw, overhead bills and
grid carbon intensity, then bills, budgets and chargeback.

`generate_demo` writes the landing files `tokenledger demo` starts from; after a first run,
`write_demo_bills` bills that usage the way providers would (with the stories in `demo.billing`),
`write_demo_budgets` writes a budgets file, `write_demo_chargeback` a chargeback file (with the EUR rates it needs;
`demo_statements` prints the statements it gives) and `demo_whatif` saves one what-if scenario.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from pipelines.demo.billing import write_demo_bills, write_demo_budgets
from pipelines.demo.business import (
    GRID_REGION,
    SELF_HOSTED_MODEL,
    SELF_HOSTED_PROVIDER,
    generate_business_data,
    write_self_hosted_logs,
)
from pipelines.demo.catalog import SUPPORT_ARMS, SUPPORT_EXPERIMENT, SUPPORT_TRUE_COST_RATIO
from pipelines.demo.chargeback import demo_statements, write_demo_chargeback
from pipelines.demo.gateway import generate_gateway_logs
from pipelines.ingest.privacy import create_key
from pipelines.insights.whatif import WhatIf, WhatIfError, run_whatif, save_scenarios, whatif_rows
from pipelines.storage.database import publish
from pipelines.storage.home import Home
from pipelines.warehouse.tables import open_warehouse

__all__ = [
    "demo_experiment",
    "demo_statements",
    "demo_whatif",
    "generate_demo",
    "write_demo_bills",
    "write_demo_budgets",
    "write_demo_chargeback",
]

WHATIF_FEATURE = "code_assist"
WHATIF_MODEL = "openai/gpt-4.1-mini-2025-04-14"
BREAKEVEN_MODELS = ("openai/gpt-4o-mini-2024-07-18", "openai/gpt-4.1-2025-04-14")


def generate_demo(
    home: Home, *, end: dt.date, days: int, requests_per_day: int, seed: int, progress: Callable[[str], None] = print
) -> None:
    """Write `days` days of gateway logs ending on `end`, self-hosted logs, outcomes, revenue and GPU capacity."""
    create_key(home.secrets)
    start = end - dt.timedelta(days=days - 1)
    progress(f"generating {days} days x {requests_per_day} requests ({start} .. {end}) into {home.landing}")
    generated = generate_gateway_logs(home.landing, start=start, days=days, requests_per_day=requests_per_day, seed=seed)
    progress(
        f"  {generated.requests} requests in {len(generated.files)} files, with {generated.bad_lines} bad lines, "
        f"{generated.duplicate_lines} duplicates and {generated.unknown_model_requests} requests to unknown models"
    )
    _write_experiments_yaml(home)
    _write_self_hosted_settings(home)
    self_hosted = write_self_hosted_logs(home, seed=seed)
    business = generate_business_data(home, start, end, seed=seed)
    progress(
        f"  {business['outcomes']} outcomes, {business['revenue_records']} revenue records, {business['gpu_records']} GPU records"
        + (f" for the self-hosted requests in {self_hosted.name}" if self_hosted else "")
        + f", {business['overhead_records']} overhead bills and {business['carbon_records']} days of grid carbon intensity"
    )


def demo_whatif(home: Home) -> WhatIf | str:
    """The demo's example what-if, saved to marts.scenarios: half of code_assist on a cheaper model; or why it was skipped."""
    try:
        with open_warehouse(home) as con:
            result = run_whatif(con, WHATIF_FEATURE, WHATIF_MODEL, Decimal("0.5"))
            save_scenarios(con, whatif_rows(result, dt.datetime.now(dt.timezone.utc)))
        publish(home)
    except WhatIfError as exc:
        return str(exc)
    return result


def _write_experiments_yaml(home: Home) -> None:
    """The design of the demo's planted experiment (randomized per conversation, half each); an existing file is kept."""
    path = home.root / "experiments.yaml"
    if path.exists():
        return
    (control, _), (treatment, _) = SUPPORT_ARMS
    path.write_text(
        "# The demo's planted experiment: half the support_chat conversations on a cheaper model (docs/experiments.md)\n"
        f"experiments:\n  {SUPPORT_EXPERIMENT}:\n    control: {control}\n    unit: conversation_id\n"
        f"    split: {{{control}: 50, {treatment}: 50}}\n",
        encoding="utf-8",
    )


def _write_self_hosted_settings(home: Home) -> None:
    """settings.yaml with the demo cluster's grid region and PUE, and model_tiers.yaml comparing its model with two
    API models (the break-even view); existing files are kept."""
    cluster = SELF_HOSTED_PROVIDER.removeprefix("self_hosted:")
    settings = home.root / "settings.yaml"
    if not settings.exists():
        settings.write_text(
            "# The demo cluster's grid region (landing/carbon) and power usage effectiveness (docs/full-cost.md)\n"
            f"pue: 1.2\nclusters:\n  {cluster}: {{region: {GRID_REGION}, pue: 1.15}}\n",
            encoding="utf-8",
        )
    tiers = home.root / "model_tiers.yaml"
    if not tiers.exists():
        tiers.write_text(
            "# The demo's self-hosted model against the API models it could be replaced by (marts.self_host_breakeven)\n"
            f"rules:\n  - match: \"{SELF_HOSTED_MODEL}\"\n    tier: medium\n"
            f"    compare_with: [{', '.join(BREAKEVEN_MODELS)}]\n",
            encoding="utf-8",
        )


def demo_experiment(home: Home) -> str:
    """One line: the planted experiment's verdict from marts.experiment_results beside the effect the generator planted."""
    from pipelines.storage.database import connect

    with connect(home, read_only=True) as con:
        row = con.execute(
            "select variant, units, cost_per_outcome_ratio, cost_per_outcome_ratio_low, cost_per_outcome_ratio_high, verdict, "
            "outcome_rate_verdict from marts.experiment_results where experiment = ? and feature = 'support_chat' and not is_control",
            [SUPPORT_EXPERIMENT],
        ).fetchone()
    if row is None:
        return f"experiment {SUPPORT_EXPERIMENT}: no results (marts.experiment_results has none)"
    variant, units, ratio, low, high, verdict, outcome = row
    measured = f"x{ratio:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")
    return (
        f"experiment {SUPPORT_EXPERIMENT} (support_chat, {units:,} conversations on {variant}): cost per outcome {measured} "
        f"of the control -> {verdict}; outcome rate {outcome}. Planted: x{SUPPORT_TRUE_COST_RATIO}, outcome rate unchanged"
    )
