"""Load, validate and flatten the price book in `pricing/` into one row per priced band."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import yaml

from pipelines.home import shipped_dir

TIERS = ("standard", "batch", "flex", "priority")
BUCKETS = (
    "input",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "output",
    "reasoning",
    "audio_input",
    "audio_output",
)
FEES = ("web_search_per_1k", "per_request")
VERSION_KEYS = {"effective_from", "source", "checked", "note", *TIERS}
TOKEN_LIMIT = 2**62

PRICE_SCHEMA = pa.schema(
    [
        ("price_id", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("service_tier", pa.string()),
        ("effective_from", pa.timestamp("us", tz="UTC")),
        ("effective_to", pa.timestamp("us", tz="UTC")),
        ("input_tokens_from", pa.int64()),
        ("input_tokens_to", pa.int64()),
        ("currency", pa.string()),
        *[(f"{bucket}_per_mtok", pa.decimal128(38, 9)) for bucket in BUCKETS],
        *[(fee, pa.decimal128(38, 9)) for fee in FEES],
        ("source", pa.string()),
        ("checked", pa.date32()),
        ("note", pa.string()),
        ("book_file", pa.string()),
    ]
)
ALIAS_SCHEMA = pa.schema([("provider", pa.string()), ("name", pa.string()), ("model", pa.string())])


class PriceBookError(ValueError):
    """The price book is invalid; the message lists every problem with its file and entry."""


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader that reads numbers with a fraction as Decimal, never binary float."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    return Decimal(loader.construct_scalar(node))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


@dataclass(frozen=True)
class PriceBook:
    """The flattened price book: one row per (model, version, tier, context band) and the model names."""

    prices: pa.Table
    aliases: pa.Table

    @property
    def models(self) -> list[tuple[str, str]]:
        pairs = zip(self.prices["provider"].to_pylist(), self.prices["model"].to_pylist())
        return sorted(set(pairs))


def default_book_dir() -> Path:
    return shipped_dir("pricing") / "list"


def load_price_book(book_dir: Path | None = None) -> PriceBook:
    """Read every `*.yaml` under book_dir, validate it and flatten it; raise PriceBookError listing all problems."""
    book_dir = book_dir or default_book_dir()
    files = sorted(book_dir.glob("*.yaml"))
    if not files:
        raise PriceBookError(f"{book_dir}: no price files (*.yaml) found")
    rows: list[dict] = []
    alias_rows: list[dict] = []
    problems: list[str] = []
    for path in files:
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_DecimalLoader)
        except yaml.YAMLError as exc:
            problems.append(f"{path.name}: not valid YAML: {exc}")
            continue
        file_rows, file_aliases, file_problems = _flatten_file(path.name, document)
        rows += file_rows
        alias_rows += file_aliases
        problems += file_problems
    problems += _alias_conflicts(alias_rows)
    if problems:
        raise PriceBookError("invalid price book:\n  " + "\n  ".join(problems))
    return PriceBook(
        prices=pa.Table.from_pylist(rows, schema=PRICE_SCHEMA),
        aliases=pa.Table.from_pylist(_unique(alias_rows), schema=ALIAS_SCHEMA),
    )


def _flatten_file(name: str, document: object) -> tuple[list[dict], list[dict], list[str]]:
    if not isinstance(document, dict):
        return [], [], [f"{name}: expected a mapping with provider, currency and models"]
    problems = [f"{name}: missing '{key}'" for key in ("provider", "currency", "models") if key not in document]
    if problems:
        return [], [], problems
    provider, currency = str(document["provider"]), str(document["currency"])
    fees = document.get("fees") or {}
    problems += [f"{name}: fees: unknown key '{key}'" for key in fees if key not in FEES]
    rows: list[dict] = []
    aliases: list[dict] = []
    for model, spec in (document["models"] or {}).items():
        where = f"{name}: {provider}/{model}"
        versions, model_aliases = _model_spec(spec)
        if versions is None:
            problems.append(f"{where}: expected a list of versions or a mapping with 'prices'")
            continue
        aliases += [{"provider": provider, "name": n, "model": model} for n in [model, *model_aliases]]
        starts = [_as_date(v.get("effective_from")) if isinstance(v, dict) else None for v in versions]
        problems += _version_problems(where, versions, starts)
        if any(s is None for s in starts) or len(set(starts)) != len(starts):
            continue
        ordered = sorted(zip(starts, versions), key=lambda pair: pair[0])
        for index, (start, version) in enumerate(ordered):
            end = ordered[index + 1][0] if index + 1 < len(ordered) else None
            context = dict(provider=provider, model=model, currency=currency, fees=fees, book_file=name)
            version_rows, version_problems = _version_rows(where, start, end, version, context)
            rows += version_rows
            problems += version_problems
    return rows, aliases, problems


def _model_spec(spec: object) -> tuple[list | None, list[str]]:
    if isinstance(spec, list):
        return spec, []
    if isinstance(spec, dict) and isinstance(spec.get("prices"), list):
        return spec["prices"], [str(a) for a in spec.get("aliases") or []]
    return None, []


def _version_problems(where: str, versions: list, starts: list) -> list[str]:
    problems = []
    seen: set[dt.date] = set()
    for version, start in zip(versions, starts):
        if not isinstance(version, dict):
            problems.append(f"{where}: a version must be a mapping")
            continue
        if start is None:
            problems.append(f"{where}: version without a valid effective_from (YYYY-MM-DD)")
            continue
        label = f"{where}@{start}"
        if start in seen:
            problems.append(f"{label}: overlapping versions: two versions start on {start}")
        seen.add(start)
        problems += [f"{label}: unknown key '{key}'" for key in version if key not in VERSION_KEYS]
        if not version.get("source"):
            problems.append(f"{label}: missing source")
        if not any(tier in version for tier in TIERS):
            problems.append(f"{label}: no service tier priced (one of {', '.join(TIERS)})")
    return problems


def _version_rows(where: str, start: dt.date, end: dt.date | None, version: dict, context: dict):
    rows, problems = [], []
    label = f"{where}@{start}"
    for tier in TIERS:
        block = version.get(tier)
        if block is None:
            continue
        if not isinstance(block, dict):
            problems.append(f"{label}/{tier}: expected a mapping of bucket prices")
            continue
        long_context = block.get("long_context")
        base_prices, base_problems = _bucket_prices(f"{label}/{tier}", block, context["fees"])
        problems += base_problems
        threshold = TOKEN_LIMIT
        if long_context is not None:
            threshold, long_prices, long_problems = _long_context(f"{label}/{tier}", long_context, base_prices)
            problems += long_problems
            rows.append(_row(context, tier, start, end, version, long_prices, threshold + 1, TOKEN_LIMIT))
            threshold += 1
        rows.append(_row(context, tier, start, end, version, base_prices, 0, threshold))
    return rows, problems


def _bucket_prices(label: str, block: dict, fees: dict) -> tuple[dict, list[str]]:
    problems = []
    prices: dict[str, Decimal | None] = {key: None for key in (*BUCKETS, *FEES)}
    for key, value in {**fees, **block}.items():
        if key == "long_context":
            continue
        if key not in prices:
            problems.append(f"{label}: unknown bucket key '{key}' (known: {', '.join(BUCKETS + FEES)})")
            continue
        amount = _as_decimal(value)
        if amount is None:
            problems.append(f"{label}: {key} is not a number: {value!r}")
        elif amount < 0:
            problems.append(f"{label}: negative price for {key}: {amount}")
        else:
            prices[key] = amount
    if prices["input"] is None or prices["output"] is None:
        problems.append(f"{label}: input and output prices are required")
    if prices["reasoning"] is None:
        prices["reasoning"] = prices["output"]
    return prices, problems


def _long_context(label: str, spec: object, base: dict) -> tuple[int, dict, list[str]]:
    if not isinstance(spec, dict) or not isinstance(spec.get("above_input_tokens"), int):
        return TOKEN_LIMIT - 1, base, [f"{label}: long_context needs an integer above_input_tokens"]
    threshold = spec["above_input_tokens"]
    prices, problems = _bucket_prices(f"{label}/long_context", {k: v for k, v in spec.items() if k != "above_input_tokens"}, {})
    merged = {key: prices[key] if prices[key] is not None else base[key] for key in base}
    if "reasoning" not in spec:
        merged["reasoning"] = merged["output"]
    return threshold, merged, [p for p in problems if "are required" not in p]


def _row(context: dict, tier: str, start, end, version: dict, prices: dict, tokens_from: int, tokens_to: int) -> dict:
    band = "" if (tokens_from, tokens_to) == (0, TOKEN_LIMIT) else f"/input>{tokens_from - 1}" if tokens_from else f"/input<={tokens_to - 1}"
    return {
        "price_id": f"{context['provider']}/{context['model']}@{start.isoformat()}/{tier}{band}",
        "provider": context["provider"],
        "model": context["model"],
        "service_tier": tier,
        "effective_from": dt.datetime.combine(start, dt.time(), dt.timezone.utc),
        "effective_to": dt.datetime.combine(end, dt.time(), dt.timezone.utc) if end else None,
        "input_tokens_from": tokens_from,
        "input_tokens_to": tokens_to,
        "currency": context["currency"],
        **{f"{bucket}_per_mtok": prices[bucket] for bucket in BUCKETS},
        **{fee: prices[fee] for fee in FEES},
        "source": str(version.get("source")),
        "checked": _as_date(version.get("checked")),
        "note": version.get("note"),
        "book_file": context["book_file"],
    }


def _unique(rows: list[dict]) -> list[dict]:
    return list({tuple(row.values()): row for row in rows}.values())


def _alias_conflicts(alias_rows: list[dict]) -> list[str]:
    owners: dict[tuple[str, str], str] = {}
    problems = []
    for row in alias_rows:
        key = (row["provider"], row["name"])
        owner = owners.setdefault(key, row["model"])
        if owner != row["model"]:
            problems.append(f"alias '{row['name']}' ({row['provider']}) is claimed by two models: {owner} and {row['model']}")
    return problems


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _as_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None
