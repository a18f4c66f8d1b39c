"""Profiles priced apart, applied on import (pricing/corrections.yaml `priced_apart`, pricing/README.md).

A Bedrock cross-Region profile is billed at its source Region's price. Where that Region costs more than the US
(`us-gov.` ids: AWS GovCloud; `jp.` ids of some models: Tokyo; `eu.` and `apac.` ids of Nova and Llama 3.2), the
in-Region entry must not answer to the prefixed id, or its requests would be priced too low. genai-prices reaches such
ids three ways: exact aliases (`us-gov.anthropic.claude-haiku-5-5`), match rules written for them
(`contains: jp.amazon.nova-2-lite`) and generic match rules that also match them (`contains: claude-3-5-haiku-20241022`).
For every imported model of the provider except those the rule keeps (or, with `only`, for the models it lists), this
drops the first two and guards the third with a regex that refuses names starting with the prefix. A prefixed id with
a published price is then priced by a curated entry of its own (pricing/list/aws_bedrock.yaml); any other stays
unpriced (`unknown_model`), never priced at another Region's price.
`book` maps each provider to its imported models (genai_import.ImportedModel); `result.platform` gets one line per rule.
"""

from __future__ import annotations

import re

PREFIX = re.compile(r"^[a-z][a-z0-9-]*\.$")
"""A profile prefix: lower-case letters, digits and hyphens, then a dot (`us-gov.`, `jp.`)."""


def apply_priced_apart(book: dict, rules: list[dict], result) -> list[str]:
    """Every `priced_apart` rule in file order; the problems that stop the import, each naming its rule."""
    problems = []
    for index, rule in enumerate(rules):
        problems += priced_apart(book, rule, f"priced_apart[{index}] {rule['provider']}/{rule['prefix']}", result)
    return problems


def priced_apart(book: dict, rule: dict, label: str, result) -> list[str]:
    """Keep the provider's imported models, except those in `keep` (or only those in `only`), from answering to
    `<prefix>` ids."""
    provider, prefix = rule["provider"], rule["prefix"]
    if provider not in book:
        return [f"{label}: no imported provider {provider} (known: {', '.join(sorted(book))})"]
    models = book[provider]
    keep, only = rule.get("keep") or [], rule.get("only")
    problems = [f"{label}: {key}: {name}: no such imported model" for key in ("keep", "only")
                for name in rule.get(key) or [] if all(m.model != name for m in models)]
    guard = refuse_prefix(prefix)
    aliases = dropped = guarded = touched = 0
    for model in models:
        if model.model in keep or model.model.startswith(prefix) or (only is not None and model.model not in only):
            continue
        kept_aliases = [alias for alias in model.aliases if not alias.lower().startswith(prefix)]
        match = []
        for match_rule in model.match:
            if targets_prefix(match_rule, prefix):
                dropped += 1
            elif can_match_prefixed(match_rule, prefix):
                match.append({"all": [*match_rule["all"], guard]} if "all" in match_rule else {"all": [match_rule, guard]})
                guarded += 1
            else:
                match.append(match_rule)
        changed = len(kept_aliases) != len(model.aliases) or match != model.match
        aliases += len(model.aliases) - len(kept_aliases)
        model.aliases, model.match = kept_aliases, match
        model.priced_apart.add(prefix)
        touched += changed
    line = (f"{label}: {prefix} ids no longer reach the price of {touched} imported model{'s' if touched != 1 else ''} "
            f"({aliases} alias{'es' if aliases != 1 else ''} and {dropped} match rule{'s' if dropped != 1 else ''} dropped, "
            f"{guarded} match rule{'s' if guarded != 1 else ''} guarded)")
    if keep:
        line += f"; {len(keep)} model{'s' if len(keep) != 1 else ''} kept at their own price"
    result.platform.append(line)
    return problems


def refuse_prefix(prefix: str) -> dict:
    """The match rule that holds for every name not starting with `prefix` (a negative lookahead; the prefix is letters,
    digits and hyphens before its dot, so only the dot needs escaping)."""
    return {"regex": "^(?!" + prefix[:-1] + "\\.)"}


def targets_prefix(rule: dict, prefix: str) -> bool:
    """A rule written for `<prefix>` ids: a `starts_with` or `contains` of a value that begins with the prefix (or an
    `all` with such a part)."""
    (kind, value), = rule.items()
    if kind == "all":
        return any(targets_prefix(part, prefix) for part in value)
    return kind in ("starts_with", "contains") and value.lower().startswith(prefix)


def can_match_prefixed(rule: dict, prefix: str) -> bool:
    """Whether a rule may match some `<prefix>` id: a `starts_with` only if its value and the prefix agree; `all` only if
    every part may (so a rule already guarded against the prefix is not guarded twice); `contains`, `ends_with` and any
    other `regex` always."""
    (kind, value), = rule.items()
    if kind == "all":
        return all(can_match_prefixed(part, prefix) for part in value)
    if kind == "starts_with":
        lowered = value.lower()
        return lowered.startswith(prefix) or prefix.startswith(lowered)
    if kind == "regex" and value == refuse_prefix(prefix)["regex"]:
        return False
    return True
