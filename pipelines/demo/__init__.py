"""Realistic demo data: a week of gateway logs, outcomes, revenue and GPU capacity, then bills and budgets.

`generate_demo` writes the landing files `tokenledger demo` starts from; after a first run,
`write_demo_bills` bills that usage the way providers would (with the stories in `demo.billing`),
`write_demo_budgets` writes a budgets file and `demo_whatif` saves one what-if scenario.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from pipelines.demo.billing import write_demo_bills, write_demo_budgets
from pipelines.demo.business import generate_business_data, write_self_hosted_logs
from pipelines.demo.gateway import generate_gateway_logs
from pipelines.ingest.privacy import create_key
from pipelines.insights.whatif import WhatIf, WhatIfError, run_whatif, save_scenarios, whatif_rows
from pipelines.storage.database import publish
from pipelines.storage.home import Home
from pipelines.warehouse.tables import open_warehouse

__all__ = ["demo_whatif", "generate_demo", "write_demo_bills", "write_demo_budgets"]

WHATIF_FEATURE = "code_assist"
WHATIF_MODEL = "openai/gpt-4.1-mini-2025-04-14"


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
    self_hosted = write_self_hosted_logs(home, seed=seed)
    business = generate_business_data(home, start, end, seed=seed)
    progress(
        f"  {business['outcomes']} outcomes, {business['revenue_records']} revenue records and {business['gpu_records']} GPU records"
        + (f" for the self-hosted requests in {self_hosted.name}" if self_hosted else "")
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
