"""Where each gateway format keeps the attribution dimensions (feature, user, segment, customer, conversation).

The mapping is read from `<home>/attribution.yaml`; without that file the defaults below apply. For each
dimension it is an ordered list of keys, the first one present (and not blank) wins:

- `otel`: span or resource attribute names; for one key the span attribute wins over the resource's.
- `litellm`: `tag:<name>` (a `request_tags` entry `<name>:<value>`), `metadata.<path>` (a dotted path
  into the SpendLogs `metadata` JSON), or a SpendLogs column name (see LITELLM_COLUMNS).
- `helicone`: `properties.<name>` (a key of the `properties` map) or a column (HELICONE_COLUMNS).
- `portkey`: `metadata.<key>` (a key of the log's `metadata`) or a field (PORTKEY_COLUMNS).

Two more dimensions, `experiment` and `variant` (TAG_FIELDS), are found the same way and written into the
request's `tags` under those names, where the experiment marts read them (docs/experiments.md).

A request whose feature is found nowhere gets `unattributed`; it is never dropped. Each format's key
syntax (KEY_SYNTAX) is checked when the file is read (LiteLLM) or when the adapter takes the keys
(`keys_for`). See docs/formats/ for each format.

User ids are pseudonymized, tags are not: every adapter passes its `tags` through `without_user_keys`, which
drops each top-level key any format's user_id keys name (`user_keys`), so a raw user id never rides along in
tags.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

from pipelines.settings import clipped, read_yaml, shown

FILE_NAME = "attribution.yaml"
FIELDS = ("feature", "user_id", "user_segment", "customer_id", "conversation_id")
TAG_FIELDS = ("experiment", "variant")
"""Dimensions found like the others but written into `tags` under their own name (`tags.experiment`,
`tags.variant`), where the experiment marts read them; a request without them keeps its tags as they are."""
ALL_FIELDS = (*FIELDS, *TAG_FIELDS)
UNATTRIBUTED = "unattributed"

# SpendLogs columns that may name an attribution value. Content columns (messages, response,
# proxy_server_request) and money/token columns are deliberately not among them.
LITELLM_COLUMNS = (
    "end_user", "user", "team_id", "organization_id", "session_id", "agent_id", "api_key",
    "model_group", "call_type", "mcp_namespaced_tool_name",
)

# Helicone `request_response_rmt` and Portkey export columns that may name an attribution value: no
# content, money or token column is among them.
HELICONE_COLUMNS = ("user_id", "organization_id", "proxy_key_id")
PORTKEY_COLUMNS = ("trace_id", "prompt_slug")

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
    experiment: tuple[str, ...] = ()
    variant: tuple[str, ...] = ()

    def keys(self, field: str) -> tuple[str, ...]:
        return getattr(self, field)

    def replace(self, **changes: tuple[str, ...]) -> "FieldKeys":
        return FieldKeys(**{f.name: changes.get(f.name, getattr(self, f.name)) for f in fields(self)})


@dataclass(frozen=True)
class KeyPrefix:
    """Keys `<prefix><rest>`, where `rest` names a value inside one of the format's JSON columns: one key, or a dotted path."""

    prefix: str
    shape: str
    """How the key is written in messages, e.g. `properties.<name>`."""
    empty: str
    """What an empty `rest` is called in messages, e.g. `an empty property name`."""
    dotted: bool = False


@dataclass(frozen=True)
class KeySyntax:
    """The keys one format accepts: prefixed keys, or the name of a column that may hold an attribution value."""

    prefixes: tuple[KeyPrefix, ...]
    columns: tuple[str, ...]

    def prefix_of(self, key: str) -> KeyPrefix | None:
        return next((p for p in self.prefixes if key.startswith(p.prefix)), None)

    def check(self, where: str, key: str) -> None:
        """Raise AttributionConfigError unless `key` is a well-formed prefixed key or one of the columns."""
        prefix = self.prefix_of(key)
        if prefix is not None:
            rest = key[len(prefix.prefix) :]
            if rest == "" or (prefix.dotted and "" in rest.split(".")):
                raise AttributionConfigError(f"{where} has {prefix.empty} in '{key}'")
        elif key not in self.columns:
            shapes = ", ".join(p.shape for p in self.prefixes)
            raise AttributionConfigError(
                f"{where} has unknown key '{key}' (expected {shapes} or one of the columns {', '.join(self.columns)})"
            )


KEY_SYNTAX = {
    "litellm": KeySyntax(
        (KeyPrefix("tag:", "tag:<name>", "an empty tag name"),
         KeyPrefix("metadata.", "metadata.<path>", "an empty path segment", dotted=True)),
        LITELLM_COLUMNS,
    ),
    "helicone": KeySyntax((KeyPrefix("properties.", "properties.<name>", "an empty property name"),), HELICONE_COLUMNS),
    "portkey": KeySyntax((KeyPrefix("metadata.", "metadata.<key>", "an empty metadata key"),), PORTKEY_COLUMNS),
}
"""The attribution key syntax of the formats whose keys name JSON keys or columns (OTel keys are attribute names)."""


