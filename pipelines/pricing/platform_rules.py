"""Platform rules applied on import (pricing/corrections.yaml `global_profiles` and `platform_tiers`, pricing/README.md):
a platform's own pricing rule, written once, applied to the imported models it names. `book` maps each provider to
its imported models (genai_import.ImportedModel); `result.platform` gets one line per rule applied."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from pipelines.pricing.book import FEES, TIERS
from pipelines.pricing.imported_yaml import start_in_price_id
from pipelines.settings import fits_decimal


def apply_platform_rules(book: dict, corrections: dict, result) -> list[str]:
    """Every `global_profiles` rule, then every `platform_tiers` rule, in file order; the problems, each naming its rule."""
    problems = []
    for index, rule in enumerate(corrections.get("global_profiles") or []):
        problems += global_profiles(book, rule, f"global_profiles[{index}] {rule['provider']}", result)
    for index, rule in enumerate(corrections.get("platform_tiers") or []):
        problems += platform_tier(book, rule, f"platform_tiers[{index}] {rule['provider']}/{rule['add']}", result)
    return problems


def global_profiles(book: dict, rule: dict, label: str, result) -> list[str]:
    """A cross-Region profile genai-prices lacks, as its own entry: the in-Region model's versions with every price
    divided by the premium the in-Region and geographic ids carry (Bedrock's `global.` profiles)."""
    provider, prefix, premium = rule["provider"], rule["prefix"], Decimal(rule["premium"])
    reason = " ".join(str(rule["reason"]).split())
    models = book.get(provider, [])
    problems = []
    for name in rule["models"]:
        target = next((m for m in models if m.model == name), None)
        profile = f"{prefix}{name}"
        owner = next((m.model for m in models if profile == m.model or profile in m.aliases), None)
        if target is None:
            problems.append(f"{label}: {name}: no such imported model")
            continue
        if owner is not None:
            problems.append(f"{label}: {name}: {profile} is already priced by {owner} (genai-prices has it now?): take {name} off the list")
            continue
        versions = []
        for version in target.versions:
            if version.get("windows"):
                problems.append(f"{label}: {name}: a version with time-of-day windows cannot be divided by a premium")
                continue
            blocks = {tier: _scaled(version[tier], premium, divide=True) for tier in TIERS if tier in version}
            for tier, (_, inexact) in blocks.items():
                problems += [f"{label}: {name}@{start_in_price_id(version)}/{tier}: {key} {value} / {premium} is not a price "
                             "with at most 9 decimals: check the premium" for key, value in inexact]
            derived = {"effective_from": version["effective_from"], "source": rule["source"], **{t: b for t, (b, _) in blocks.items()}}
            derived["note_parts"] = [f"{provider}/{name}'s price / {premium} ({version['source']}): {reason}"]
            if rule.get("checked"):
                derived["checked"] = rule["checked"]
            versions.append(derived)
        models.append(dataclasses.replace(target, model=profile, aliases=[], match=[], versions=versions))
    count = len(rule["models"])
    result.platform.append(f"{label}: {count} {prefix} profile{'s' if count != 1 else ''} at the in-Region price / {premium}")
    return problems


def platform_tier(book: dict, rule: dict, label: str, result) -> list[str]:
    """A tier the platform sells at a fixed multiple of another, given to exactly the models it names: every version
    that prices the `from` tier gains the `add` tier at `multiplier` times its buckets (fees as they are), so the
    new tier starts and changes exactly when the `from` tier does. Buckets listed in `unpriced` get no price in the new
    tier (a request that uses them is unpriced there, `no_price_for_bucket`), where the platform's rule is unsettled."""
    provider, add, source_tier = rule["provider"], rule["add"], rule["from"]
    multiplier = Decimal(rule["multiplier"])
    reason = " ".join(str(rule["reason"]).split())
    models = book.get(provider, [])
    problems = []
    for name in rule["models"]:
        target = next((m for m in models if m.model == name), None)
        if target is None:
            problems.append(f"{label}: {name}: no such imported model")
            continue
        if any(add in version for version in target.versions):
            problems.append(f"{label}: {name} already has a {add} price (from genai-prices or another rule): take it off the list")
            continue
        if not any(source_tier in version for version in target.versions):
            problems.append(f"{label}: {name} has no {source_tier} price to derive {add} from")
            continue
        for version in target.versions:
            if source_tier not in version:
                continue
            if version.get("windows"):
                problems.append(f"{label}: {name}@{start_in_price_id(version)}: a version with time-of-day windows cannot gain a tier")
                continue
            block, inexact = _scaled(version[source_tier], multiplier)
            for bucket in rule.get("unpriced") or []:  # buckets whose price in the tier is not known: left unpriced
                block.pop(bucket, None)
                if isinstance(block.get("long_context"), dict):
                    block["long_context"].pop(bucket, None)
            problems += [f"{label}: {name}@{start_in_price_id(version)}: {key} {value} x {multiplier} is not a price with at most "
                         "9 decimals" for key, value in inexact]
            version[add] = block
            left = f", {' and '.join(rule['unpriced'])} unpriced" if rule.get("unpriced") else ""
            version["note_parts"] = [*version["note_parts"], f"{add}: {multiplier} x {source_tier}{left} ({rule['source']}): {reason}"]
    count = len(rule["models"])
    result.platform.append(f"{label}: {add} at {multiplier} x {source_tier} for {count} model{'s' if count != 1 else ''}")
    return problems


def _scaled(block: dict, factor: Decimal, divide: bool = False) -> tuple[dict, list[tuple[str, Decimal]]]:
    """A tier block with every bucket price (long-context ones too) multiplied, or divided, by `factor`; fees and the
    cliff's threshold unchanged. Also the (bucket, price) pairs whose result does not fit 9 decimals."""
    scaled: dict = {}
    inexact: list[tuple[str, Decimal]] = []
    for key, value in block.items():
        if key == "long_context":
            inner, more = _scaled({k: v for k, v in value.items() if k != "above_input_tokens"}, factor, divide)
            scaled[key] = {"above_input_tokens": value["above_input_tokens"], **inner}
            inexact += [(f"long_context.{k}", v) for k, v in more]
        elif key in FEES or value is None:
            scaled[key] = value
        else:
            price = Decimal(value) / factor if divide else Decimal(value) * factor
            if not fits_decimal(price):
                inexact.append((key, value))
            scaled[key] = price.normalize()
    return scaled, inexact
