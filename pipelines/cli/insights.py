"""`tokenledger report`, `tokenledger whatif` and `tokenledger experiments`.

`add_insight_parsers(subcommands)` registers both on the main CLI's subparsers; a handler returns 0 or
raises `UserError` for a mistake the user can fix.
"""

from __future__ import annotations

import argparse
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pipelines.cli.common import UserError, cell, home_of, money, month_arg, warehouse_of, with_home


def add_insight_parsers(subcommands: argparse._SubParsersAction) -> None:
    """Register `report` and `whatif`; each sets `handler`, a function of args returning an exit code."""
    report = with_home(subcommands.add_parser("report", help="render the spend report: one self-contained HTML file"))
    report.add_argument("--out", type=Path, help="file to write (default: <home>/reports/spend-report[-YYYY-MM].html)")
    report.add_argument("--month", type=month_arg, help="show one calendar month, YYYY-MM (default: all the data)")
    report.set_defaults(handler=_report_command)

    whatif = with_home(subcommands.add_parser("whatif", help="re-price a feature's real usage on another model and project the month end"))
    whatif.add_argument("--feature", required=True, help="the feature whose requests to re-price")
    whatif.add_argument("--to-model", required=True, help="the model to move them to: a price-book name or alias, or provider/model")
    whatif.add_argument("--share", type=_share, default=Decimal(1), help="share of the requests that move, 0 < share <= 1 (default 1)")
    whatif.add_argument("--month", type=month_arg, help="the month to re-price, YYYY-MM (default: the latest with spend)")
    whatif.add_argument("--no-save", action="store_true", help="print only; do not add the scenario to marts.scenarios")
    whatif.set_defaults(handler=_whatif_command)

    experiments = with_home(subcommands.add_parser("experiments", help="each experiment's variants against the control, with verdicts"))
    experiments.add_argument("--experiment", help="show one experiment (default: all)")
    experiments.set_defaults(handler=_experiments_command)


def _share(text: str) -> Decimal:
    try:
        share = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a share (0.6 or 60%): {text!r}") from None
    if not (share.is_finite() and Decimal(0) < share <= Decimal(1)):
        raise argparse.ArgumentTypeError(f"share must be more than 0 and at most 1 (or 100%), got {text!r}")
    return share


def _report_command(args: argparse.Namespace) -> int:
    from pipelines.report import write_report

    try:
        path = write_report(home_of(args), args.out, args.month)
    except OSError as exc:
        raise UserError(str(exc)) from exc
    print(f"report written to {path}")
    return 0


def _whatif_command(args: argparse.Namespace) -> int:
    from pipelines.insights.whatif import GROWTH_FACTORS, WhatIfError, run_whatif, save_scenarios, whatif_rows
    from pipelines.storage.database import connect, publish
    from pipelines.warehouse.tables import open_warehouse

    home = warehouse_of(args)
    try:
        with connect(home, read_only=True) if args.no_save else open_warehouse(home) as con:
            result = run_whatif(con, args.feature, args.to_model, args.share, args.month)
            if not args.no_save:
                save_scenarios(con, whatif_rows(result, dt.datetime.now(dt.timezone.utc)))
        if not args.no_save:
            publish(home)
    except WhatIfError as exc:
        raise UserError(str(exc)) from exc
    span = result.span
    change = result.scenario_usd - result.actual_usd
    ratio = f" ({change * 100 / result.actual_usd:+.1f}%)" if result.actual_usd else ""
    print(f"what-if (estimate): {cell(result.feature)} -> {cell(result.target)}, {span.month}")
    print(
        f"  data: {span.first_day} .. {span.last_day}, {span.days_observed} of {span.days_in_month} days; "
        f"{result.requests - result.unpriced_requests:,} priced requests ({result.unpriced_requests:,} unpriced left out)"
    )
    print(
        f"  {result.share * 100:.0f}% of {result.repriced_requests:,} re-priceable requests move to {result.target} at list prices "
        f"({', '.join(result.target_price_ids) or 'no price entry'}); {result.kept_requests:,} stay on their model"
        + (f"; {result.tier_fallback_requests:,} priced at the standard tier" if result.tier_fallback_requests else "")
    )
    print(f"  month to date: {money(result.actual_usd)} USD as is -> {money(result.scenario_usd)} USD{ratio}")
    print(f"  month-end projection (USD)   {'as is':>14}{'scenario':>14}{'delta':>14}")
    for growth in GROWTH_FACTORS:
        baseline, scenario = result.month_end(growth)
        print(f"  {growth:>3}x volume                 {money(baseline):>14}{money(scenario):>14}{money(scenario - baseline):>14}")
    if not args.no_save:
        print(f"  saved to marts.scenarios as {result.scenario_id}")
    return 0


def _experiments_command(args: argparse.Namespace) -> int:
    from pipelines.storage.database import connect, sql_text

    home = warehouse_of(args)
    with connect(home, read_only=True) as con:
        rows = con.execute(sql_text("queries/experiments_summary"), {"experiment": args.experiment}).fetchall()
    if not rows:
        if args.experiment:
            raise UserError(f"no experiment named {cell(args.experiment)!r} in marts.experiment_results")
        print("no experiments: tag requests with tags.experiment and tags.variant, or land assignments in landing/experiments")
        return 0
    current = None
    for (experiment, feature, variant, is_control, units, requests, cost, outcomes, rate, per_outcome, p95, errors, ratio, low, high,
         rate_verdict, latency_verdict, verdict, conflicts, mismatch) in rows:
        if (experiment, feature) != current:
            current = (experiment, feature)
            note = f"; {conflicts:,} units in two variants left out" if conflicts else ""
            note += "; WARNING: the split of units does not match the design (sample-ratio mismatch)" if mismatch else ""
            print(f"\n{cell(experiment)} / {cell(feature)}{note}")
            print(f"  {'variant':<20}{'units':>8}{'requests':>10}{'cost USD':>12}{'outcomes':>10}{'rate':>7}{'per outcome':>13}"
                  f"{'p95 ms':>9}{'errors':>8}  vs control (cost per outcome)")
        versus = "control" if is_control else (
            f"x{ratio:.3f} [{low:.3f}, {high:.3f}] {verdict}; outcome rate {rate_verdict}, p95 {latency_verdict}"
            if ratio is not None and low is not None else f"{verdict}; outcome rate {rate_verdict}, p95 {latency_verdict}"
        )
        print(
            f"  {cell(variant)[:19]:<20}{units:>8,}{requests:>10,}{money(cost, 4):>12}{outcomes:>10,}{rate:>7.3f}"
            f"{money(per_outcome, 6):>13}{'' if p95 is None else p95:>9}{errors:>8.1%}  {versus}"
        )
    print("\nintervals: 95% simultaneous over cost per outcome, outcome rate and p95 latency (cluster bootstrap over units)")
    return 0
