"""`tokenledger report`, `tokenledger whatif`, `tokenledger breakeven` and `tokenledger experiments`.

`add_insight_parsers(subcommands)` registers them on the main CLI's subparsers; a handler returns 0 or
raises `UserError` for a mistake the user can fix.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pipelines.cli.common import UserError, cell, home_of, money, month_arg, unwritable, warehouse_of, with_home


def add_insight_parsers(subcommands: argparse._SubParsersAction) -> None:
    """Register `report`, `whatif`, `breakeven` and `experiments`; each sets `handler`, a function of args returning an
    exit code."""
    report = with_home(subcommands.add_parser("report", help="render the spend report: one self-contained HTML file"))
    report.add_argument("--out", type=Path, help="file to write (default: <home>/reports/spend-report[-YYYY-MM].html)")
    report.add_argument("--month", type=month_arg, help="show one calendar month, YYYY-MM (default: all the data)")
    report.set_defaults(handler=_report_command)

    whatif = with_home(
        subcommands.add_parser(
            "whatif",
            help="re-price a feature's real usage on another model, or move traffic between self-hosted GPUs and APIs, and project the month end",
            description="Three what-ifs: --feature F --to-model M [--share S] re-prices a feature on another model; --move-cluster C "
            "--to-model M prices a self-hosted cluster's traffic on an API model against its GPU bill; --move-feature F --to-cluster C "
            "--utilization U serves a feature's API requests on a cluster at its cost per token at 100% utilization divided by U.",
        )
    )
    whatif.add_argument("--feature", help="the feature whose requests to re-price (with --to-model)")
    whatif.add_argument("--to-model", help="the model to move them to: a price-book name or alias, or provider/model")
    whatif.add_argument("--share", type=_share, help="share of the requests that move, 0 < share <= 1 (default 1; with --feature)")
    whatif.add_argument("--move-cluster", metavar="CLUSTER", help="a self-hosted cluster whose traffic moves to --to-model")
    whatif.add_argument("--move-feature", metavar="FEATURE", help="a feature whose API requests move to --to-cluster")
    whatif.add_argument("--to-cluster", metavar="CLUSTER", help="the self-hosted cluster --move-feature's requests move to")
    whatif.add_argument("--utilization", type=_utilization, help="the cluster's utilization assumed, 0 < U <= 1 or a percentage (with --to-cluster)")
    whatif.add_argument("--month", type=month_arg, help="the month to re-price, YYYY-MM (default: the latest with spend)")
    whatif.add_argument("--no-save", action="store_true", help="print only; do not add the scenario to marts.scenarios")
    whatif.set_defaults(handler=_whatif_command)

    breakeven = with_home(
        subcommands.add_parser("breakeven", help="self-hosted clusters against API models: cost per token and break-even utilization")
    )
    breakeven.add_argument("--cluster", help="show one self-hosted cluster (default: all)")
    breakeven.add_argument("--month", type=month_arg, help="show one month, YYYY-MM (default: all)")
    breakeven.add_argument(
        "--compare-with", nargs="+", action="extend", metavar="MODEL",
        help="compare every self-hosted model with these API models (provider/model or a price-book name), computed now, not saved "
        "(default: the compare_with of model_tiers.yaml, from marts.self_host_breakeven)",
    )
    breakeven.set_defaults(handler=_breakeven_command)

    experiments = with_home(subcommands.add_parser("experiments", help="each experiment's variants against the control, with verdicts"))
    experiments.add_argument("--experiment", help="show one experiment (default: all)")
    experiments.set_defaults(handler=_experiments_command)


MIN_SHARE, MIN_UTILIZATION = Decimal("0.000001"), Decimal("0.001")
"""Below these a what-if is rounding noise or a cluster that does no work (1e-300 overflowed the cost per token)."""


def _share(text: str) -> Decimal:
    try:
        share = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a share (0.6 or 60%): {text!r}") from None
    if not (share.is_finite() and Decimal(0) < share <= Decimal(1)):
        raise argparse.ArgumentTypeError(f"share must be more than 0 and at most 1 (or 100%), got {text!r}")
    if share < MIN_SHARE or share.normalize().as_tuple().exponent < -9:
        raise argparse.ArgumentTypeError(f"share must be at least {MIN_SHARE} (0.0001%) with at most 9 decimal places, got {text!r}")
    return share


def _utilization(text: str) -> Decimal:
    try:
        utilization = _share(text)
    except argparse.ArgumentTypeError:
        utilization = None
    if utilization is None or utilization < MIN_UTILIZATION:
        raise argparse.ArgumentTypeError(
            f"utilization must be at least {MIN_UTILIZATION} (0.1%) and at most 1 (or 100%), with at most 9 decimal places, got {text!r}")
    return utilization


def _whatif_mode(args: argparse.Namespace) -> str:
    """Which what-if the arguments ask for ('model_switch', 'move_cluster' or 'move_feature'); UserError when they mix
    or miss arguments."""
    modes = [option for option, value in (("--feature", args.feature), ("--move-cluster", args.move_cluster),
                                          ("--move-feature", args.move_feature)) if value is not None]
    if len(modes) != 1:
        given = f"got {' and '.join(modes)}" if modes else "got none"
        raise UserError(f"whatif: give one of --feature F --to-model M, --move-cluster C --to-model M or "
                        f"--move-feature F --to-cluster C --utilization U ({given})")
    (mode,) = modes
    allowed = {"--feature": {"--to-model", "--share"}, "--move-cluster": {"--to-model"}, "--move-feature": {"--to-cluster", "--utilization"}}[mode]
    given = {option for option, value in (("--to-model", args.to_model), ("--share", args.share), ("--to-cluster", args.to_cluster),
                                          ("--utilization", args.utilization)) if value is not None}
    if given - allowed:
        raise UserError(f"whatif: {', '.join(sorted(given - allowed))} does not go with {mode} (it takes {' and '.join(sorted(allowed))})")
    missing = allowed - given - {"--share"}
    if missing:
        raise UserError(f"whatif: {mode} needs {' and '.join(sorted(missing))}")
    return {"--feature": "model_switch", "--move-cluster": "move_cluster", "--move-feature": "move_feature"}[mode]


def _report_command(args: argparse.Namespace) -> int:
    from pipelines.report import write_report

    home = home_of(args)
    if not home.root.is_dir():  # a mistyped --home: not a new empty folder with an empty report in it
        raise UserError(f"no home at {home.root}: run `tokenledger init --home {home.root}` (or `tokenledger demo`) first")
    with unwritable(args.out, home):
        path = write_report(home, args.out, args.month)
    print(f"report written to {cell(path)}")
    return 0


def _whatif_command(args: argparse.Namespace) -> int:
    from pipelines.insights.whatif import (
        WhatIfError,
        move_rows,
        run_move_cluster,
        run_move_feature,
        run_whatif,
        save_scenarios,
        whatif_rows,
    )
    from pipelines.storage.database import connect, publish
    from pipelines.storage.lock import run_lock
    from pipelines.warehouse.tables import open_warehouse

    mode = _whatif_mode(args)
    home = warehouse_of(args)
    try:
        # a saved scenario writes the working warehouse and publishes it: one writer per home, as for run and close
        # (without the lock it published a run's half-built state between two of its steps)
        with contextlib.nullcontext() if args.no_save else run_lock(home):
            with connect(home, read_only=True) if args.no_save else open_warehouse(home) as con:
                if mode == "model_switch":
                    result = run_whatif(con, args.feature, args.to_model, args.share or Decimal(1), args.month)
                    rows = whatif_rows(result, dt.datetime.now(dt.timezone.utc))
                elif mode == "move_cluster":
                    result = run_move_cluster(con, args.move_cluster, args.to_model, args.month)
                    rows = move_rows(result, dt.datetime.now(dt.timezone.utc))
                else:
                    result = run_move_feature(con, args.move_feature, args.to_cluster, args.utilization, args.month)
                    rows = move_rows(result, dt.datetime.now(dt.timezone.utc))
                if not args.no_save:
                    save_scenarios(con, rows)
            if not args.no_save:
                publish(home)
    except WhatIfError as exc:
        raise UserError(str(exc)) from exc
    {"model_switch": _print_model_switch, "move_cluster": _print_move_cluster, "move_feature": _print_move_feature}[mode](result)
    if not args.no_save:
        print(f"  saved to marts.scenarios as {cell(result.scenario_id)}")
    return 0


def _print_model_switch(result) -> None:
    from pipelines.insights.whatif import GROWTH_FACTORS

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


def _print_move_end(result) -> None:
    change = result.scenario_usd - result.actual_usd
    ratio = f" ({change * 100 / result.actual_usd:+.1f}%)" if result.actual_usd else ""
    baseline, scenario = result.month_end()
    print(f"  month to date: {money(result.actual_usd)} USD as is -> {money(result.scenario_usd)} USD{ratio}")
    print(f"  month-end projection (USD)   {'as is':>14}{'scenario':>14}{'delta':>14}")
    print(f"  {1:>3}x volume                 {money(baseline):>14}{money(scenario):>14}{money(scenario - baseline):>14}")


def _print_move_cluster(result) -> None:
    span = result.span
    print(f"what-if (estimate): cluster {cell(result.cluster)} -> {cell(result.target)}, {span.month}")
    print(
        f"  data: {span.first_day} .. {span.last_day}, {span.days_observed} of {span.days_in_month} days; {result.requests:,} requests, "
        f"{result.tokens:,} tokens; GPU bill of those days (idle included, {result.gpu_records:,} GPU records): {money(result.gpu_usd)} USD"
    )
    overrides = f"; negotiated: {', '.join(cell(o) for o in result.target_override_ids)}" if result.target_override_ids else ""
    print(
        f"  {result.repriced_requests:,} requests priced on {cell(result.target)} ({', '.join(result.target_price_ids)}{overrides}); "
        f"{result.unpriceable_requests:,} it cannot price left out"
        + (f"; {result.tier_fallback_requests:,} priced at the standard tier" if result.tier_fallback_requests else "")
    )
    _print_move_end(result)


def _print_move_feature(result) -> None:
    span = result.span
    print(f"what-if (estimate): {cell(result.feature)} -> cluster {cell(result.cluster)} at {result.utilization * 100:.0f}% utilization, {span.month}")
    print(
        f"  data: {span.first_day} .. {span.last_day}, {span.days_observed} of {span.days_in_month} days; {result.moved_requests:,} priced API "
        f"requests ({result.moved_tokens:,} tokens) move; {result.kept_requests:,} self-hosted stay; {result.unpriced_requests:,} unpriced left out"
    )
    print(
        f"  cluster {cell(result.cluster)} in {span.month}: {money(result.gpu_month_usd)} USD for {result.capacity_tokens:,} tokens of capacity = "
        f"{money(result.cost_per_1m_tokens_full_utilization_usd, 6)} USD per 1M tokens at 100%, "
        f"{money(result.cost_per_1m_tokens_full_utilization_usd / result.utilization, 6)} at {result.utilization * 100:.0f}%"
    )
    _print_move_end(result)


def _breakeven_command(args: argparse.Namespace) -> int:
    from pipelines.insights.whatif import WhatIfError, breakeven
    from pipelines.storage.database import connect

    home = warehouse_of(args)
    try:
        with connect(home, read_only=True) as con:
            rows = breakeven(con, args.cluster, args.month, args.compare_with)
    except WhatIfError as exc:
        raise UserError(str(exc)) from exc
    if not rows:
        scope = " ".join(part for part in (args.cluster and f"cluster {cell(args.cluster)}", args.month) if part)
        hint = "" if args.compare_with else ": add compare_with to a rule of model_tiers.yaml (docs/self-hosted.md) or pass --compare-with"
        print(f"no self-hosted traffic compared with an API model{' for ' + scope if scope else ''}{hint}")
        return 0
    clusters = max(len("cluster"), *(len(cell(row["cluster"])) for row in rows)) + 2
    models = max(len("compare with"), *(len(cell(row["compare_with"])) for row in rows)) + 2
    print(f"{'cluster':<{clusters}}{'month':<9}{'compare with':<{models}}{'tokens':>14}{'util':>8}{'GPU USD':>12}"
          f"{'USD/1M now':>12}{'at 100%':>10}{'API USD/1M':>12}{'break-even':>12}")
    for row in rows:
        utilization = "n/a" if row["utilization"] is None else f"{row['utilization']:.1%}"
        if row["breakeven_utilization"] is not None:
            verdict = f"{row['breakeven_utilization']:.1%}"
        elif row["cost_per_1m_tokens_full_utilization_usd"] is not None and row["api_cost_per_1m_tokens_usd"] is not None:
            verdict = "API cheaper"
        else:
            verdict = "n/a"
        print(
            f"{cell(row['cluster']):<{clusters}}{row['month']:<9}{cell(row['compare_with']):<{models}}{row['tokens_served']:>14,}{utilization:>8}"
            f"{money(row['gpu_cost_usd']):>12}{money(row['cost_per_1m_tokens_usd'], 4):>12}"
            f"{money(row['cost_per_1m_tokens_full_utilization_usd'], 4):>10}{money(row['api_cost_per_1m_tokens_usd'], 4):>12}{verdict:>12}"
        )
        notes = [f"models {cell(row['self_hosted_models'])}: {row['compared_requests']:,} of {row['requests']:,} requests compared"]
        if row["api_unpriceable_requests"]:
            notes.append(f"{row['api_unpriceable_requests']:,} the API model cannot price left out")
        if row["api_override_ids"]:
            notes.append(f"negotiated: {', '.join(cell(o) for o in row['api_override_ids'])}")
        print(f"{'':<{clusters}}{'; '.join(notes)}")
    print("\nbreak-even: the utilization at which the cluster's cost per token (its GPU bill, idle included) equals the API's "
          "for the same requests; 'API cheaper': not even at 100%")
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
