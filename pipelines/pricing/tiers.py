"""Model tiers (small / medium / premium) for the routing view, and the API models a self-hosted model compares with.

Rules come from `<home>/model_tiers.yaml` (optional, tried first) and the shipped
`pricing/model_tiers.yaml`. Each rule is `{match: <glob>, tier: small|medium|premium}`, optionally with
`compare_with: [<provider/model or model>, ...]`; the glob (`*`, `?`, case-insensitive) is tested against
"<provider>/<model>" and against the model name alone, and the first matching rule wins. Models no rule
matches are "unclassified".

`compare_with` names the API models whose prices a self-hosted model's traffic is compared with
(marts.self_host_breakeven): for a self-hosted request's model the first matching rule's list applies (none when
that rule has none). Each name is resolved through the price book's model names, as `tokenledger whatif` resolves
--to-model: `provider/model`, or a bare name that only one provider prices. A name the book does not know, or
knows under several providers, is an error naming the file, the rule and the name.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.pricing.book import PriceBook, load_price_book
from pipelines.settings import ConfigError, clipped, read_yaml, shown
from pipelines.storage.database import sql_text
from pipelines.storage.home import shipped_dir

TIERS = ("small", "medium", "premium")
UNCLASSIFIED = "unclassified"
TIERS_FILE = "model_tiers.yaml"
RULE_KEYS = {"match", "tier"}
COMPARE_KEY = "compare_with"
COMPARE_TYPE = pa.list_(pa.struct([("provider", pa.string()), ("model", pa.string())]))
"""compare_with as the warehouse reads it: the price book's (provider, model) of each name, in the rule's order."""
RULES_SCHEMA = pa.schema(
    [
        ("rule_order", pa.int64()),
        ("pattern", pa.string()),
        ("tier", pa.string()),
        ("rule_source", pa.string()),
        ("compare_with", COMPARE_TYPE),
    ]
)


class ModelTiersError(ConfigError):
    """A model tiers file is not valid; the message names the file and the rule."""


def shipped_tiers_path() -> Path:
    return shipped_dir("pricing") / TIERS_FILE


def load_tier_rules(home_root: Path, book: PriceBook | None = None) -> pa.Table:
    """Every rule in precedence order: the home's file first, then the shipped defaults. compare_with names are
    resolved in `book` (default: the shipped price book, read only when a rule has compare_with)."""
    rules: list[dict] = []
    for path, label in ((home_root / TIERS_FILE, TIERS_FILE), (shipped_tiers_path(), f"pricing/{TIERS_FILE}")):
        if os.path.lexists(path):
            rules += _read_rules(path, label)
    if any(rule["compare_with"] for rule in rules):
        _resolve_compare_with(rules, book or load_price_book(home_root=home_root))
    for order, rule in enumerate(rules, start=1):
        rule["rule_order"] = order
    return pa.Table.from_pylist(rules, schema=RULES_SCHEMA)


def compare_rule(targets: list[tuple[str, str]], source: str) -> pa.Table:
    """One rule that compares every self-hosted model with `targets` ((provider, model) of the price book), in the
    shape of `load_tier_rules`: what `tokenledger breakeven --compare-with` hands marts.self_host_breakeven's SQL."""
    rule = {"rule_order": 1, "pattern": "*", "tier": None, "rule_source": source,
            "compare_with": [{"provider": provider, "model": model} for provider, model in targets]}
    return pa.Table.from_pylist([rule], schema=RULES_SCHEMA)


def define_tiered_models(con: duckdb.DuckDBPyConnection) -> None:
    """The table macro tiered_models(models) on this connection (sql/marts/_tiered_models.sql): each model of the
    relation named `models` with the first rule of the view tier_rules that matches it."""
    con.execute(f"create or replace temp macro tiered_models(models) as table {sql_text('marts._tiered_models')}")


def _read_rules(path: Path, label: str) -> list[dict]:
    document = read_yaml(path, ModelTiersError, label)
    if document is None:
        return []
    if not isinstance(document, dict) or set(document) != {"rules"}:
        raise ModelTiersError(f"{label}: expected one key, rules: a list of {{match: <glob>, tier: <tier>}}")
    if not isinstance(document["rules"], list):
        raise ModelTiersError(f"{label}: rules must be a list of {{match: <glob>, tier: <tier>}}")
    problems, rules = [], []
    for number, rule in enumerate(document["rules"], start=1):
        if not isinstance(rule, dict) or set(rule) not in (RULE_KEYS, RULE_KEYS | {COMPARE_KEY}):
            keys = "match, tier and compare_with" if isinstance(rule, dict) and COMPARE_KEY in rule else "match and tier"
            problems.append(f"{label}: rule {number}: expected exactly the keys {keys}, got {shown(rule)}")
            continue
        match, tier = rule["match"], rule["tier"]
        if not isinstance(match, str) or not match.strip():
            problems.append(f"{label}: rule {number}: match must be a non-empty glob, got {shown(match)}")
            continue
        where = f"{label}: rule {number} ({clipped(match)})"
        if tier not in TIERS:
            problems.append(f"{where}: tier must be one of {', '.join(TIERS)}, got {shown(tier)}")
            continue
        names, compare_problems = _compare_names(where, rule[COMPARE_KEY]) if COMPARE_KEY in rule else ([], [])
        problems += compare_problems
        rules.append({"pattern": match.strip().lower(), "tier": tier, "rule_source": f"{label}#{number}", "compare_with": names, "where": where})
    if problems:
        raise ModelTiersError("\n".join(problems))
    return rules


def _compare_names(where: str, value: object) -> tuple[list[str], list[str]]:
    """compare_with as a list of names (stripped), and its problems."""
    if not isinstance(value, list) or not value:
        return [], [f"{where}: compare_with must be a non-empty list of provider/model names, got {shown(value)}"]
    problems = [
        f"{where}: compare_with names a model as text (provider/model or model), got {shown(name)}"
        for name in value
        if not isinstance(name, str) or not name.strip() or name.strip().endswith("/")
    ]
    names = [name.strip() for name in value if isinstance(name, str)]
    twice = sorted({name for name in names if name and names.count(name) > 1})
    problems += [f"{where}: compare_with names {shown(name)} twice" for name in twice]
    return names, problems


def _resolve_compare_with(rules: list[dict], book: PriceBook) -> None:
    """Replace each rule's compare_with names with the book's (provider, model); ModelTiersError lists every name the
    book does not know or knows under several providers."""
    known: dict[str, set[tuple[str, str]]] = {}
    for provider, name, model in zip(book.aliases["provider"].to_pylist(), book.aliases["name"].to_pylist(), book.aliases["model"].to_pylist()):
        known.setdefault(name, set()).add((provider, model))
    problems = []
    for rule in rules:
        targets = []
        for text in rule["compare_with"]:
            provider, _, name = text.rpartition("/")
            found = sorted((p, m) for p, m in known.get(name, ()) if provider in ("", p))
            if not found:
                problems.append(f"{rule['where']}: compare_with {shown(text)} is not in the price book "
                                "(`tokenledger prices list` shows every model)")
            elif len(found) > 1:
                options = ", ".join(f"{p}/{m}" for p, m in found)
                problems.append(f"{rule['where']}: compare_with {shown(text)} is priced under several providers ({options}): "
                                "name one as provider/model")
            elif found[0] not in targets:
                targets.append(found[0])
        rule["compare_with"] = [{"provider": p, "model": m} for p, m in targets]
    if problems:
        raise ModelTiersError("\n".join(problems))
