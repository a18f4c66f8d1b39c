"""Tier history applied on import (pricing/corrections.yaml `tier_history`, pricing/README.md): genai-prices dates a
provider's batch / flex prices from the day it added them, not from the day the provider began selling the tier. Where
the provider ties the tier to the standard price (a fixed discount), the tier's first imported block is carried back
to the model's earlier versions that have exactly the same standard block; a version whose standard price differs
keeps no price for the tier, so no price is invented. `book` maps each provider to its imported models
(genai_import.ImportedModel); `result.platform` gets one line per rule and tier."""

from __future__ import annotations

import copy

from pipelines.pricing.imported_yaml import start_in_price_id


def apply_tier_history(book: dict, rules: list[dict], result) -> list[str]:
    """Every `tier_history` rule in file order; the problems that stop the import, each naming its rule."""
    problems = []
    for index, rule in enumerate(rules):
        problems += tier_history(book, rule, f"tier_history[{index}] {rule['provider']}", result)
    return problems


def tier_history(book: dict, rule: dict, label: str, result) -> list[str]:
    """Carry each listed tier back to the earlier versions of the rule's models (default: every model of the
    provider) whose standard block equals the one of the first version that prices the tier."""
    provider = rule["provider"]
    if provider not in book:
        return [f"{label}: no imported provider {provider} (known: {', '.join(sorted(book))})"]
    models = book[provider]
    names = rule.get("models")
    problems = [f"{label}: {name}: no such imported model" for name in names or [] if all(m.model != name for m in models)]
    targets = [m for m in models if names is None or m.model in names]
    reason = " ".join(str(rule["reason"]).split())
    for tier in rule["tiers"]:
        gained, differs, windowed, touched = 0, 0, 0, 0
        for model in targets:
            versions = sorted(model.versions, key=lambda v: v["effective_from"])
            first = next((i for i, version in enumerate(versions) if tier in version), None)
            if first is None:
                if names is not None:
                    problems.append(f"{label}/{tier}: {model.model} has no {tier} price to carry back: take it off the list")
                continue
            origin = versions[first]
            note = f"{tier}: as from {start_in_price_id(origin)} ({rule['source']}): {reason}"
            before = gained
            for version in versions[:first]:
                if version.get("windows") or origin.get("windows"):
                    windowed += 1
                elif version.get("standard") is None or version.get("standard") != origin.get("standard"):
                    differs += 1
                else:
                    version[tier] = copy.deepcopy(origin[tier])
                    version["note_parts"] = [*version["note_parts"], note]
                    gained += 1
            touched += gained > before
        line = f"{label}/{tier}: carried back to {gained} earlier version{'s' if gained != 1 else ''} of {touched} model{'s' if touched != 1 else ''}"
        if differs:
            line += f"; {differs} earlier version{'s' if differs != 1 else ''} with another standard price left without {tier}"
        if windowed:
            line += f"; {windowed} with time-of-day windows skipped"
        result.platform.append(line)
    return problems

