"""Import the price data bundled in the genai-prices package into `pricing/list/imported/<provider>.yaml`.

Each genai-prices model becomes one entry of its provider's file: its exact names, its match rules in order,
and one version per date its prices change, per service tier (batch, flex and priority variants), with
long-context cliffs. Prices genai-prices cannot express in our schema are noted on the version. Then
`pricing/corrections.yaml` is applied (`pipelines.pricing.corrections`) and the files are written
(`pipelines.pricing.imported_yaml`); the result must load as a valid price book.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from pipelines.pricing.book import BUCKETS, FEES, TIERS, PriceBookError
from pipelines.pricing.corrections import corrections_file_problems
from pipelines.pricing.imported_yaml import GENERATED_HEADER, UNDATED_FROM, render_imported_file
from pipelines.pricing.match_rules import rule_matches
from pipelines.pricing.platform_rules import apply_platform_rules
from pipelines.pricing.priced_apart import apply_priced_apart
from pipelines.pricing.tier_history import apply_tier_history
from pipelines.settings import load_yaml

GENAI_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "aws": "aws_bedrock",
    "azure": "azure_openai",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "x-ai": "xai",
}
# genai-prices price key -> our bucket or fee (per_request is per request, not per 1,000).
GENAI_KEYS = {
    "input_mtok": "input",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write_5m",
    "cache_write_5m_mtok": "cache_write_5m",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_mtok": "output",
    "output_reasoning_mtok": "reasoning",
    "input_audio_mtok": "audio_input",
    "output_audio_mtok": "audio_output",
    "input_image_mtok": "image_input",
    "output_image_mtok": "image_output",
    "web_searches_kcount": "web_search_per_1k",
    "requests_kcount": "per_request",
}
_KEY_SCALE = {"requests_kcount": Decimal("0.001")}
# genai-prices price variant (request context) -> our service tier.
GENAI_VARIANTS = {
    ("processing", "batch"): "batch",
    ("service_tier", "flex"): "flex",
    ("service_tier", "priority"): "priority",
    ("service_tier", "default"): "standard",
}
BEDROCK_PREFIXES = ("us.", "eu.", "apac.", "global.")
_BEDROCK_ANY_PREFIX = re.compile(r"^(us|eu|apac|global|au|jp|ca|in|us-gov)\.")

@dataclass
class ImportedModel:
    """One model of an imported provider file, before it is written."""

    provider: str
    model: str
    genai_id: str
    aliases: list[str]
    match: list[dict]
    versions: list[dict]
    priced_apart: set[str] = field(default_factory=set)
    """Profile prefixes a `priced_apart` rule keeps off this model (no `<prefix><id>` spelling is generated)."""


@dataclass
class ImportResult:
    version: str
    files: list[Path]
    models: dict[str, int]
    applied: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    platform: list[str] = field(default_factory=list)
    """One line per rule applied (`tier_history` per tier, `global_profiles`, `platform_tiers`, `priced_apart`): what it did."""
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def import_genai_prices(out_dir: Path, corrections_path: Path | None = None) -> ImportResult:
    """Build `<out_dir>/<provider>.yaml` from genai-prices' bundled data with corrections applied.

    Order: corrections (those whose model genai-prices has), `tier_history` (so a derivation that copies a tier copies
    its history), derivations, the corrections of derived models, then the platform rules (`global_profiles`, then
    `platform_tiers`, so a derived model or a generated global profile is priced by them like any other), `priced_apart`
    (so no entry made so far answers to a profile priced apart), and last the generated platform spellings of each name.
    """
    try:
        import genai_prices
        from genai_prices.data import providers as genai_providers
    except ImportError as exc:
        raise PriceBookError("genai-prices is not installed: pip install 'tokenledger[prices]'") from exc

    corrections: dict = {}
    if corrections_path is not None and not corrections_path.exists():
        raise PriceBookError(f"no corrections file at {corrections_path}")
    if corrections_path is not None:
        problems = corrections_file_problems(corrections_path)
        if problems:
            raise PriceBookError("invalid corrections file:\n  " + "\n  ".join(problems))
        corrections = load_yaml(corrections_path) or {}
    book: dict[str, list[ImportedModel]] = {ours: [] for ours in GENAI_PROVIDERS.values()}
    sources: dict[str, list[str]] = {ours: [] for ours in GENAI_PROVIDERS.values()}
    result = ImportResult(version=genai_prices.__version__, files=[], models={})
    for genai_provider in genai_providers:
        ours = GENAI_PROVIDERS.get(genai_provider.id)
        if ours is None:
            continue
        sources[ours].append(genai_provider.id)
        url = (genai_provider.pricing_urls or [None])[0] or genai_provider.api_pattern
        for model in genai_provider.models:
            converted = _convert_model(ours, url, model)
            if isinstance(converted, str):
                result.skipped.append((ours, model.id, converted))
            elif any(existing.model == converted.model for existing in book[ours]):
                result.skipped.append((ours, model.id, f"a second genai-prices model named {converted.model}"))
            else:
                book[ours].append(converted)
    for models in book.values():
        _claim_aliases(models)
    pending = list(enumerate(corrections.get("corrections") or []))
    problems: list[str] = []
    pending = _apply_corrections(book, pending, result, problems)
    problems += apply_tier_history(book, corrections.get("tier_history") or [], result)
    for derivation in corrections.get("derivations") or []:
        problems += _derive(book, derivation, result)
    pending = _apply_corrections(book, pending, result, problems)
    for index, correction in pending:
        problems.append(f"corrections[{index}] {correction['provider']}/{correction['model']}: no such imported model")
    problems += apply_platform_rules(book, corrections, result)
    problems += apply_priced_apart(book, corrections.get("priced_apart") or [], result)
    for provider, models in book.items():
        problems += _alias_problems(provider, models)
        _generated_aliases(provider, models)
    if problems:
        raise PriceBookError("the import did not apply cleanly:\n  " + "\n  ".join(problems))
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.yaml"):
        with open(stale, "rb") as head:
            generated = head.read(len(GENERATED_HEADER.encode())) == GENERATED_HEADER.encode()
        if generated:
            stale.unlink()
    for provider, models in book.items():
        path = out_dir / f"{provider}.yaml"
        path.write_text(render_imported_file(provider, models, result.version, sources[provider]), encoding="utf-8")
        result.files.append(path)
        result.models[provider] = len(models)
    return result


def _convert_model(provider: str, url: str, model) -> ImportedModel | str:
    if provider == "google" and model.id.startswith("claude"):
        return "Claude on Vertex AI: Anthropic's model, not a Gemini API price"
    equals, rules = _clauses(model.match)
    versions, skipped_keys = _genai_versions(model, url)
    if not versions:
        return f"not priced per input token (keys: {', '.join(sorted(skipped_keys)) or 'none'})"
    key = model.id.removeprefix("regional.") if provider == "aws_bedrock" else model.id
    return ImportedModel(provider, key, model.id, [e for e in equals if e != key], rules, versions)


def _clauses(match) -> tuple[list[str], list[dict]]:
    """genai-prices match logic -> exact names (Equals) and our ordered match rules (the rest)."""
    from genai_prices import types as t

    if isinstance(match, t.ClauseOr):
        equals, rules = [], []
        for clause in match.or_:
            more_equals, more_rules = _clauses(clause)
            equals += more_equals
            rules += more_rules
        return equals, rules
    if isinstance(match, t.ClauseEquals):
        return [match.equals], []
    return [], [_rule(match)]


def _rule(clause) -> dict:
    from genai_prices import types as t

    if isinstance(clause, t.ClauseStartsWith):
        return {"starts_with": clause.starts_with}
    if isinstance(clause, t.ClauseEndsWith):
        return {"ends_with": clause.ends_with}
    if isinstance(clause, t.ClauseContains):
        return {"contains": clause.contains}
    if isinstance(clause, t.ClauseRegex):
        return {"regex": clause.regex}
    if isinstance(clause, t.ClauseEquals):
        return {"regex": f"^{re.escape(clause.equals.lower())}$"}
    if isinstance(clause, t.ClauseAnd):
        return {"all": [_rule(part) for part in clause.and_]}
    if isinstance(clause, t.ClauseOr):
        return {"regex": "|".join(f"(?:{_as_regex(_rule(part))})" for part in clause.or_)}
    raise TypeError(f"unknown genai-prices match clause {clause!r}")


def _as_regex(rule: dict) -> str:
    (kind, value), = rule.items()
    return {
        "starts_with": lambda: "^" + re.escape(value.lower()),
        "ends_with": lambda: re.escape(value.lower()) + "$",
        "contains": lambda: re.escape(value.lower()),
        "regex": lambda: value,
    }[kind]()


def _genai_versions(model, url: str) -> tuple[list[dict], set[str]]:
    """Our versions (effective_from, tier blocks, note) from a genai-prices model's prices and variants."""
    from genai_prices import types as t

    conditionals = [(None, model.prices)] if isinstance(model.prices, t.ModelPrice) else [(c.constraint, c.prices) for c in model.prices]
    dated = [(c, p) for c, p in conditionals if not isinstance(c, t.TimeOfDateConstraint)]
    timed = [(c, p) for c, p in conditionals if isinstance(c, t.TimeOfDateConstraint)]
    variants, ignored = [], set()
    for variant in model.price_variants or []:
        tier = GENAI_VARIANTS.get(tuple(variant.when.items())[0]) if len(variant.when) == 1 else None
        if tier is None or isinstance(variant.constraint, t.TimeOfDateConstraint):
            ignored.add(", ".join(f"{k}={v}" for k, v in variant.when.items()))
            continue
        start = variant.constraint.start_date if variant.constraint is not None else None
        variants.append((tier, start, _price_dict(variant.prices)))
    undated = not dated or dated[0][0] is None
    first = UNDATED_FROM if undated else dated[0][0].start_date
    starts = {c.start_date for c, _ in dated if c is not None} | {start for _, start, _ in variants if start}
    versions: list[dict] = []
    skipped_keys: set[str] = set()
    for day in sorted({first, *starts}):
        if day < first:
            continue
        base = _price_dict(_active_dated(dated, day)) if dated else {}
        notes = []
        windows = _time_windows(conditionals, day, base) if timed else []
        if windows and not base:
            base = windows.pop(0)["prices"]
        tier_prices = {"standard": dict(base)}
        for tier in TIERS:
            overrides, active = {}, False
            for variant_tier, start, prices in variants:
                if variant_tier == tier and (start is None or start <= day):
                    active = True
                    for key, value in prices.items():
                        overrides.setdefault(key, value)
            if active:
                tier_prices[tier] = {**base, **overrides}
        blocks = {}
        for tier in TIERS:
            if tier in tier_prices:
                block, unmodelled = _block(tier_prices[tier])
                skipped_keys |= unmodelled
                if block is not None:
                    blocks[tier] = block
        if "standard" not in blocks:
            continue
        hours = [{"utc": w["utc"], "standard": _block(w["prices"])[0]} for w in windows if _block(w["prices"])[0] is not None]
        if hours:
            blocks["windows"] = hours
        if versions and all(versions[-1].get(key) == blocks.get(key) for key in (*TIERS, "windows")):
            continue
        versions.append({"effective_from": day, "source": url, "note_parts": notes, **blocks})
    shared = []
    if skipped_keys:
        shared.append(f"not modelled: {', '.join(sorted(skipped_keys))}")
    if ignored:
        shared.append(f"variants not modelled: {'; '.join(sorted(ignored))}")
    for version in versions:
        if version["effective_from"] == UNDATED_FROM:
            version["note_parts"].insert(0, "genai-prices gives no start date")
        version["note_parts"] += shared
    return versions, skipped_keys


