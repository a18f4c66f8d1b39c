"""`tokenledger export usage`: a month's chargeback for a billing system (CSV statement lines, CloudEvents, Stripe meter
events), beside `tokenledger export focus`.

`add_export_parsers(formats)` registers it on the `export` command's subparsers; the handler prints what was written,
whether it adds up to the statements' charge, and what a billing system needs to know (docs/usage-export.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.common import UserError, cell, home_of, money, month_arg, unwritable, with_home

USAGE_FORMATS = ("csv", "cloudevents", "stripe")
"""pipelines.finance.usage_export.FORMATS, named here so `--help` does not import the warehouse."""
WRITTEN = {
    "csv": "statement lines (CSV)",
    "cloudevents": "CloudEvents 1.0 events (JSON Lines)",
    "stripe": "Stripe meter events (JSON Lines)",
}


def add_export_parsers(formats: argparse._SubParsersAction) -> None:
    """Register `export usage`; it sets `handler`, a function of args returning an exit code."""
    usage = with_home(
        formats.add_parser(
            "usage",
            help="a month's chargeback for a billing system: CSV statement lines, CloudEvents or Stripe meter events",
            description="Write the chargeback statements of one month (marts.chargeback_lines, chargeback.yaml) for a billing "
            "system: csv, every statement line; cloudevents, CloudEvents 1.0 JSON Lines, one event per payer x day x meter "
            "(requests, tokens, outcomes, charge); stripe, Stripe billing meter events, one per payer x day with a charge, "
            "in the currency's minor unit. Ids are stable: exporting the same month again gives the same ids. "
            "A month with a statement that cannot be issued is refused.",
        )
    )
    usage.add_argument("--month", required=True, type=month_arg, help="the month of the statements, YYYY-MM")
    usage.add_argument("--format", required=True, choices=USAGE_FORMATS, help="csv, cloudevents or stripe")
    usage.add_argument("--out", required=True, type=Path, help="file to write (its folder is created)")
    usage.add_argument(
        "--event-name", help="stripe: the event_name of your Stripe meter (default tokenledger_charge; at most 100 characters)"
    )
    usage.set_defaults(handler=_export_usage)


def _export_usage(args: argparse.Namespace) -> int:
    from pipelines.finance.usage_export import DEFAULT_EVENT_NAME, UsageExportError, export_usage

    if args.event_name is not None and args.format != "stripe":
        raise UserError("--event-name names a Stripe meter: use it with --format stripe")
    with unwritable(args.out, home_of(args)):
        try:
            summary = export_usage(home_of(args), args.month, args.format, args.out, event_name=args.event_name or DEFAULT_EVENT_NAME)
        except UsageExportError as exc:
            raise UserError(str(exc)) from None
    counted = ", ".join(f"{count} {name}" for name, count in summary.counts.items())
    print(f"wrote {summary.lines} {WRITTEN[summary.fmt]} of {summary.month} to {cell(summary.path)}{': ' if counted else ''}{counted}")
    status = "final" if summary.final else "draft"
    charged = ", ".join(f"{money(total.exported, total.places)} {total.currency}" for total in summary.totals)
    print(f"charge {charged}: equals the charge of the month's {summary.statements} {status} statements "
          "(marts.chargeback_statements)")
    if summary.adjustment_lines:
        adjusted = ", ".join(
            f"{money(total.adjustments, total.places)} {total.currency}" for total in summary.totals if total.adjustment_lines
        )
        if summary.fmt == "csv":
            print(f"with {summary.adjustment_lines} adjustment line(s) since the close, credit or debit ({adjusted}), "
                  "on the -ADJ statements")
        else:
            print(
                f"{summary.adjustment_lines} adjustment line(s) since the close, credit or debit ({adjusted}), are not meter "
                "events: they belong on a credit note or an invoice item (they are in --format csv)"
            )
    for warning in summary.warnings:
        print(f"warning: {cell(warning)}")
    return 0
