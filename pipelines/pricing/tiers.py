"""Model tiers (small / medium / premium) for the routing view.

Rules come from `<home>/model_tiers.yaml` (optional, tried first) and the shipped
`pricing/model_tiers.yaml`. Each rule is `{match: <glob>, tier: small|medium|premium}`; the glob
(`*`, `?`, case-insensitive) is tested against "<provider>/<model>" and against the model name alone,
and the first matching rule wins. Models no rule matches are "unclassified".
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipelines.settings import ConfigError, clipped, read_yaml, shown
from pipelines.storage.home import shipped_dir

TIERS = ("small", "medium", "premium")
UNCLASSIFIED = "unclassified"
TIERS_FILE = "model_tiers.yaml"
RULES_SCHEMA = pa.schema(
    [("rule_order", pa.int64()), ("pattern", pa.string()), ("tier", pa.string()), ("rule_source", pa.string())]
)


class ModelTiersError(ConfigError):
    """A model tiers file is not valid; the message names the file and the rule."""


def shipped_tiers_path() -> Path:
    return shipped_dir("pricing") / TIERS_FILE


def load_tier_rules(home_root: Path) -> pa.Table:
    """Every rule in precedence order: the home's file first, then the shipped defaults."""
    rules: list[dict] = []
    for path, label in ((home_root / TIERS_FILE, TIERS_FILE), (shipped_tiers_path(), f"pricing/{TIERS_FILE}")):
        if path.is_file():
            rules += _read_rules(path, label)
    for order, rule in enumerate(rules, start=1):
        rule["rule_order"] = order
    return pa.Table.from_pylist(rules, schema=RULES_SCHEMA)


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
        if not isinstance(rule, dict) or set(rule) != {"match", "tier"}:
            problems.append(f"{label}: rule {number}: expected exactly the keys match and tier, got {shown(rule)}")
            continue
        match, tier = rule["match"], rule["tier"]
        if not isinstance(match, str) or not match.strip():
            problems.append(f"{label}: rule {number}: match must be a non-empty glob, got {shown(match)}")
        elif tier not in TIERS:
            problems.append(f"{label}: rule {number} ({clipped(match)}): tier must be one of {', '.join(TIERS)}, got {shown(tier)}")
        else:
            rules.append({"pattern": match.strip().lower(), "tier": tier, "rule_source": f"{label}#{number}"})
    if problems:
        raise ModelTiersError("\n".join(problems))
    return rules
