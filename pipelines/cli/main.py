"""The `tokenledger` command line: init, demo, run, close, dev, sql, export, and the price-book and insight commands.

Each handler is a thin shell over one library function (`run_pipeline`, `close_month`, `export_focus`, …);
its summaries are queries on the marts kept in sql/queries/. Handler imports are lazy so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from pipelines.cli.common import (
    UserError,
    cell,
    check_home,
    date_arg,
    escaped_output,
    home_of,
    interruptible,
    money,
    reader_gone,
    sigterm_interrupts,
    unwritable,
    warehouse_of,
    with_home,
)
from pipelines.cli.dev import dev_command
from pipelines.cli.insights import add_insight_parsers
from pipelines.cli.prices import add_prices_parser
from pipelines.settings import ConfigError
from pipelines.storage.environment import check_environment
from pipelines.storage.home import Home


def main(argv: list[str] | None = None) -> int:
    from pipelines.adapters.attribution import AttributionConfigError
    from pipelines.ingest.privacy import MissingKeyError
    from pipelines.storage.database import WarehouseError
    from pipelines.storage.lock import RunInProgress

    args = _parser().parse_args(argv)
    with escaped_output(), sigterm_interrupts():
        try:
            check_environment()  # every command reads them: a bad one is one line, not a traceback from inside
            code = args.handler(args)
            sys.stdout.flush()  # here, where a reader gone is caught, not at the interpreter's exit
            return code
        except BrokenPipeError:  # `... | head`
            return reader_gone()
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM
            print("interrupted", file=sys.stderr)
            return 130
        except (UserError, MissingKeyError, RunInProgress, ConfigError, AttributionConfigError, WarehouseError) as exc:
            return _one_line(str(exc))
        except Exception as exc:
            problem = _machine_problem(exc)
            if problem is None:
                raise
            return _one_line(problem)


def _one_line(message: str) -> int:
    message = message.replace("\r", "\\r").replace("\n", "\\n")  # one line, whatever a log or path held
    print(f"tokenledger: {message}", file=sys.stderr)
    return 2


def _machine_problem(exc: BaseException) -> str | None:
    """What the machine refused, when an error is one (a read-only or full disk, a permission), found along its
    causes: said in one line, as the README promises user errors are, not as a traceback. None for anything else."""
    import errno
    import sqlite3

    refusals = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG}
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in refusals:
            where = f": {error.filename}" if error.filename else ""
            return f"the machine refused a file operation{where}: {error.strerror} (make room, or fix the folder's permissions, then try again)"
        # SQLite's words for a full disk, a failed write and a read-only file; not "database disk image is malformed"
        # (a damaged file is no refusal of the machine, and stays a traceback)
        if isinstance(error, sqlite3.OperationalError) and any(
                words in str(error) for words in ("disk I/O error", "disk is full", "readonly database", "read-only")):
            return (f"Dagster's run history (<home>/.dagster) could not be written: {error} (make room, or fix the folder's "
                    "permissions, then try again)")
        error = error.__cause__  # what it was raised from (SQLAlchemy's error from sqlite3's), never what it was handling
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenledger", description="Meter AI inference usage and attribute its cost.")
    commands = parser.add_subparsers(dest="command", required=True)

    init = with_home(commands.add_parser("init", help="create the home folder and a pseudonymization key"))
    init.set_defaults(handler=_init)

    demo = with_home(commands.add_parser("demo", help="generate realistic gateway logs and run the whole pipeline"))
    demo.add_argument("--days", type=int, default=7, help="days of logs to generate (default 7)")
    demo.add_argument("--requests-per-day", type=int, default=5000, help="requests per day (default 5000)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--end", type=date_arg, help="last day to generate (default: yesterday, UTC)")
    demo.set_defaults(handler=_demo)

    run = with_home(commands.add_parser("run", help="ingest what is new in landing and materialize the dates it touched"))
    run.add_argument("--start", type=date_arg, help="first date to materialize (YYYY-MM-DD)")
    run.add_argument("--end", type=date_arg, help="last date to materialize, inclusive (YYYY-MM-DD)")
    run.add_argument("--reprice", action="store_true", help="re-price [--start, --end] with the current price book and overrides")
    run.set_defaults(handler=_run)

    close = with_home(commands.add_parser("close", help="close a month: freeze its marts in finance.* snapshots"))
    close.add_argument("month", help="the month to close, YYYY-MM")
    close.set_defaults(handler=_close)

    dev = with_home(commands.add_parser("dev", help="open the Dagster UI on this home"))
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(handler=dev_command)

    add_prices_parser(commands)
    add_insight_parsers(commands)

    export = commands.add_parser("export", help="export the ledger in an open format")
    formats = export.add_subparsers(dest="export_format", required=True)
    focus = with_home(formats.add_parser("focus", help="the priced usage as a FOCUS 1.2 dataset (.parquet or .csv)"))
    focus.add_argument("--out", required=True, type=Path, help="file to write: FILE.parquet or FILE.csv")
    focus.set_defaults(handler=_export_focus)
    from pipelines.cli.exports import add_export_parsers

    add_export_parsers(formats)

    sql = with_home(commands.add_parser("sql", help="run one read-only SQL query against the warehouse"))
    sql.add_argument("query", help="one query (the warehouse is opened read-only; no file, other database or setting can be reached)")
    sql.add_argument("--read-only", action="store_true", default=True, help="always on: the warehouse is opened read-only")
    sql.set_defaults(handler=_sql)
    return parser


def _init(args: argparse.Namespace) -> int:
    from pipelines.ingest.privacy import create_key

    home = home_of(args).ensure()
    key = create_key(home.secrets)
    print(f"home ready at {home.root}\n  drop gateway logs under {home.landing / 'gateway' / 'envelope'}\n  pseudonymization key: {key}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pipelines.demo import (
        demo_experiment,
        demo_statements,
        demo_whatif,
        generate_demo,
        write_demo_bills,
        write_demo_budgets,
        write_demo_chargeback,
    )
    from pipelines.report import write_report

    if args.days < 1 or args.requests_per_day < 1:
        raise UserError("--days and --requests-per-day must be at least 1")
    home = home_of(args).ensure()
    check_home(home)
    end = args.end or (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1))
    started = time.perf_counter()
    generate_demo(home, end=end, days=args.days, requests_per_day=args.requests_per_day, seed=args.seed, progress=print)
    _run_and_report(home)
    bills = write_demo_bills(home)
    print(f"\nbilling: {len(bills)} bill files written from the ledger (with an over-billed day, a model outside the gateway, a credit, Claude on Bedrock through AWS Marketplace)")
    budgets = write_demo_budgets(home)
    if budgets:
        print(f"budgets: {budgets.name} written with a monthly budget per feature and segment (one feature set to run over)")
    chargeback = write_demo_chargeback(home)
    print(f"chargeback: {chargeback.name} written (enterprise customers, the team plan, pro support per ticket, an internal team)")
    _run_quietly(home)
    _print_reconciliation_summary(home)
    whatif = demo_whatif(home)
    if isinstance(whatif, str):
        print(f"what-if skipped: {whatif}")
    else:
        print(
            f"what-if (estimate): half of {whatif.feature} on {whatif.target}: month to date ${money(whatif.actual_usd)} -> "
            f"${money(whatif.scenario_usd)} (tokenledger whatif --feature {whatif.feature} --to-model ... for your own)"
        )
    print(demo_experiment(home) + " (tokenledger experiments for every experiment)")
    _print_full_cost(home)
    _print_breakeven(home)
    statements = demo_statements(home)
    if statements:
        print("\nchargeback statements of the month (marts.chargeback_statements; tokenledger export usage for billing)")
        for line in statements:
            print(f"  {line}")
    print(f"\nspend report: {write_report(home)}")
    print(f"demo finished in {time.perf_counter() - started:.1f}s; warehouse: {home.warehouse}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if (args.start is None) != (args.end is None):
        raise UserError("give both --start and --end, or neither")
    if args.reprice and args.start is None:
        raise UserError("--reprice needs --start and --end: the dates to re-price")
    if args.start and args.end < args.start:
        raise UserError(f"--end {args.end} is before --start {args.start}")
    if args.start:
        from pipelines.storage.schemas import EARLIEST_DATE

        first, last = dt.date.fromisoformat(EARLIEST_DATE), dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)
        if args.start < first or args.end > last:
            # such a date could not be materialized, and would stay pending (a warning on every run) until it could
            raise UserError(f"--start and --end must be within the daily partitions, {EARLIEST_DATE} .. {last} (tomorrow, UTC); "
                            f"got {args.start} .. {args.end}")
    home = home_of(args)
    if not home.landing.is_dir():
        raise UserError(f"{home.landing} does not exist: run `tokenledger init --home {home.root}` first")
    check_home(home)
    _run_and_report(home, args.start, args.end)
    return 0


def _close(args: argparse.Namespace) -> int:
    from pipelines.finance.close import CloseError, close_month, month_bounds

    home = warehouse_of(args)
    try:
        closed = close_month(home, args.month)
    except CloseError as exc:
        raise UserError(str(exc)) from exc
    print(
        ("finished the close of " if closed["finished"] else "closed ")
        + f"{closed['month']}: {closed['requests']:,} requests, {money(closed['cost_usd'])} USD frozen in "
        "finance.daily_spend; later changes to this month appear in marts.restatements"
    )
    statements = _summary(home, "closed_statements", "marts.chargeback_statements")
    for statement_id, currency, charge, places in statements:
        print(f"  chargeback statement {cell(statement_id)} is final: {money(charge, places)} {currency} (later changes become credit and debit lines)")
    if dt.datetime.now(dt.timezone.utc).date() < month_bounds(closed["month"])[1]:
        print(f"warning: {closed['month']} has not ended (UTC): the requests of its remaining days will be restatements "
              "and credit or debit lines, not part of the frozen month")
    return 0


def _run_and_report(home: Home, start: dt.date | None = None, end: dt.date | None = None) -> None:
    from pipelines.runner import PipelineFailed, run_pipeline

    started = time.perf_counter()
    try:
        summary = run_pipeline(home, start, end, progress=lambda message: print(f"  {cell(message)}", flush=True))  # one line each
    except PipelineFailed as exc:
        raise UserError(str(exc)) from exc
    print(f"pipeline finished in {time.perf_counter() - started:.1f}s ({len(summary.dates)} dates materialized)")
    _print_spend_summary(home)


def _run_quietly(home: Home) -> None:
    from pipelines.runner import PipelineFailed, run_pipeline

    try:
        summary = run_pipeline(home, progress=lambda _: None)
    except PipelineFailed as exc:
        raise UserError(str(exc)) from exc
    for warning in summary.warnings:
        print(f"  warning: {cell(warning)}")


def _summary(home: Home, query: str, table: str) -> list[tuple]:
    """Rows of a summary query (sql/queries/<query>.sql) on a mart; none when the mart is not built yet."""
    from pipelines.storage.database import connect, sql_text, table_exists

    with connect(home, read_only=True) as con:
        return con.execute(sql_text(f"queries/{query}")).fetchall() if table_exists(con, table) else []


def _print_reconciliation_summary(home: Home) -> None:
    rows = _summary(home, "reconciliation_by_status", "marts.billing_reconciliation")
    if not rows:
        return
    print("\nestimate vs bill (marts.billing_reconciliation, USD)")
    print(f"  {'status':<16}{'rows':>6}{'estimated':>14}{'no estimate':>12}{'billed':>14}{'variance':>14}{'credits':>12}")
    for status, count, unknown, estimated, billed, variance, credits in rows:  # no estimate: only unpriced requests
        print(f"  {status:<16}{count:>6}{money(estimated):>14}{unknown:>12}{money(billed):>14}{money(variance):>14}{money(credits):>12}")


def _print_spend_summary(home: Home) -> None:
    rows = _summary(home, "spend_by_feature", "marts.daily_spend")
    if not rows:
        print("no spend yet: marts.daily_spend is empty")
        return
    first, last = rows[0][-2:]
    print(f"\nspend per feature, {first} .. {last} (USD)")
    print(f"  {'feature':<22}{'requests':>10}{'cost_usd':>14}{'per_request':>14}{'unpriced':>10}")
    for feature, requests, cost, per_request, unpriced, _, _ in rows:
        label = "total" if feature is None else cell(feature)
        print(f"  {label:<22}{requests:>10,}{money(cost):>14}{'' if feature is None else money(per_request, 6):>14}{unpriced:>10,}")


def _print_full_cost(home: Home) -> None:
    rows = _summary(home, "full_cost_by_feature", "marts.full_cost")
    if not rows:
        return
    print("\nfull cost per feature (marts.full_cost, USD): inference, self-hosted GPU with its idle share, overhead")
    print(f"  {'feature':<22}{'inference':>12}{'self_hosted':>13}{'idle':>10}{'overhead':>11}{'total':>12}")
    for feature, _, inference, hosted, idle, *_, overhead, total in rows:
        label = "total" if feature is None else cell(feature)
        print(f"  {label:<22}{money(inference):>12}{money(hosted):>13}{money(idle):>10}{money(overhead):>11}{money(total):>12}")


def _print_breakeven(home: Home) -> None:
    rows = _summary(home, "breakeven_lines", "marts.self_host_breakeven")
    for cluster, month, model, utilization, own, api, breakeven in rows:
        verdict = (
            f"break-even at {breakeven:.0%} utilization" if breakeven is not None else "the API is cheaper even at 100% utilization"
        )
        print(
            f"break-even {cluster} {month} vs {model}: ${money(own)} per 1M tokens at {utilization:.0%} utilization, "
            f"API ${money(api)} -> {verdict} (tokenledger breakeven)"
        )


def _export_focus(args: argparse.Namespace) -> int:
    from pipelines.finance.focus_export import ExportError, export_focus

    with unwritable(args.out, home_of(args)):
        try:
            summary = export_focus(home_of(args), args.out)
        except ExportError as exc:
            raise UserError(str(exc)) from None
    print(f"wrote {summary.rows} FOCUS 1.2 rows to {cell(summary.path)}")
    print(f"EffectiveCost total ${money(summary.effective_cost_usd, 6)} (ledger ${money(summary.ledger_cost_usd, 6)})")
    if summary.unpriced_requests:
        print(f"{summary.unpriced_requests} requests without a price are left out of the costs (see marts.price_coverage)")
    return 0


def _sql(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines.storage.database import NotAReadQuery, connect, lock_down, read_query
    from pipelines.storage.lake_tables import local_folders

    home = warehouse_of(args)
    with connect(home, read_only=True) as con:
        lock_down(con, local_folders(home))
        try:
            relation = read_query(con, args.query)
            if relation is not None:  # a query fails while its rows are made too (a cast, error(), a refused read)
                with interruptible(con):  # Ctrl-C stops a runaway query
                    relation.show(max_rows=200, max_width=200)
        except (duckdb.Error, NotAReadQuery) as exc:
            # its first line (DuckDB adds the query and a caret below); a \r inside a value is shown escaped, not cut at
            raise UserError(str(exc).split("\n")[0] if str(exc).strip() else type(exc).__name__) from exc
    return 0


if __name__ == "__main__":
    sys.exit(main())
