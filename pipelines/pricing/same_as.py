"""`same_as`: a price-book entry priced as another provider's model (a platform that resells a model at its maker's
list price, such as Claude on Vertex AI), resolved once every file of the book is read (pricing/README.md)."""

from __future__ import annotations

from pipelines.pricing.versions import TIERS
from pipelines.settings import shown

SAME_AS_KEYS = {"model", "tiers", "source", "reason", "checked"}


def resolve_same_as(entries: list) -> list[str]:
    """Give each `same_as` entry the versions of the model it names (`<provider>/<model>`, among the entries kept once
    the layers are applied (precedence.py), so the entry that prices that name in requests): only the tiers it lists (its file's fees, not the maker's), each version's `source` replaced by the
    platform's page and its note saying whose price it is. A platform that resells a model at the maker's list price
    (Claude on Vertex AI) is written once: the maker's history, cliffs and tiers follow without a copy."""
    by_name = {f"{entry.provider}/{entry.model}": entry for entry in entries}
    for entry in entries:  # a name the home gives as an alias prices that name, here as in requests
        for alias in entry.aliases:
            by_name.setdefault(f"{entry.provider}/{alias}", entry)
    problems = []
    for entry in entries:
        if entry.same_as is None:
            continue
        where = f"{entry.file}: {entry.provider}/{entry.model}: same_as"
        spec = entry.same_as
        if not isinstance(spec, dict):
            problems.append(f"{where}: expected a mapping with model, tiers, source and reason, got {shown(spec)}")
            continue
        found = [f"{where}: unknown key {shown(key)} (known: {', '.join(sorted(SAME_AS_KEYS))})" for key in spec if key not in SAME_AS_KEYS]
        found += [f"{where}: missing '{key}'" for key in ("model", "tiers", "source", "reason") if not spec.get(key)]
        tiers = spec.get("tiers")
        if not isinstance(tiers, list) or any(tier not in TIERS for tier in tiers):
            found.append(f"{where}: tiers must be a list of {', '.join(TIERS)}, got {shown(tiers)}")
        target = by_name.get(spec.get("model")) if isinstance(spec.get("model"), str) else None
        if spec.get("model") and target is None:
            found.append(f"{where}: no model {shown(spec.get('model'))} in the book (write <provider>/<model>)")
        elif target is not None and target.same_as is not None:
            found.append(f"{where}: {spec['model']} is itself a same_as entry; name the model it copies")
        if found:
            problems += found
            continue
        note = f"same price as {spec['model']}: {str(spec['reason']).strip()}"
        entry.versions = []
        for version in target.versions:
            if not isinstance(version, dict) or not any(tier in version for tier in tiers):
                continue
            copied = {key: value for key, value in version.items() if key not in TIERS}
            copied |= {tier: version[tier] for tier in tiers if tier in version}
            copied["source"] = spec["source"]
            copied["checked"] = spec.get("checked")
            copied["note"] = f"{note} ({spec['model']} from {version.get('source')}{'; ' + version['note'] if version.get('note') else ''})"
            entry.versions.append({key: value for key, value in copied.items() if value is not None})
        if not entry.versions:
            problems.append(f"{where}: {spec['model']} has no version with a tier of {', '.join(tiers)}")
    return problems
