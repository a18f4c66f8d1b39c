"""`pricing/corrections.yaml`: what the genai-prices import gets wrong, and entries it lacks, with a reason each.

Each correction names an imported model and does one or more of: `drop` it, replace its `prices`, move its
`first_effective_from`, `set` some prices on a tier (optionally from / before a date), `add_aliases`.
Each `tier_history` rule carries a provider's batch / flex / priority prices back to the earlier versions of a model
whose standard price is the same (genai-prices dates them from the day it added them). Each derivation copies
imported models of one provider to another (Azure OpenAI from OpenAI, say). A platform's own price rules are written
once each: `global_profiles` prices a cross-Region profile that genai-prices lacks at the in-Region price without its
premium (Bedrock's `global.` ids), `platform_tiers` gives the models a platform sells in a tier that tier at a fixed
multiple of another (Bedrock batch inference and Azure Global Batch at half of on-demand), `priced_apart` keeps the
imported entries from answering to a profile prefix billed at another Region's price (Bedrock's `us-gov.` ids).
Every entry gives its `reason` and `source`. The format is documented in pricing/README.md.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import yaml

from pipelines.pricing.book import BUCKETS, TIERS, bucket_prices, version_problems
from pipelines.pricing.priced_apart import PREFIX
from pipelines.settings import clipped, load_yaml, shown, yaml_problem

CORRECTION_KEYS = {"provider", "model", "reason", "source", "checked", "drop", "prices", "first_effective_from", "set", "add_aliases"}
CORRECTION_ACTIONS = ("drop", "prices", "first_effective_from", "set", "add_aliases")
SET_KEYS = {"tier", "from", "before", "prices"}
DERIVATION_KEYS = {"provider", "from_provider", "tiers", "keep_aliases", "reason", "source", "checked", "models"}
PLATFORM_TIER_KEYS = {"provider", "add", "from", "multiplier", "models", "unpriced", "reason", "source", "checked"}
GLOBAL_PROFILE_KEYS = {"provider", "prefix", "premium", "models", "reason", "source", "checked"}
TIER_HISTORY_KEYS = {"provider", "tiers", "models", "reason", "source", "checked"}
PRICED_APART_KEYS = {"provider", "prefix", "keep", "only", "reason", "source", "checked"}
HISTORY_TIERS = ("batch", "flex", "priority")
SECTIONS = ("corrections", "tier_history", "derivations", "global_profiles", "platform_tiers", "priced_apart")


def corrections_file_problems(path: Path) -> list[str]:
    """Validate corrections.yaml: known keys, a reason and source per entry, prices that would load."""
    name = path.name
    if not path.exists():
        return [f"{name}: not found at {path}"]
    if not path.is_file():  # a FIFO would block the read, /dev/zero never end
        return [f"{name}: {path} is not a regular file (a folder, FIFO, socket or device)"]
    try:
        document = load_yaml(path)
    except yaml.YAMLError as exc:
        return [yaml_problem(name, exc)]
    if document is None:
        return []
    if not isinstance(document, dict):
        return [f"{name}: expected a mapping with any of {', '.join(SECTIONS)}"]
    problems = [f"{name}: unknown key {shown(key)} (known: {', '.join(SECTIONS)})" for key in document if key not in SECTIONS]
    checks = (_correction_problems, _tier_history_problems, _derivation_problems, _global_profile_problems, _platform_tier_problems,
              _priced_apart_problems)
    for key, check in zip(SECTIONS, checks):
        entries = document.get(key) or []
        if not isinstance(entries, list):
            problems.append(f"{name}: {key} must be a list, got {shown(entries)}")
            continue
        for index, entry in enumerate(entries):
            problems += check(f"{name}: {key}[{index}]", entry)
    return problems


def _keys_problems(label: str, entry: dict, known: set[str], required: tuple[str, ...]) -> list[str]:
    """Unknown keys and missing required ones of one entry."""
    problems = [f"{label}: unknown key {shown(key)} (known: {', '.join(sorted(known))})" for key in entry if key not in known]
    problems += [f"{label}: missing '{key}'" for key in required if not entry.get(key)]
    return problems + [
        f"{label}: {key} must be text, got {shown(entry[key])}"
        for key in ("provider", "model", "from_provider", "reason", "source")
        if key in entry and entry[key] and not isinstance(entry[key], str)
    ]


def _name(value: object) -> str:
    """A provider or model as a label shows it: the text itself, anything else as `shown` writes it."""
    return clipped(value) if isinstance(value, str) else shown(value)


def _correction_problems(label: str, correction: object) -> list[str]:
    if not isinstance(correction, dict):
        return [f"{label}: expected a mapping"]
    label = f"{label} {_name(correction.get('provider'))}/{_name(correction.get('model'))}"
    problems = _keys_problems(label, correction, CORRECTION_KEYS, ("provider", "model", "reason", "source"))
    if not any(key in correction for key in CORRECTION_ACTIONS):
        problems.append(f"{label}: does nothing (give one of {', '.join(CORRECTION_ACTIONS)})")
    if "first_effective_from" in correction and not isinstance(correction["first_effective_from"], dt.date):
        problems.append(f"{label}: first_effective_from is not a date (YYYY-MM-DD)")
    if "prices" in correction:
        versions = correction["prices"]
        if not isinstance(versions, list) or not versions:
            problems.append(f"{label}: prices must be a non-empty list of versions")
        else:
            filled = [{"source": correction.get("source"), **v} if isinstance(v, dict) else v for v in versions]
            starts = [v.get("effective_from") if isinstance(v, dict) and isinstance(v.get("effective_from"), dt.date) else None for v in filled]
            problems += version_problems(label, filled, starts)
            for version, start in zip(filled, starts):
                for tier in TIERS:
                    if isinstance(version, dict) and isinstance(version.get(tier), dict):
                        problems += bucket_prices(f"{label}@{start}/{tier}", version[tier], {})[1]
    changes = correction.get("set") or []
    if not isinstance(changes, list):
        problems.append(f"{label}: set must be a list of {{tier, prices}} changes, got {shown(changes)}")
        changes = []
    for position, change in enumerate(changes):
        where = f"{label}: set[{position}]"
        if not isinstance(change, dict):
            problems.append(f"{where}: expected a mapping with tier and prices")
            continue
        problems += [f"{where}: unknown key '{key}' (known: {', '.join(sorted(SET_KEYS))})" for key in change if key not in SET_KEYS]
        if change.get("tier") not in TIERS:
            problems.append(f"{where}: tier must be one of {', '.join(TIERS)}")
        problems += [f"{where}: {key} is not a date" for key in ("from", "before") if key in change and not isinstance(change[key], dt.date)]
        prices = change.get("prices")
        if not isinstance(prices, dict) or not prices:
            problems.append(f"{where}: prices must be a mapping of bucket prices")
            continue
        problems += bucket_prices(where, {k: v for k, v in prices.items() if k != "long_context"}, {}, required=())[1]
        if "long_context" in prices:
            long_context = prices["long_context"]
            if not isinstance(long_context, dict) or type(long_context.get("above_input_tokens")) is not int:
                problems.append(f"{where}: long_context needs an integer above_input_tokens")
            else:
                body = {k: v for k, v in long_context.items() if k != "above_input_tokens"}
                problems += bucket_prices(f"{where}/long_context", body, {}, required=())[1]
    aliases = correction.get("add_aliases")
    if aliases is not None and (not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases)):
        problems.append(f"{label}: add_aliases must be a list of names")
    return problems


def _derivation_problems(label: str, derivation: object) -> list[str]:
    if not isinstance(derivation, dict):
        return [f"{label}: expected a mapping"]
    label = f"{label} {_name(derivation.get('provider'))}"
    problems = _keys_problems(label, derivation, DERIVATION_KEYS, ("provider", "from_provider", "reason", "source", "models"))
    tiers = derivation.get("tiers", ["standard"])
    if not isinstance(tiers, list) or any(tier not in TIERS for tier in tiers):
        problems.append(f"{label}: tiers must be a list of {', '.join(TIERS)}")
    models = derivation.get("models")
    if models is not None and not isinstance(models, (dict, list)):
        problems.append(f"{label}: models must map each new model to the model it is derived from")
    return problems


def _model_list_problems(label: str, models: object) -> list[str]:
    """`models` of a platform rule: a non-empty list of distinct model names."""
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        return [f"{label}: models must be a non-empty list of model names, got {shown(models)}"]
    repeated = sorted({m for m in models if models.count(m) > 1})
    return [f"{label}: models lists {', '.join(repeated)} more than once"] if repeated else []


def _number(value: object) -> Decimal | None:
    """A YAML number (not a boolean, not text) as a Decimal; None otherwise."""
    return Decimal(value) if isinstance(value, (int, Decimal)) and not isinstance(value, bool) and Decimal(value).is_finite() else None


def _checked_problems(label: str, entry: dict) -> list[str]:
    return [f"{label}: checked is not a date (YYYY-MM-DD)"] if "checked" in entry and not isinstance(entry["checked"], dt.date) else []


def _global_profile_problems(label: str, rule: object) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{label}: expected a mapping"]
    label = f"{label} {_name(rule.get('provider'))}"
    problems = _keys_problems(label, rule, GLOBAL_PROFILE_KEYS, ("provider", "prefix", "models", "reason", "source"))
    problems += [f"{label}: missing 'premium'"] if "premium" not in rule else []
    prefix = rule.get("prefix")
    if prefix and not (isinstance(prefix, str) and prefix.endswith(".") and len(prefix) > 1):
        problems.append(f"{label}: prefix must be the profile's name prefix ending in a dot, such as 'global.', got {shown(prefix)}")
    premium = _number(rule.get("premium"))
    if "premium" in rule and (premium is None or premium <= 1):
        problems.append(f"{label}: premium must be a number above 1 (the other ids' price over the profile's), got {shown(rule['premium'])}")
    if rule.get("models"):
        problems += _model_list_problems(label, rule["models"])
    return problems + _checked_problems(label, rule)


def _platform_tier_problems(label: str, rule: object) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{label}: expected a mapping"]
    label = f"{label} {_name(rule.get('provider'))}/{_name(rule.get('add'))}"
    problems = _keys_problems(label, rule, PLATFORM_TIER_KEYS, ("provider", "add", "from", "models", "reason", "source"))
    problems += [f"{label}: missing 'multiplier'"] if "multiplier" not in rule else []
    for key in ("add", "from"):
        if rule.get(key) and rule[key] not in TIERS:
            problems.append(f"{label}: {key} must be one of {', '.join(TIERS)}, got {shown(rule[key])}")
    if rule.get("add") is not None and rule.get("add") == rule.get("from"):
        problems.append(f"{label}: add and from name the same tier")
    multiplier = _number(rule.get("multiplier"))
    if "multiplier" in rule and (multiplier is None or multiplier <= 0):
        problems.append(f"{label}: multiplier must be a positive number, got {shown(rule['multiplier'])}")
    if rule.get("models"):
        problems += _model_list_problems(label, rule["models"])
    unpriced = rule.get("unpriced")
    if unpriced is not None and (not isinstance(unpriced, list) or not unpriced or any(b not in BUCKETS for b in unpriced)):
        problems.append(f"{label}: unpriced must be a non-empty list of buckets ({', '.join(BUCKETS)}), got {shown(unpriced)}")
    return problems + _checked_problems(label, rule)


def _tier_history_problems(label: str, rule: object) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{label}: expected a mapping"]
    label = f"{label} {_name(rule.get('provider'))}"
    problems = _keys_problems(label, rule, TIER_HISTORY_KEYS, ("provider", "tiers", "reason", "source"))
    tiers = rule.get("tiers")
    if tiers is not None and (not isinstance(tiers, list) or not tiers or any(tier not in HISTORY_TIERS for tier in tiers)):
        problems.append(f"{label}: tiers must be a non-empty list of {', '.join(HISTORY_TIERS)}, got {shown(tiers)}")
    elif tiers and len(set(tiers)) != len(tiers):
        problems.append(f"{label}: tiers lists {', '.join(sorted({t for t in tiers if tiers.count(t) > 1}))} more than once")
    if "models" in rule:
        problems += _model_list_problems(label, rule["models"])
    return problems + _checked_problems(label, rule)


def _priced_apart_problems(label: str, rule: object) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{label}: expected a mapping"]
    label = f"{label} {_name(rule.get('provider'))}"
    problems = _keys_problems(label, rule, PRICED_APART_KEYS, ("provider", "prefix", "reason", "source"))
    prefix = rule.get("prefix")
    if prefix and not (isinstance(prefix, str) and PREFIX.fullmatch(prefix)):
        problems.append(f"{label}: prefix must be a profile prefix in lower case ending in a dot, such as 'us-gov.', got {shown(prefix)}")
    for key in ("keep", "only"):
        if key in rule:
            problems += _model_list_problems(f"{label}: {key}", rule[key])
    if "keep" in rule and "only" in rule:
        problems.append(f"{label}: give keep (every model but these) or only (these models), not both")
    return problems + _checked_problems(label, rule)