def _price_dict(prices) -> dict:
    return {key: value for key, value in prices.__dict__.items() if value is not None and not key.startswith("_")}


def _active_dated(dated: list, day: dt.date):
    for constraint, prices in reversed(dated):
        if constraint is None or constraint.start_date <= day:
            return prices
    return dated[0][1]


def _time_windows(conditionals: list, day: dt.date, base: dict) -> list[dict]:
    """The time-of-day prices in force on `day` as windows ({utc, prices}), as genai-prices applies them: the last
    price whose constraint holds wins, so a time-of-day price listed before the dated price in force on `day` no
    longer applies. Windows that overlap keep the later one."""
    from genai_prices import types as t

    active = max((i for i, (c, _) in enumerate(conditionals) if c is None or isinstance(c, t.StartDateConstraint) and c.start_date <= day), default=-1)
    windows, taken = [], set()
    for constraint, prices in reversed(conditionals[active + 1:]):
        if not isinstance(constraint, t.TimeOfDateConstraint):
            continue
        start = constraint.start_time.hour * 60 + constraint.start_time.minute
        end = constraint.end_time.hour * 60 + constraint.end_time.minute
        minutes = {(start + m) % 1440 for m in range((end - start) % 1440)}
        if minutes & taken or not minutes or _price_dict(prices) == base:
            continue
        taken |= minutes
        windows.append({"utc": f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}", "prices": _price_dict(prices), "span": len(minutes)})
    return sorted(windows, key=lambda w: -w["span"]) if not base else sorted(windows, key=lambda w: w["utc"])


def _block(prices: dict) -> tuple[dict | None, set[str]]:
    """A genai-prices price dict -> our tier block (long_context for a cliff tier); None without an input price."""
    from genai_prices import types as t

    block: dict = {}
    long_context: dict = {}
    threshold = None
    unmodelled = set()
    for key in sorted(prices, key=lambda k: (k != "cache_write_mtok", k)):
        ours = GENAI_KEYS.get(key)
        if ours is None:
            unmodelled.add(key)
            continue
        value, scale = prices[key], _KEY_SCALE.get(key, Decimal(1))
        if isinstance(value, t.TieredPrices):
            block[ours] = value.base * scale
            tier = value.tiers[0]
            threshold = tier.start
            long_context[ours] = tier.price * scale
        else:
            block[ours] = value * scale
    if "input" not in block:
        return None, unmodelled
    block.setdefault("output", None)
    ordered = {key: block[key] for key in (*BUCKETS, *FEES) if key in block}
    if long_context:
        ordered["long_context"] = {"above_input_tokens": threshold, **{k: long_context[k] for k in (*BUCKETS, *FEES) if k in long_context}}
    return ordered, unmodelled


def _claim_aliases(models: list[ImportedModel]) -> None:
    """Exact names are unique per provider: model names first, then aliases in genai-prices' order."""
    claimed = {m.model for m in models}
    for model in models:
        kept = []
        for alias in model.aliases:
            if alias not in claimed:
                claimed.add(alias)
                kept.append(alias)
        model.aliases = kept


def _generated_aliases(provider: str, models: list[ImportedModel]) -> None:
    """Platform spellings of the same id: Bedrock inference-profile prefixes, Vertex's `google/` prefix.

    A spelling is added only where no other entry claims it by name or by match rule: genai-prices
    lists Bedrock's global profiles separately where their price differs from the regional one.
    """
    claimed = {name for m in models for name in (m.model, *m.aliases)}
    for model in models:
        if provider == "aws_bedrock" and not _BEDROCK_ANY_PREFIX.match(model.model):
            bases = [name for name in (model.model, *model.aliases) if not _BEDROCK_ANY_PREFIX.match(name) and "." in name]
            extra = [prefix + name for name in bases for prefix in BEDROCK_PREFIXES if prefix not in model.priced_apart]
        elif provider == "google":
            extra = [f"google/{name}" for name in (model.model, *model.aliases) if "/" not in name]
        else:
            continue
        others = [other for other in models if other is not model]
        for alias in extra:
            if alias in claimed or any(rule_matches(rule, alias.lower()) for other in others for rule in other.match):
                continue
            claimed.add(alias)
            model.aliases.append(alias)


def _alias_problems(provider: str, models: list[ImportedModel]) -> list[str]:
    owners: dict[str, str] = {}
    problems = []
    for model in models:
        for name in (model.model, *model.aliases):
            owner = owners.setdefault(name, model.model)
            if owner != model.model:
                problems.append(f"{provider}: alias '{name}' is claimed by {owner} and {model.model} (check add_aliases in corrections)")
    return problems


def _apply_corrections(book: dict, pending: list, result: ImportResult, problems: list[str]) -> list:
    """Apply every pending correction whose model exists; return those still waiting for their model."""
    waiting = []
    for index, correction in pending:
        models = book.get(correction["provider"], [])
        target = next((m for m in models if m.model == correction["model"]), None)
        if target is None:
            waiting.append((index, correction))
            continue
        label = f"corrections[{index}] {correction['provider']}/{correction['model']}"
        problems += _apply_correction(models, target, correction, label)
        result.applied.append(label)
    return waiting


def _apply_correction(models: list[ImportedModel], target: ImportedModel, correction: dict, label: str) -> list[str]:
    reason = " ".join(str(correction["reason"]).split())
    touched: set[int] = set()
    problems = []
    if correction.get("drop"):
        models.remove(target)
        return []
    if "prices" in correction:
        target.versions = [
            {**copy.deepcopy(version), "source": version.get("source", correction["source"]), "note_parts": []}
            for version in correction["prices"]
        ]
        touched |= set(range(len(target.versions)))
    target.versions.sort(key=lambda v: v["effective_from"])
    if "first_effective_from" in correction:
        start = correction["first_effective_from"]
        if len(target.versions) > 1 and start >= target.versions[1]["effective_from"]:
            problems.append(f"{label}: first_effective_from {start} is not before the next version ({target.versions[1]['effective_from']})")
        first = target.versions[0]
        first["effective_from"] = start
        first["note_parts"] = [part for part in first["note_parts"] if not part.startswith("genai-prices gives no start date")]
        touched.add(0)
    for change in correction.get("set") or []:
        hits = 0
        for index, version in enumerate(target.versions):
            day = version["effective_from"]
            if change.get("from") and day < change["from"] or change.get("before") and day >= change["before"]:
                continue
            block = version.get(change["tier"])
            if block is None:
                continue
            for key, value in change["prices"].items():
                if key == "long_context":
                    block["long_context"] = {**block.get("long_context", {}), **value}
                else:
                    block[key] = value
            hits += 1
            touched.add(index)
        if not hits:
            problems.append(f"{label}: set on tier {change['tier']} matched no imported version")
    for alias in correction.get("add_aliases") or []:
        owner = next((m.model for m in models if m is not target and (alias == m.model or alias in m.aliases)), None)
        if owner is not None:
            problems.append(f"{label}: add_aliases: '{alias}' already names {owner}")
        elif alias not in target.aliases and alias != target.model:
            target.aliases.append(str(alias))
    for index in touched:
        version = target.versions[index]
        version["note_parts"] = [*version["note_parts"], f"corrected: {reason}"]
        version["source"] = correction["source"]
        if correction.get("checked"):
            version["checked"] = correction["checked"]
    return problems


def _derive(book: dict, derivation: dict, result: ImportResult) -> list[str]:
    provider, source_provider = derivation["provider"], derivation["from_provider"]
    models = derivation["models"]
    pairs = models.items() if isinstance(models, dict) else [(name, name) for name in models]
    reason = " ".join(str(derivation["reason"]).split())
    problems = []
    for target_name, source_name in pairs:
        label = f"derivations {provider}/{target_name}"
        if any(m.model == target_name for m in book.setdefault(provider, [])):
            problems.append(f"{label}: genai-prices already has this model; remove the derivation")
            continue
        source = next((m for m in book.get(source_provider, []) if m.model == source_name), None)
        if source is None:
            problems.append(f"{label}: no imported {source_provider}/{source_name} to derive from")
            continue
        versions = []
        for version in source.versions:
            blocks = {tier: _without_fees(version[tier]) for tier in derivation.get("tiers", ["standard"]) if tier in version}
            if not blocks or (versions and all(versions[-1].get(t) == blocks.get(t) for t in TIERS)):
                continue
            derived = {"effective_from": version["effective_from"], "source": derivation["source"], **blocks}
            derived["note_parts"] = [f"derived from {source_provider}/{source_name} ({version['source']}): {reason}"]
            if derivation.get("checked"):
                derived["checked"] = derivation["checked"]
            versions.append(derived)
        keep = derivation.get("keep_aliases", False)
        book[provider].append(
            ImportedModel(provider, str(target_name), source.genai_id, list(source.aliases) if keep else [], list(source.match) if keep else [], versions)
        )
        _claim_aliases(book[provider])
        result.derived.append(label)
    return problems


def _without_fees(block: dict) -> dict:
    trimmed = {key: value for key, value in copy.deepcopy(block).items() if key not in FEES}
    if "long_context" in trimmed:
        trimmed["long_context"] = {key: value for key, value in trimmed["long_context"].items() if key not in FEES}
    return trimmed
