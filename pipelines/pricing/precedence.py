"""Which price-book entry wins a name: the layers of the book, highest first (pricing/README.md)."""

from __future__ import annotations

LAYERS = ("home", "curated", "imported")
"""The home's own `<home>/prices/*.yaml`, the shipped curated `pricing/list/*.yaml`, the imported `pricing/list/imported/*.yaml`."""


def duplicate_models(entries: list) -> list[str]:
    seen: dict[tuple[str, str, str], str] = {}
    problems = []
    for entry in entries:
        key = (entry.layer, entry.provider, entry.model)
        if key in seen:
            problems.append(f"{entry.file}: {entry.provider}/{entry.model}: defined twice (also in {seen[key]})")
        seen.setdefault(key, entry.file)
    return problems


def apply_precedence(entries: list) -> tuple[list, list[str]]:
    """A higher layer wins (LAYERS): drop a lower layer's models named like a name a higher layer keeps for the same
    provider, and such aliases. Only kept entries claim names: a shipped entry the home replaces no longer hides the
    imported entries its aliases hid."""
    claimed: dict[str, set[str]] = {}
    kept, shadowed = set(), []
    for layer in LAYERS:
        names: dict[str, set[str]] = {}
        for entry in (e for e in entries if e.layer == layer):
            taken = claimed.get(entry.provider, set())
            if entry.model in taken:
                shadowed.append(f"{entry.file}: {entry.provider}/{entry.model}")
                continue
            entry.aliases = [alias for alias in entry.aliases if alias not in taken]
            kept.add(id(entry))
            names.setdefault(entry.provider, set()).update([entry.model, *entry.aliases])
        for provider, found in names.items():
            claimed.setdefault(provider, set()).update(found)
    return [entry for entry in entries if id(entry) in kept], shadowed
