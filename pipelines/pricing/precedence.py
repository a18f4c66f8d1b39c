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
    """A higher layer wins (LAYERS): drop a lower layer's models named like a higher layer's name of the same provider,
    and such aliases."""
    names: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        names.setdefault((entry.layer, entry.provider), set()).update([entry.model, *entry.aliases])
    kept, shadowed = [], []
    for entry in entries:
        claimed = set().union(*(names.get((layer, entry.provider), set()) for layer in LAYERS[:LAYERS.index(entry.layer)]))
        if entry.model in claimed:
            shadowed.append(f"{entry.file}: {entry.provider}/{entry.model}")
            continue
        entry.aliases = [alias for alias in entry.aliases if alias not in claimed]
        kept.append(entry)
    return kept, shadowed
