"""`tokenledger prices`: import, list, show, check, diff and coverage of the price book in pricing/.

`add_prices_parser(subcommands)` registers the `prices` command on the main CLI's subparsers. Every handler
returns an exit code: 0, 1 when the price book (or a model asked for) is not valid or not found, or raises
`UserError` (exit 2) for a mistake the user can fix. The import itself is `pipelines.pricing.genai_import`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path

from pipelines.cli.common import UserError, cell, date_arg, home_of, warehouse_of, with_home
from pipelines.pricing.audit import alias_disagreements, audit_reference, read_litellm_prices
from pipelines.pricing.book import (
    BUCKETS,
    FEES,
    HOME_DIR,
    IMPORTED_DIR,
    TIERS,
    TOKEN_LIMIT,
    PriceBook,
    PriceBookError,
    default_book_dir,
    default_corrections_path,
    load_price_book,
    start_label,
)
from pipelines.pricing.corrections import corrections_file_problems
from pipelines.pricing.versions import UNDATED
from pipelines.settings import ConfigError
from pipelines.storage.database import connect, sql_text, table_exists


def add_prices_parser(subcommands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `prices` and its subcommands; each sets `handler`, a function of args returning an exit code."""
    prices = subcommands.add_parser("prices", help="list, show, check and import the price book")
    commands = prices.add_subparsers(dest="prices_command", required=True)

    def with_book(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--book", type=_book_folder, help="price-book folder (default: the shipped pricing/list)")
        return with_home(sub)  # with the home's own prices/*.yaml

    imported = commands.add_parser("import-genai-prices", help="write pricing/list/imported/*.yaml from the genai-prices package")
    imported.add_argument("--out", type=Path, help=f"output folder (default: pricing/list/{IMPORTED_DIR})")
    imported.add_argument("--corrections", type=Path, help="corrections file (default: pricing/corrections.yaml)")
    imported.set_defaults(handler=_import_command)

    listed = with_book(commands.add_parser("list", help="every priced provider/model, one per line"))
    listed.set_defaults(handler=_list_command)

    show = with_book(commands.add_parser("show", help="every version x tier x band of a model, with price_id and source"))
    show.add_argument("model", help="a model name or alias, optionally as provider/model")
    show.set_defaults(handler=_show_command)

    check = with_book(commands.add_parser("check", help="validate the price book and corrections.yaml"))
    check.add_argument("--corrections", type=Path, help="corrections file (default: pricing/corrections.yaml)")
    check.set_defaults(handler=_check_command)

    coverage = with_book(commands.add_parser("coverage", help="models seen in the warehouse without a price"))
    coverage.set_defaults(handler=_coverage_command)

    audit = with_book(commands.add_parser(
        "audit", help="compare the book with a LiteLLM-format price file (model_prices_and_context_window.json)"))
    audit.add_argument("--reference", type=Path, required=True, help="the reference price file (JSON, USD per token)")
    audit.add_argument("--at", type=_moment_arg, help="compare the prices in force at this UTC date or time (default: now)")
    audit.add_argument("--missing", action="store_true", help="also list the reference's models the book does not price")
    audit.set_defaults(handler=_audit_command)

    diff = with_book(commands.add_parser("diff", help="prices that take effect on or after a date"))
    diff.add_argument("--since", type=date_arg, required=True, help="first effective date to show (YYYY-MM-DD)")
    diff.set_defaults(handler=_diff_command)
    return prices


def _book_folder(text: str) -> Path:
    """--book: an existing folder (a mistyped path was 'no price files found', exit 1, as if the book were broken)."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no folder at {text}")
    return path


def _load(args: argparse.Namespace) -> PriceBook | None:
    try:
        return load_price_book(args.book, home_root=home_of(args).root)
    except PriceBookError as exc:
        print(f"tokenledger: {exc}", file=sys.stderr)
        return None


def _list_command(args: argparse.Namespace) -> int:
    book = _load(args)
    if book is None:
        return 1
    for provider, model in book.models:
        print(f"{provider}/{model}")
    return 0


def _check_command(args: argparse.Namespace) -> int:
    problems: list[str] = []
    book = None
    try:
        book = load_price_book(args.book, home_root=home_of(args).root)
    except PriceBookError as exc:
        lines = str(exc).splitlines()
        problems += [line.strip() for line in (lines[1:] if len(lines) > 1 else lines)]
    corrections = args.corrections or (default_corrections_path() if args.book is None else None)
    if corrections is not None:
        problems += corrections_file_problems(corrections)
    if book is not None:
        problems += alias_disagreements(book)
    if problems:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the price book")
        return 1
    imported = sum(1 for name in book.files if name.startswith(f"{IMPORTED_DIR}/"))
    own = sum(1 for name in book.files if name.startswith(f"{HOME_DIR}/"))
    print(
        f"price book OK: {len(book.models)} priced models from {len(book.providers)} providers, "
        f"{book.prices.num_rows} price rows, {book.aliases.num_rows} names, {book.match_rules.num_rows} match rules; "
        + (f"{own} of the home's own + " if own else "")
        + f"{len(book.files) - imported - own} curated + {imported} imported files, "
        f"{len(book.shadowed)} models overridden by a higher layer"
    )
    return 0


def _show_command(args: argparse.Namespace) -> int:
    book = _load(args)
    if book is None:
        return 1
    found = _find_models(book, args.model)
    if not found:
        print(f"{args.model}: not in the price book; requests to it are flagged unpriced (never $0)")
        return 1
    names = _names_by_model(book)
    for provider, model, how in found:
        rows = book.rows_for(provider, model)
        aliases = [n for n in names.get((provider, model), []) if n != model]
        print(f"{provider}/{model}{how}  [{rows[0]['book_file']}]  {rows[0]['currency']} per 1M tokens; fees per request or per 1,000 searches")
        if aliases:
            print(f"  aliases: {', '.join(aliases)}")
        rules = [json.loads(r["rule"]) for r in book.match_rules.to_pylist() if (r["provider"], r["model"]) == (provider, model)]
        if rules:
            print(f"  match rules: {', '.join(_rule_text(rule) for rule in rules)}")
        for start in sorted({row["effective_from"] for row in rows}, key=lambda start: start or UNDATED):
            version = [row for row in rows if row["effective_from"] == start]
            first = next(row for row in version if row["time_window"] is None or row["time_window"].startswith("outside"))
            end = first["effective_to"]
            checked = f", checked {first['checked']}" if first["checked"] else ""
            print(f"  from {start_label(start)} {'to ' + start_label(end) if end else 'on'}: {first['source']}{checked}")
            if first["note"]:
                print(f"    note: {first['note']}")
            for row in version:
                hours = f"  [{row['time_window']}]" if row["time_window"] else ""
                print(f"    {row['price_id']}  {_prices_text(row)}{hours}")
    return 0


def _diff_command(args: argparse.Namespace) -> int:
    book = _load(args)
    if book is None:
        return 1
    since = dt.datetime.combine(args.since, dt.time(), dt.timezone.utc)
    rows = book.prices.to_pylist()
    previous = {(r["provider"], r["model"], r["service_tier"], r["input_tokens_from"], r["effective_to"]): r for r in rows if r["effective_to"]}
    versions: dict[tuple, list[str]] = {}
    notes: dict[tuple, dict] = {}
    for row in sorted(rows, key=lambda r: (r["effective_from"] or UNDATED, r["provider"], r["model"], TIERS.index(r["service_tier"]),
                                           r["input_tokens_from"], r["time_window"] or "")):
        if (row["effective_from"] or UNDATED) < since:
            continue
        before = previous.get((row["provider"], row["model"], row["service_tier"], row["input_tokens_from"], row["effective_from"]))
        change = _change_text(before, row)
        if change is None:
            continue
        key = (row["effective_from"], row["provider"], row["model"])
        versions.setdefault(key, []).append(f"    {_tier_band(row)}: {change}")
        notes.setdefault(key, row)
    if not versions:
        print(f"no prices change on or after {args.since}")
        return 0
    for key, lines in versions.items():
        row = notes[key]
        note = f"  ({row['note']})" if row["note"] else ""
        print(f"{row['effective_from'].date()}  {row['provider']}/{row['model']}  [{row['book_file']}]{note}")
        print("\n".join(lines))
    return 0


def _coverage_command(args: argparse.Namespace) -> int:
    home = warehouse_of(args)
    with connect(home, read_only=True) as con:
        if not table_exists(con, "marts.price_coverage"):
            raise UserError(f"{home.warehouse} has no marts.price_coverage yet: run `tokenledger run --home {home.root}`")
        unpriced = con.execute(sql_text("queries/price_coverage")).fetchall()
        undated = _undated(con)
    if undated[0]:
        print(f"{undated[0]:,} requests of {undated[1]:,} models were priced by entries whose start date is unknown "
              "(price_confidence 'undated'; undated_requests in marts.price_coverage)")
    if not unpriced:
        print(f"every request in {home.warehouse} is priced")
        return 0
    book = _load(args)
    print(f"unpriced provider/model in {home.warehouse} (marts.price_coverage):")
    print(f"  {'provider/model':<48}{'requests':>10}{'tokens':>14}  {'first_seen':<11}{'last_seen':<11}why")
    for provider, model, requests, tokens, reasons, tiers, first, last in unpriced:
        hint = ""
        if book is not None and book.resolve_exact(provider, model) is None:
            match = book.resolve(provider, model)
            hint = f"; a match rule says {provider}/{match}: add '{model}' as its alias" if match else ""
        why = f"{reasons} ({tiers}){hint}"
        print(f"  {cell(provider + '/' + model):<48}{requests:>10,}{tokens or 0:>14,}  {str(first)[:10]:<11}{str(last)[:10]:<11}{why}")
    if any("unknown_model" in (reasons or "") for _, _, _, _, reasons, *_ in unpriced):
        print(f"price a model the book lacks in {home.root / HOME_DIR}/*.yaml (pricing/README.md, \"Prices of your own\"), "
              f"then re-price its days: tokenledger run --home {home.root} --reprice --start D1 --end D2")
    return 0


def _moment_arg(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ): {text!r}") from None
    try:
        return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is past the last representable UTC moment
        raise argparse.ArgumentTypeError(f"outside the dates this can represent in UTC: {text!r}") from None


def _audit_command(args: argparse.Namespace) -> int:
    book = _load(args)
    if book is None:
        return 1
    at = args.at or dt.datetime.now(dt.timezone.utc)
    reference = read_litellm_prices(args.reference)
    try:
        result = audit_reference(book, reference, at)
    except ConfigError as exc:
        raise UserError(f"{args.reference}: {exc}") from None
    for disagreement in result.disagreements:
        print(cell(str(disagreement)))
    if args.missing:
        for name in result.not_in_book:
            print(f"not in the book: {cell(name)}")
    models = len({(d.provider, d.model, d.name) for d in result.disagreements})
    print(
        f"{len(result.disagreements)} disagreement{'s' if len(result.disagreements) != 1 else ''} on {models} of {result.compared} models "
        f"compared at {at.isoformat(timespec='seconds')}; {len(result.not_in_book)} reference models of our providers not in the book"
        f"{'' if args.missing else ' (--missing lists them)'}; {result.other_providers} entries of other providers skipped"
    )
    return 1 if result.disagreements else 0


def _undated(con) -> tuple[int, int]:
    """(requests, models) priced by an entry with an unknown start; (0, 0) on a warehouse from before the column."""
    found = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'marts' and table_name = 'price_coverage' "
        "and column_name = 'undated_requests'"
    ).fetchall()
    if not found[0][0]:
        return 0, 0
    requests, models = con.execute(
        "select coalesce(sum(undated_requests), 0), count(*) filter (where undated_requests > 0) from marts.price_coverage"
    ).fetchall()[0]
    return int(requests), int(models)


def _import_command(args: argparse.Namespace) -> int:
    from pipelines.pricing.genai_import import import_genai_prices

    out = args.out or default_book_dir() / IMPORTED_DIR
    corrections = args.corrections or default_corrections_path()
    try:
        result = import_genai_prices(out, corrections)
    except PriceBookError as exc:
        print(f"tokenledger: {exc}", file=sys.stderr)
        return 1
    print(f"imported genai-prices {result.version} into {cell(out)}:")
    for provider, count in sorted(result.models.items()):
        print(f"  {provider:<14}{count:>5} models  -> {provider}.yaml")
    print(f"  {len(result.applied)} corrections and {len(result.derived)} derived entries from {corrections}")
    for line in result.platform:
        print(f"  {line}")
    print(f"  {len(result.skipped)} genai-prices models skipped (not priced per token, or not this provider's API)")
    book_dir = out.parent if out.name == IMPORTED_DIR else out
    try:
        book = load_price_book(book_dir)
    except PriceBookError as exc:
        print(f"tokenledger: {exc}", file=sys.stderr)
        return 1
    print(f"the book in {book_dir} validates: {len(book.models)} priced models, {book.prices.num_rows} price rows")
    return 0


def _find_models(book: PriceBook, name: str) -> list[tuple[str, str, str]]:
    provider, _, rest = name.partition("/")
    candidates = [(provider, rest)] if rest and provider in book.providers else [(p, name) for p in book.providers]
    found = []
    for provider, wanted in candidates:
        model = book.resolve(provider, wanted)
        if model is None:
            continue
        how = "" if model == wanted else f"  (as '{wanted}', {'an alias' if book.resolve_exact(provider, wanted) else 'by a match rule'})"
        found.append((provider, model, how))
    return found


def _names_by_model(book: PriceBook) -> dict[tuple[str, str], list[str]]:
    names: dict[tuple[str, str], list[str]] = {}
    for row in book.aliases.to_pylist():
        names.setdefault((row["provider"], row["model"]), []).append(row["name"])
    return names


def _rule_text(rule: dict) -> str:
    (kind, value), = rule.items()
    if kind == "all":
        return "all(" + ", ".join(_rule_text(part) for part in value) + ")"
    return f"{kind} {value!r}"


def _price(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _tier_band(row: dict) -> str:
    low, high = row["input_tokens_from"], row["input_tokens_to"]
    band = f" (input > {low - 1:,})" if low else f" (input <= {high - 1:,})" if high < TOKEN_LIMIT else ""
    return row["service_tier"] + band


def _prices_text(row: dict) -> str:
    parts = [f"{bucket} {_price(row[f'{bucket}_per_mtok'])}" for bucket in BUCKETS if row[f"{bucket}_per_mtok"] is not None]
    parts += [f"{fee} {_price(row[fee])}" for fee in FEES if row[fee] is not None]
    return "  ".join(parts)


def _change_text(before: dict | None, after: dict) -> str | None:
    """What a row changes against the row it follows; None when nothing does."""
    if before is None:
        return "first price: " + _prices_text(after)
    keys = [(f"{b}_per_mtok", b) for b in BUCKETS] + [(fee, fee) for fee in FEES]
    changes = []
    for column, label in keys:
        old, new = before[column], after[column]
        if old != new:
            changes.append(f"{label} {_price(old) if old is not None else '-'} -> {_price(new) if new is not None else '-'}")
    return ", ".join(changes) or None
