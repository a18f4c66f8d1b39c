"""Match rules: how a price book model claims the names a gateway logs beyond its id and aliases
(pricing/README.md, "Matching model names"): {starts_with: ...}, {ends_with: ...}, {contains: ...}, {regex: ...}
against the lower-cased name, or {all: [rules]}."""

from __future__ import annotations

import re

from pipelines.settings import shown

MATCH_KINDS = ("starts_with", "ends_with", "contains", "regex", "all")


def rule_matches(rule: dict, lowered_name: str) -> bool:
    """One match rule (see pricing/README.md) against a lower-cased model name."""
    (kind, value), = rule.items()
    if kind == "all":
        return all(rule_matches(part, lowered_name) for part in value)
    if kind == "regex":
        return re.search(value, lowered_name) is not None
    value = value.lower()
    if kind == "starts_with":
        return lowered_name.startswith(value)
    if kind == "ends_with":
        return lowered_name.endswith(value)
    return value in lowered_name


_PROFILES = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "global.", "us-gov.")
"""Bedrock's cross-Region profile prefixes (`us.anthropic.claude-...`)."""
_GOVCLOUD = re.compile(r"^arn:aws-us-gov:|(^|/)us-gov-(west|east)-\d+/")


def wrapped_id(provider: str, name: str) -> str | None:
    """The model id a logged name wraps, or None when it wraps none: the part after the last `/` of an ARN
    (`arn:aws:bedrock:eu-west-1:123:inference-profile/eu.amazon.nova-pro-v1:0`), a route (`bedrock/<id>`,
    `bedrock/us-gov-west-1/<id>`, `openai/gpt-4o`) or a resource path (`publishers/google/models/gemini-2.5-pro`).
    A Bedrock id in AWS GovCloud (an `arn:aws-us-gov:` ARN or a `us-gov-*` Region in the route) is its `us-gov.` id:
    GovCloud bills its own prices, never the US commercial Regions'."""
    if "/" not in name:
        return None
    inner = name.rsplit("/", 1)[1]
    if provider == "aws_bedrock" and _GOVCLOUD.search(name.lower()) and not inner.lower().startswith(_PROFILES):
        inner = "us-gov." + inner
    return inner or None


def regional_bedrock_id(provider: str, inner: str) -> bool:
    """A wrapped Bedrock id whose Region prefix is billed at its own price: only its own entry may price it."""
    return provider == "aws_bedrock" and inner.lower().startswith(_PROFILES) and not inner.lower().startswith(("us.", "global."))


def match_rule_problems(rule: object) -> list[str]:
    """What is wrong with one match rule, e.g. {starts_with: claude-3-5-sonnet} or {all: [...]}."""
    if not isinstance(rule, dict) or len(rule) != 1:
        return [f"a rule is a mapping with one key ({', '.join(MATCH_KINDS)}), got {shown(rule)}"]
    (kind, value), = rule.items()
    if kind not in MATCH_KINDS:
        return [f"unknown rule {shown(kind)} (known: {', '.join(MATCH_KINDS)})"]
    if kind == "all":
        if not isinstance(value, list) or not value:
            return ["'all' needs a non-empty list of rules"]
        return [p for part in value for p in match_rule_problems(part)]
    if not isinstance(value, str) or not value:
        return [f"'{kind}' needs a non-empty string, got {shown(value)}"]
    if kind == "regex":
        try:
            re.compile(value)
        except re.error as exc:
            return [f"regex {shown(value)} does not compile: {exc}"]
    return []
