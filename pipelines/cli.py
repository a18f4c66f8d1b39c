"""The `tokenledger` command line: init, demo, run, dev and sql."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from pipelines.home import HOME_ENV, Home
from pipelines.insights_cli import add_insight_parsers
from pipelines.prices_cli import add_prices_parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _UserError as exc:
        print(f"tokenledger: {exc}", file=sys.stderr)
        return 2


class _UserError(Exception):
    """An error to show the user in one line, without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenledger", description="Meter AI inference usage and attribute its cost.")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_home(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--home", help=f"home folder (default: ${HOME_ENV} or ./data)")
        return sub

    init = with_home(commands.add_parser("init", help="create the home folder and a pseudonymization key"))
    init.set_defaults(handler=_init)

    demo = with_home(commands.add_parser("demo", help="generate realistic gateway logs and run the whole pipeline"))
    demo.add_argument("--days", type=int, default=7, help="days of logs to generate (default 7)")
    demo.add_argument("--requests-per-day", type=int, default=5000, help="requests per day (default 5000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--end", type=_date, help="last day to generate (default: yesterday, UTC)")
    demo.set_defaults(handler=_demo)

    run = with_home(commands.add_parser("run", help="ingest what is new in landing and materialize the dates it touched"))
    run.add_argument("--start", type=_date, help="first date to materialize (YYYY-MM-DD)")
    run.add_argument("--end", type=_date, help="last date to materialize, inclusive (YYYY-MM-DD)")
    run.add_argument("--reprice", action="store_true", help="re-price [--start, --end] with the current price book and overrides")
    run.set_defaults(handler=_run)

    close = with_home(commands.add_parser("close", help="close a month: freeze its marts in finance.* snapshots"))
    close.add_argument("month", help="the month to close, YYYY-MM")
    close.set_defaults(handler=_close)

    dev = with_home(commands.add_parser("dev", help="open the Dagster UI on this home"))
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(handler=_dev)

    add_prices_parser(commands)
    add_insight_parsers(commands)

    export = commands.add_parser("export", help="export the ledger in an open format")
    formats = export.add_subparsers(dest="export_format", required=True)
    focus = with_home(formats.add_parser("focus", help="the priced usage as a FOCUS 1.2 dataset (.parquet or .csv)"))
    focus.add_argument("--out", required=True, type=Path, help="file to write: FILE.parquet or FILE.csv")
    focus.set_defaults(handler=_export_focus)

    sql = with_home(commands.add_parser("sql", help="run one read-only SQL query against the warehouse"))
    sql.add_argument("query", help="the SQL to run (the warehouse is opened read-only)")
    sql.add_argument("--read-only", action="store_true", default=True, help="always on: the warehouse is opened read-only")
    sql.set_defaults(handler=_sql)
    return parser


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _init(args: argparse.Namespace) -> int:
    from pipelines.privacy import create_key

    home = Home.at(args.home).ensure()
    key = create_key(home.secrets)
    print(f"home ready at {home.root}\n  drop gateway logs under {home.landing / 'gateway' / 'envelope'}\n  pseudonymization key: {key}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pipelines.demo_billing import write_demo_bills, write_demo_budgets
    from pipelines.demo_business import generate_business_data, write_self_hosted_logs
    from pipelines.demo_data import generate_gateway_logs
    from pipelines.privacy import create_key
    from pipelines.report import write_report

    if args.days < 1 or args.requests_per_day < 1:
        raise _UserError("--days and --requests-per-day must be at least 1")
    home = Home.at(args.home).ensure()
    create_key(home.secrets)
    end = args.end or (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1))
    start = end - dt.timedelta(days=args.days - 1)
    print(f"generating {args.days} days x {args.requests_per_day} requests ({start} .. {end}) into {home.landing}")
    started = time.perf_counter()
    generated = generate_gateway_logs(
        home.landing, start=start, days=args.days, requests_per_day=args.requests_per_day, seed=args.seed
    )
    print(
        f"  {generated.requests} requests in {len(generated.files)} files, with {generated.bad_lines} bad lines, "
        f"{generated.duplicate_lines} duplicates and {generated.unknown_model_requests} requests to unknown models"
    )
    self_hosted = write_self_hosted_logs(home, seed=args.seed)
    business = generate_business_data(home, start, end, seed=args.seed)
    print(
        f"  {business['outcomes']} outcomes, {business['revenue_records']} revenue records and {business['gpu_records']} GPU records"
        + (f" for the self-hosted requests in {self_hosted.name}" if self_hosted else "")
    )
    _run_and_report(home)
    bills = write_demo_bills(home)
    print(f"\nbilling: {len(bills)} provider cost pages written from the ledger (with an over-billed day, a model outside the gateway, a credit)")
    budgets = write_demo_budgets(home)
    if budgets:
        print(f"budgets: {budgets.name} written with a monthly budget per feature and segment (one feature set to run over)")
    _run_quietly(home)
    _print_reconciliation_summary(home)
    _demo_whatif(home)
    print(f"\nspend report: {write_report(home)}")
    print(f"demo finished in {time.perf_counter() - started:.1f}s; warehouse: {home.warehouse}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if (args.start is None) != (args.end is None):
        raise _UserError("give both --start and --end, or neither")
    if args.reprice and args.start is None:
        raise _UserError("--reprice needs --start and --end: the dates to re-price")
    if args.start and args.end < args.start:
        raise _UserError(f"--end {args.end} is before --start {args.start}")
    home = Home.at(args.home)
    if not home.landing.is_dir():
        raise _UserError(f"{home.landing} does not exist: run `tokenledger init --home {home.root}` first")
    _run_and_report(home, args.start, args.end)
    return 0


def _close(args: argparse.Namespace) -> int:
    from pipelines.periods import CloseError, close_month
    from pipelines.runner import RunInProgress

    home = Home.at(args.home)
    if not home.warehouse.is_file():
        raise _UserError(f"no warehouse at {home.warehouse}: run `tokenledger run` first")
    try:
        closed = close_month(home, args.month)
    except (CloseError, RunInProgress) as exc:
        raise _UserError(str(exc)) from exc
    print(
        f"closed {closed['month']}: {closed['requests']:,} requests, {_money(closed['cost_usd'])} USD frozen in "
        "finance.daily_spend; later changes to this month appear in marts.restatements"
    )
    return 0


def _run_and_report(home: Home, start: dt.date | None = None, end: dt.date | None = None) -> None:
    from pipelines.privacy import MissingKeyError
    from pipelines.runner import PipelineFailed, RunInProgress, run_pipeline
    from pipelines.warehouse import WarehouseBusyError

    started = time.perf_counter()
    try:
        summary = run_pipeline(home, start, end, progress=lambda message: print(f"  {message}", flush=True))
    except (MissingKeyError, PipelineFailed, RunInProgress, WarehouseBusyError) as exc:
        raise _UserError(str(exc)) from exc
    print(f"pipeline finished in {time.perf_counter() - started:.1f}s ({len(summary.dates)} dates materialized)")
    _print_spend_summary(home)


def _demo_whatif(home: Home) -> None:
    """The demo's example what-if: half of code_assist on a cheaper model, saved to marts.scenarios."""
    from pipelines.warehouse import connect
    from pipelines.whatif import WhatIfError, run_whatif, save_scenarios, whatif_rows

    try:
        with connect(home) as con:
            result = run_whatif(con, "code_assist", "openai/gpt-4.1-mini-2025-04-14", Decimal("0.5"))
            save_scenarios(con, whatif_rows(result, dt.datetime.now(dt.timezone.utc)))
    except WhatIfError as exc:
        print(f"what-if skipped: {exc}")
        return
    print(
        f"what-if (estimate): half of code_assist on {result.target}: month to date ${_money(result.actual_usd)} -> "
        f"${_money(result.scenario_usd)} (tokenledger whatif --feature code_assist --to-model ... for your own)"
    )


def _run_quietly(home: Home) -> None:
    from pipelines.runner import PipelineFailed, run_pipeline

    try:
        summary = run_pipeline(home, progress=lambda _: None)
    except PipelineFailed as exc:
        raise _UserError(str(exc)) from exc
    for warning in summary.warnings:
        print(f"  warning: {warning}")


def _print_reconciliation_summary(home: Home) -> None:
    from pipelines.warehouse import connect, table_exists

    with connect(home, read_only=True) as con:
        if not table_exists(con, "marts.billing_reconciliation"):
            return
        rows = con.execute(
            "select status, count(*), sum(estimated_cost_usd), sum(billed_cost_usd), sum(variance_usd), sum(credits_usd) "
            "from marts.billing_reconciliation group by status order by status"
        ).fetchall()
    if not rows:
        return
    print("\nestimate vs bill (marts.billing_reconciliation, USD)")
    print(f"  {'status':<16}{'rows':>6}{'estimated':>14}{'billed':>14}{'variance':>14}{'credits':>12}")
    for status, count, estimated, billed, variance, credits in rows:
        print(f"  {status:<16}{count:>6}{_money(estimated):>14}{_money(billed):>14}{_money(variance):>14}{_money(credits):>12}")


def _print_spend_summary(home: Home) -> None:
    from pipelines.warehouse import connect, table_exists

    with connect(home, read_only=True) as con:
        if not table_exists(con, "marts.daily_spend"):
            print("no spend yet: marts.daily_spend is empty")
            return
        rows = con.execute(
            """
            select feature, sum(requests) as requests, sum(cost_usd) as cost_usd,
                   sum(unpriced_requests) as unpriced
            from marts.daily_spend group by feature order by cost_usd desc nulls last
            """
        ).fetchall()
        first, last = con.execute("select min(event_date), max(event_date) from marts.daily_spend").fetchall()[0]
    total = sum((r[2] or Decimal(0)) for r in rows)
    print(f"\nspend per feature, {first} .. {last} (USD)")
    print(f"  {'feature':<22}{'requests':>10}{'cost_usd':>14}{'per_request':>14}{'unpriced':>10}")
    for feature, requests, cost, unpriced in rows:
        per_request = (cost or Decimal(0)) / requests if requests else Decimal(0)
        print(f"  {feature:<22}{requests:>10,}{_money(cost):>14}{_money(per_request, 6):>14}{unpriced:>10,}")
    print(f"  {'total':<22}{sum(r[1] for r in rows):>10,}{_money(total):>14}{'':>14}{sum(r[3] for r in rows):>10,}")


def _money(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value.quantize(Decimal(1).scaleb(-places)):,}"


def _export_focus(args: argparse.Namespace) -> int:
    from pipelines.focus_export import ExportError, export_focus

    try:
        summary = export_focus(Home.at(args.home), args.out)
    except ExportError as exc:
        raise _UserError(str(exc)) from None
    print(f"wrote {summary.rows} FOCUS 1.2 rows to {summary.path}")
    print(f"EffectiveCost total ${_money(summary.effective_cost_usd, 6)} (ledger ${_money(summary.ledger_cost_usd, 6)})")
    if summary.unpriced_requests:
        print(f"{summary.unpriced_requests} requests without a price are left out of the costs (see marts.price_coverage)")
    return 0


def _dev(args: argparse.Namespace) -> int:
    from pipelines.runner import instance_for

    home = Home.at(args.home).ensure()
    instance_for(home).dispose()
    env = {**os.environ, HOME_ENV: str(home.root), "DAGSTER_HOME": str(home.dagster_home)}
    workspace = home.dagster_home / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: pipelines.definitions\n      location_name: tokenledger\n"
    )
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-p", str(args.port)]
    print(f"opening the Dagster UI on http://127.0.0.1:{args.port} for {home.root}")
    return subprocess.call(command, env=env)


def _sql(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines.warehouse import connect

    home = Home.at(args.home)
    if not home.warehouse.is_file():
        raise _UserError(f"no warehouse at {home.warehouse}: run `tokenledger run` first")
    with connect(home, read_only=True) as con:
        try:
            relation = con.sql(args.query)
        except duckdb.Error as exc:
            raise _UserError(str(exc).splitlines()[0]) from exc
        if relation is not None:
            relation.show(max_rows=200, max_width=200)
    return 0


if __name__ == "__main__":
    sys.exit(main())
