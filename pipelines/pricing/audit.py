"""The price book checked against another price list (LiteLLM's `model_prices_and_context_window.json` format) and
against itself (a dated model id and the undated name of the same model must price alike).

LiteLLM's file maps a model name to its prices in USD per token: `input_cost_per_token`, `output_cost_per_token`,
`cache_read_input_token_cost`, `cache_creation_input_token_cost` (5-minute writes) and `..._above_1hr`,
`output_cost_per_reasoning_token`, `input_cost_per_audio_token`, `output_cost_per_audio_token`; a suffix
`_above_<N>k_tokens` prices requests above N thousand input tokens, and `_batches`, `_flex`, `_priority` the tiers.
`litellm_provider` names the provider; names carry a route prefix (`azure/gpt-4o`, `gemini/gemini-2.5-pro`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pipelines.pricing.book import TIERS, PriceBook
from pipelines.settings import ConfigError, clipped, shown, unique_keys

LITELLM_PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertex_ai-language-models": "google",
    "vertex_ai": "google",
    "vertex_ai-anthropic_models": "google",
    "bedrock": "aws_bedrock",
    "bedrock_converse": "aws_bedrock",
    "bedrock_mantle": "aws_bedrock",
    "azure": "azure_openai",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
}
"""LiteLLM's `litellm_provider` values for the providers the book prices; other providers' entries are counted, not compared."""
_BUCKET_KEYS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write_5m",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "output_cost_per_reasoning_token": "reasoning",
    "input_cost_per_audio_token": "audio_input",
    "output_cost_per_audio_token": "audio_output",
}
_TIER_SUFFIXES = {None: "standard", "_batches": "batch", "_flex": "flex", "_priority": "priority"}
_KEY = re.compile(
    r"^(?P<bucket>" + "|".join(sorted(map(re.escape, _BUCKET_KEYS), key=len, reverse=True)) + r")"
    r"(?:_above_(?P<thousands>\d+)k_tokens)?(?P<tier>_batches|_flex|_priority)?$"
)
_DATED = re.compile(r"^(?P<base>.+?)-(?:20\d{6}|20\d\d-\d\d-\d\d)(?P<rest>(?:-v\d+(?::\d+)?)?)$")
MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Disagreement:
    provider: str
    model: str
    name: str
    """the reference's name, route prefix included (`vertex_ai/gemini-2.0-flash`): it says which platform's price differs"""
    tier: str
    band: int | None
    bucket: str
    book: Decimal | None
    reference: Decimal | None

    def __str__(self) -> str:
        band = f" above {self.band:,} input tokens" if self.band is not None else ""
        as_name = "" if self.name == self.model else f" (as '{self.name}')"
        return f"{self.provider}/{self.model}{as_name} {self.tier}{band} {self.bucket}: book {_text(self.book)}, reference {_text(self.reference)}"


@dataclass(frozen=True)
class Audit:
    disagreements: list[Disagreement]
    compared: int
    not_in_book: list[str]
    other_providers: int


def _text(value: Decimal | None) -> str:
    return "none" if value is None else format(value.normalize(), "f")


MAX_REFERENCE_BYTES = 64 * 2**20
"""The largest reference file read (LiteLLM's own is about 3.5 MB)."""
MAX_PRICE = Decimal(1000)
"""USD per token: a reference price above it is not one (the dearest model costs about $0.0006)."""


def read_litellm_prices(path: Path) -> dict:
    """The entries of a LiteLLM-format price file; a clear error when it is not one."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read, a device never end
            raise ConfigError(f"{path}: not a regular file (a folder, FIFO, socket or device): name a JSON price file")
        with open(path, "rb") as stream:
            data = stream.read(MAX_REFERENCE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the reference price file: {exc.strerror or exc}") from None
    if len(data) > MAX_REFERENCE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_REFERENCE_BYTES // 2**20} MiB: not a price file (LiteLLM's is about 3.5 MB)")
    try:
        document = json.loads(data.decode("utf-8"), parse_float=Decimal, object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, a duplicate key, an integer of > 4,300 digits
        raise ConfigError(f"{path}: not a JSON price file (LiteLLM's model_prices_and_context_window.json format): {clipped(str(exc), 300)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a JSON price file: nested too deeply to read") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a JSON object of model name -> prices, got {type(document).__name__}")
    return {name: entry for name, entry in document.items() if name != "sample_spec" and isinstance(entry, dict)}


def _reference_prices(name: str, entry: dict) -> dict[tuple[str, int | None], dict[str, Decimal]]:
    """{(tier, band threshold or None): {bucket: USD per 1M tokens}} of one entry."""
    prices: dict[tuple[str, int | None], dict[str, Decimal]] = {}
    for key, value in entry.items():
        found = _KEY.match(key)
        if found is None or value is None:
            continue
        try:
            price = None if isinstance(value, bool) or not isinstance(value, (int, Decimal)) else Decimal(value)
            usable = price is not None and price.is_finite() and 0 <= price <= MAX_PRICE and (price == 0 or price.adjusted() >= -30)
        except ArithmeticError:  # an exponent past the decimal context's range
            usable = False
        if not usable:
            raise ConfigError(f"reference entry {shown(name)}: {key} is not a price in USD per token: {clipped(shown(value), 80)}")
        if found["thousands"] and len(found["thousands"]) > 9:
            raise ConfigError(f"reference entry {shown(name)}: {clipped(key, 80)}: a token threshold past 10^12 is not one")
        per_million = (price * MILLION).normalize()
        band = int(found["thousands"]) * 1000 if found["thousands"] else None
        prices.setdefault((_TIER_SUFFIXES[found["tier"]], band), {})[_BUCKET_KEYS[found["bucket"]]] = per_million
    return prices


def _book_name(name: str) -> str:
    """LiteLLM's name without its route prefix (`azure/gpt-4o`, `gemini/gemini-2.5-pro`, `bedrock/converse/...`)."""
    return name.rsplit("/", 1)[-1]


def audit_reference(book: PriceBook, reference: dict, at: dt.datetime) -> Audit:
    """Every bucket the reference prices that the book prices differently at `at` (for the tiers and bands the
    reference lists), for the reference's models the book knows by name or match rule."""
    disagreements, compared, missing, others = [], 0, [], 0
    for name, entry in sorted(reference.items()):
        provider = LITELLM_PROVIDERS.get(str(entry.get("litellm_provider")))
        if provider is None:
            others += 1
            continue
        prices = _reference_prices(name, entry)
        if not prices:
            continue
        wanted = _book_name(name)
        model = book.resolve(provider, wanted)
        if model is None:
            missing.append(f"{provider}/{name}")
            continue
        compared += 1
        for (tier, band), buckets in sorted(prices.items(), key=lambda kv: (TIERS.index(kv[0][0]), kv[0][1] or 0)):
            row = book.lookup(provider, wanted, at, service_tier=tier, total_input_tokens=0 if band is None else band + 1)
            for bucket, value in sorted(buckets.items()):
                ours = None if row is None else row[f"{bucket}_per_mtok"]
                if ours is None or ours.normalize() != value:
                    disagreements.append(Disagreement(provider, model, name, tier, band, bucket, ours, value))
    return Audit(disagreements, compared, missing, others)


def alias_disagreements(book: PriceBook) -> list[str]:
    """A curated dated model id (`claude-sonnet-4-5-20250929`) and the undated name of the same model
    (`claude-sonnet-4-5`, or `claude-3-5-haiku-latest` for `claude-3-5-haiku-20241022`) held by another entry must price alike on every tier, band and bucket from the dated
    model's first version on: otherwise the cost depends on which spelling the log carries. A name that several
    curated snapshots share (`gpt-4o`: 2024-05-13, 2024-08-06, 2024-11-20) is not checked: the book does not say
    which snapshot it served when."""
    rows = book.prices.to_pylist()
    curated = {(r["provider"], r["model"]) for r in rows if not r["book_file"].startswith("imported/")}
    starts: dict[tuple[str, str], set] = {}
    for row in rows:
        starts.setdefault((row["provider"], row["model"]), set()).add(row["effective_from"])
    undated_of = [((p, m), f["base"] + latest + f["rest"]) for p, m in curated if (f := _DATED.match(m)) for latest in ("", "-latest")]
    snapshots: dict[tuple[str, str], int] = {}
    for (provider, _), name in undated_of:
        snapshots[(provider, name)] = snapshots.get((provider, name), 0) + 1
    problems = []
    for (provider, model), name in sorted(undated_of):
        other = book.resolve_exact(provider, name)
        if other is None or other == model or snapshots[(provider, name)] > 1:
            continue  # several curated snapshots share the name (gpt-4o): which one it serves is not in the book
        first = min((s for s in starts[(provider, model)] if s is not None), default=None)
        moments = sorted({s for s in starts[(provider, model)] | starts[(provider, other)] if s is not None and (first is None or s >= first)})
        for at in moments or [dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)]:
            problems += _differences(book, provider, model, other, at)
    return problems


def _differences(book: PriceBook, provider: str, model: str, other: str, at: dt.datetime) -> list[str]:
    problems = []
    bands = sorted({r["input_tokens_from"] for name in (model, other) for r in book.rows_for(provider, name)})
    for tier in TIERS:
        for tokens in bands:
            mine = book.lookup(provider, model, at, tier, tokens)
            theirs = book.lookup(provider, other, at, tier, tokens)
            if mine is None and theirs is None:
                continue
            band = f" above {tokens - 1:,} input tokens" if tokens else ""
            if mine is None or theirs is None:
                missing, having = (model, other) if mine is None else (other, model)
                problems.append(f"{provider}/{missing} has no {tier} price{band} on {at.date()} but {provider}/{having} has")
                continue
            for bucket in (k.removesuffix("_per_mtok") for k in mine if k.endswith("_per_mtok")):
                a, b = mine[f"{bucket}_per_mtok"], theirs[f"{bucket}_per_mtok"]
                if a != b:
                    problems.append(
                        f"{provider}/{model} and its undated name {provider}/{other} disagree on {tier}{band} {bucket} on "
                        f"{at.date()}: {_text(a)} and {_text(b)} ({mine['price_id']}, {theirs['price_id']})"
                    )
    return problems