_OTEL_DEFAULT = FieldKeys(
    feature=("app.feature", "feature", "gen_ai.agent.name"),
    user_id=("enduser.id", "user.id", "user_id"),
    user_segment=("app.user_segment", "user_segment"),
    customer_id=("app.customer_id", "customer_id", "tenant.id"),
    conversation_id=("gen_ai.conversation.id", "session.id"),
    experiment=("app.experiment", "experiment"),
    variant=("app.variant", "variant"),
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
    experiment=("tag:experiment", "metadata.spend_logs_metadata.experiment"),
    variant=("tag:variant", "metadata.spend_logs_metadata.variant"),
)

# Helicone: `properties.<name>` is a custom property (a `Helicone-Property-<Name>` header).
HELICONE_DEFAULTS = FieldKeys(
    feature=("properties.feature",),
    user_id=("user_id",),
    user_segment=("properties.user_segment",),
    customer_id=("properties.customer_id",),
    conversation_id=("properties.Helicone-Session-Id",),
    experiment=("properties.experiment",),
    variant=("properties.variant",),
)

# Portkey: `metadata.<key>` comes from the `x-portkey-metadata` header; `_user` is Portkey's reserved user key.
PORTKEY_DEFAULTS = FieldKeys(
    feature=("metadata.feature", "metadata.team"),
    user_id=("metadata._user",),
    user_segment=("metadata.user_segment",),
    customer_id=("metadata.customer_id",),
    conversation_id=("metadata.conversation_id", "trace_id"),
    experiment=("metadata.experiment",),
    variant=("metadata.variant",),
)

SECTION_DEFAULTS = {"helicone": HELICONE_DEFAULTS, "portkey": PORTKEY_DEFAULTS}
"""Formats whose AttributionConfig section stays None unless the file gives one; their adapters then use these."""


@dataclass(frozen=True)
class AttributionConfig:
    """The attribution keys for every gateway format that needs them, and where they came from."""

    otel: FieldKeys
    litellm: FieldKeys
    origin: str = "defaults"
    helicone: FieldKeys | None = None
    portkey: FieldKeys | None = None
    providers: tuple[tuple[str, str], ...] = ()
    """`providers:` in attribution.yaml: provider names a gateway writes → ours or `self_hosted:<cluster>`
    (`ollama: self_hosted:gpu-a`), for every gateway format beside its own names; lower-cased names."""

    @classmethod
    def default(cls) -> "AttributionConfig":
        return cls(otel=_OTEL_DEFAULT, litellm=_LITELLM_DEFAULT)

    @classmethod
    def load(cls, home_root: Path) -> "AttributionConfig":
        """`<home_root>/attribution.yaml` over the defaults; the defaults alone when the file is absent."""
        path = Path(home_root) / FILE_NAME
        if not os.path.lexists(path):
            return cls.default()
        return cls.from_mapping(read_yaml(path, AttributionConfigError, label=str(path)), origin=str(path))

    @classmethod
    def from_mapping(cls, document: object, origin: str = "attribution.yaml") -> "AttributionConfig":
        """Validate a parsed attribution document; a dimension given replaces its default list."""
        if document is None:
            return cls(otel=_OTEL_DEFAULT, litellm=_LITELLM_DEFAULT, origin=origin)
        if not isinstance(document, dict):
            raise AttributionConfigError(f"{origin}: expected a mapping with keys otel and/or litellm, found {_kind(document)}")
        defaults = {"otel": _OTEL_DEFAULT, "litellm": _LITELLM_DEFAULT}
        unknown = [str(k) for k in document if k not in (*defaults, *SECTION_DEFAULTS, "providers")]
        if unknown:
            raise AttributionConfigError(
                f"{origin}: unknown key '{unknown[0]}' (expected one of: otel, litellm, {', '.join(SECTION_DEFAULTS)}, providers)"
            )
        providers = _providers(origin, document.get("providers"))
        defaults |= {source: keys for source, keys in SECTION_DEFAULTS.items() if source in document}
        chosen = {}
        for source, base in defaults.items():
            section = document.get(source)
            if section is None:
                chosen[source] = base
                continue
            if not isinstance(section, dict):
                raise AttributionConfigError(f"{origin}: '{source}' must be a mapping of dimension to a list of keys, found {_kind(section)}")
            bad = [str(k) for k in section if k not in ALL_FIELDS]
            if bad:
                raise AttributionConfigError(
                    f"{origin}: unknown key '{source}.{bad[0]}' (expected one of: {', '.join(ALL_FIELDS)})"
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
            providers=providers,
        )


OUR_PROVIDERS = ("openai", "azure_openai", "anthropic", "google", "aws_bedrock", "mistral", "deepseek", "xai")
_SELF_HOSTED = re.compile(r"^self_hosted:[A-Za-z0-9_.-]+$")


