"""Where each gateway format keeps the attribution dimensions (feature, user, segment, customer, conversation).

The mapping is read from `<home>/attribution.yaml`; without that file the defaults below apply. For each
dimension it is an ordered list of keys, the first one present (and not blank) wins:

- `otel`: span or resource attribute names; for one key the span attribute wins over the resource's.
- `litellm`: `tag:<name>` (a `request_tags` entry `<name>:<value>`), `metadata.<path>` (a dotted path
  into the SpendLogs `metadata` JSON), or a SpendLogs column name (see LITELLM_COLUMNS).

A request whose feature is found nowhere gets `unattributed`; it is never dropped. See
docs/formats/otel.md and docs/formats/litellm.md for the file format.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from pipelines.settings import load_yaml

FILE_NAME = "attribution.yaml"
FIELDS = ("feature", "user_id", "user_segment", "customer_id", "conversation_id")
UNATTRIBUTED = "unattributed"

# SpendLogs columns that may name an attribution value. Content columns (messages, response,
# proxy_server_request) and money/token columns are deliberately not among them.
LITELLM_COLUMNS = (
    "end_user", "user", "team_id", "organization_id", "session_id", "agent_id", "api_key",
    "model_group", "call_type", "mcp_namespaced_tool_name",
)

# Attributes that hold prompt or response text: never usable as an attribution key.
OTEL_CONTENT_ATTRIBUTES = (
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.prompt",
    "gen_ai.completion", "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
)

_KEY = re.compile(r"^[A-Za-z0-9_.:/@-]+$")


class AttributionConfigError(ValueError):
    """attribution.yaml is not valid; the message names the file and the key."""


@dataclass(frozen=True)
class FieldKeys:
    """For one source format: the ordered keys to try for each attribution dimension."""

    feature: tuple[str, ...]
    user_id: tuple[str, ...]
    user_segment: tuple[str, ...]
    customer_id: tuple[str, ...]
    conversation_id: tuple[str, ...]

    def keys(self, field: str) -> tuple[str, ...]:
        return getattr(self, field)

    def replace(self, **changes: tuple[str, ...]) -> "FieldKeys":
        return FieldKeys(**{f.name: changes.get(f.name, getattr(self, f.name)) for f in fields(self)})


_OTEL_DEFAULT = FieldKeys(
    feature=("app.feature", "feature", "gen_ai.agent.name"),
    user_id=("enduser.id", "user.id", "user_id"),
    user_segment=("app.user_segment", "user_segment"),
    customer_id=("app.customer_id", "customer_id", "tenant.id"),
    conversation_id=("gen_ai.conversation.id", "session.id"),
)

# LiteLLM keeps only a fixed set of keys in SpendLogs.metadata; values a caller passes per request
# land in metadata.spend_logs_metadata, so that path comes before the flat metadata key.
_LITELLM_DEFAULT = FieldKeys(
    feature=("tag:feature", "metadata.spend_logs_metadata.feature", "metadata.feature"),
    user_id=("tag:user_id", "metadata.spend_logs_metadata.user_id", "metadata.user_api_key_end_user_id", "end_user"),
    user_segment=("tag:user_segment", "metadata.spend_logs_metadata.user_segment", "metadata.user_segment"),
    customer_id=(
        "tag:customer_id", "metadata.spend_logs_metadata.customer_id", "metadata.customer_id",
        "metadata.user_api_key_team_alias", "team_id",
    ),
    conversation_id=("tag:conversation_id", "metadata.spend_logs_metadata.conversation_id", "session_id"),
)


@dataclass(frozen=True)
class AttributionConfig:
    """The attribution keys for every gateway format that needs them, and where they came from."""

    otel: FieldKeys
    litellm: FieldKeys
    origin: str = "defaults"
    helicone: FieldKeys | None = None
    portkey: FieldKeys | None = None

    @classmethod
    def default(cls) -> "AttributionConfig":
        return cls(otel=_OTEL_DEFAULT, litellm=_LITELLM_DEFAULT)

    @classmethod
    def load(cls, home_root: Path) -> "AttributionConfig":
        """`<home_root>/attribution.yaml` over the defaults; the defaults alone when the file is absent."""
        path = Path(home_root) / FILE_NAME
        if not path.is_file():
            return cls.default()
        try:
            document = load_yaml(path)
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise AttributionConfigError(f"{path}: not valid YAML: {error}") from error
        return cls.from_mapping(document, origin=str(path))

    @classmethod
    def from_mapping(cls, document: object, origin: str = "attribution.yaml") -> "AttributionConfig":
        """Validate a parsed attribution document; a dimension given replaces its default list."""
        if document is None:
            return cls(otel=_OTEL_DEFAULT, litellm=_LITELLM_DEFAULT, origin=origin)
        if not isinstance(document, dict):
            raise AttributionConfigError(f"{origin}: expected a mapping with keys otel and/or litellm, found {_kind(document)}")
        defaults = {"otel": _OTEL_DEFAULT, "litellm": _LITELLM_DEFAULT}
        unknown = [str(k) for k in document if k not in (*defaults, *ADAPTER_DEFAULTS)]
        if unknown:
            raise AttributionConfigError(
                f"{origin}: unknown key '{unknown[0]}' (expected one of: otel, litellm, {', '.join(ADAPTER_DEFAULTS)})"
            )
        defaults |= {source: _adapter_defaults(source) for source in ADAPTER_DEFAULTS if source in document}
        chosen = {}
        for source, base in defaults.items():
            section = document.get(source)
            if section is None:
                chosen[source] = base
                continue
            if not isinstance(section, dict):
                raise AttributionConfigError(f"{origin}: '{source}' must be a mapping of dimension to a list of keys, found {_kind(section)}")
            bad = [str(k) for k in section if k not in FIELDS]
            if bad:
                raise AttributionConfigError(
                    f"{origin}: unknown key '{source}.{bad[0]}' (expected one of: {', '.join(FIELDS)})"
                )
            chosen[source] = base.replace(
                **{field: _keys(origin, source, field, value) for field, value in section.items()}
            )
        return cls(
            otel=chosen["otel"],
            litellm=chosen["litellm"],
            origin=origin,
            helicone=chosen.get("helicone"),
            portkey=chosen.get("portkey"),
        )


ADAPTER_DEFAULTS = ("helicone", "portkey")
"""Formats whose default keys live in their adapter module (which also checks each key)."""


def _adapter_defaults(source: str) -> FieldKeys:
    return importlib.import_module(f"pipelines.adapters.{source}").DEFAULT_KEYS


def _keys(origin: str, source: str, field: str, value: object) -> tuple[str, ...]:
    where = f"{origin}: '{source}.{field}'"
    if not isinstance(value, list):
        raise AttributionConfigError(f"{where} must be a list of keys, found {_kind(value)}")
    keys = []
    for item in value:
        if not isinstance(item, str) or not _KEY.match(item):
            raise AttributionConfigError(
                f"{where} has an invalid key {item!r} (letters, digits and _ . : / @ - only)"
            )
        if source == "otel" and item in OTEL_CONTENT_ATTRIBUTES:
            raise AttributionConfigError(f"{where} names '{item}', which holds prompt or response text")
        if source == "litellm":
            _check_litellm_key(where, item)
        keys.append(item)
    return tuple(keys)


def _check_litellm_key(where: str, key: str) -> None:
    if key.startswith("tag:"):
        if len(key) == len("tag:"):
            raise AttributionConfigError(f"{where} has an empty tag name in 'tag:'")
        return
    if key.startswith("metadata."):
        if any(part == "" for part in key.split(".")[1:]):
            raise AttributionConfigError(f"{where} has an empty path segment in '{key}'")
        return
    if key not in LITELLM_COLUMNS:
        raise AttributionConfigError(
            f"{where} has unknown key '{key}' (expected tag:<name>, metadata.<path> or one of the columns "
            f"{', '.join(LITELLM_COLUMNS)})"
        )


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def sql_string(value: str) -> str:
    """A SQL string literal for `value` (keys are validated, this is belt and braces)."""
    return "'" + value.replace("'", "''") + "'"