def _providers(origin: str, section: object) -> tuple[tuple[str, str], ...]:
    """`providers:`: a mapping of provider name → one of ours or self_hosted:<cluster>."""
    if section is None:
        return ()
    if not isinstance(section, dict):
        raise AttributionConfigError(f"{origin}: 'providers' must be a mapping of provider name to ours, found {_kind(section)}")
    mapped = []
    for name, ours in section.items():
        if not isinstance(name, str) or not name.strip():
            raise AttributionConfigError(f"{origin}: 'providers' has a name that is not text: {shown(name)}")
        if not isinstance(ours, str) or not (ours in OUR_PROVIDERS or _SELF_HOSTED.fullmatch(ours)):
            raise AttributionConfigError(
                f"{origin}: 'providers.{clipped(name)}' must be one of {', '.join(OUR_PROVIDERS)} or self_hosted:<cluster>, "
                f"found {shown(ours)}"
            )
        mapped.append((name.strip().lower(), ours))
    return tuple(sorted(dict(mapped).items()))


def keys_for(source: str, attribution: object | None) -> FieldKeys:
    """The keys `attribution` gives `source` (any object with that attribute), else its defaults; each key is
    checked against the format's syntax, since an object not read from a file has not been checked."""
    defaults = SECTION_DEFAULTS.get(source) or getattr(AttributionConfig.default(), source)
    keys = getattr(attribution, source, None) or defaults
    for field in ALL_FIELDS:
        for key in keys.keys(field):
            KEY_SYNTAX[source].check(f"'{source}.{field}'", key)
    return keys


ENVELOPE_USER_KEYS = ("user_id",)
"""The envelope's own user field."""


def user_keys(attribution: object | None = None) -> tuple[str, ...]:
    """Every key name that holds a user id, lower-cased: what the defaults and `attribution` name user_id in any
    format, without its prefix (`tag:user_id` and `properties.user_id` name `user_id`, `metadata.a.b` names
    `a.b` and `b`; a column or an OTel attribute is its own name), and the envelope's `user_id`."""
    names = list(ENVELOPE_USER_KEYS)
    defaults = AttributionConfig.default()
    for source in ("otel", "litellm", *SECTION_DEFAULTS):
        base = SECTION_DEFAULTS.get(source) or getattr(defaults, source)
        given = getattr(attribution, source, None)
        for key in (*base.user_id, *(given.user_id if given is not None else ())):
            prefix = KEY_SYNTAX[source].prefix_of(key) if source in KEY_SYNTAX else None
            rest = key[len(prefix.prefix) :] if prefix is not None else key
            names.append(rest)
            if prefix is not None and prefix.dotted:
                names.append(rest.rsplit(".", 1)[-1])
    return tuple(dict.fromkeys(name.lower() for name in names if name))


def without_user_keys(tags: str, names: tuple[str, ...]) -> str:
    """SQL: the JSON object `tags` without its top-level keys whose name is one of `names` (`user_keys`, matched
    case-insensitively); anything else unchanged, null stays null. The one rule every adapter scrubs tags with."""
    if not names:
        return tags
    listed = ", ".join(sql_string(name) for name in names)
    found = f"list_filter(json_keys({tags}), lambda k: lower(k) in ({listed}))"
    # Cheap first look at the text: no name in quotes and no escape (which could spell one) means no such key.
    maybe = sql_string('(?i)"(' + "|".join(re.escape(name) for name in names) + ')"')
    text = f"cast({tags} as varchar)"
    return (
        f"case when not regexp_matches({text}, {maybe}) and not contains({text}, '\\') then {tags} "
        f"when len({found}) > 0 then json_merge_patch({tags}, "
        f"('{{' || array_to_string(list_transform({found}, lambda k: cast(to_json(k) as varchar) || ':null'), ',') || '}}')::json) "
        f"else {tags} end"
    )


def _keys(origin: str, source: str, field: str, value: object) -> tuple[str, ...]:
    where = f"{origin}: '{source}.{field}'"
    if not isinstance(value, list):
        raise AttributionConfigError(f"{where} must be a list of keys, found {_kind(value)}")
    keys = []
    for item in value:
        if not isinstance(item, str) or not _KEY.fullmatch(item):
            raise AttributionConfigError(
                f"{where} has an invalid key {item!r} (letters, digits and _ . : / @ - only)"
            )
        if source == "otel" and item in OTEL_CONTENT_ATTRIBUTES:
            raise AttributionConfigError(f"{where} names '{item}', which holds prompt or response text")
        if source == "litellm":
            KEY_SYNTAX[source].check(where, item)
        keys.append(item)
    return tuple(keys)


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def sql_string(value: str) -> str:
    """A SQL string literal for `value` (keys are validated, this is belt and braces)."""
    return "'" + value.replace("'", "''") + "'"
