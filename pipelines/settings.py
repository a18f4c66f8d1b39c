"""Settings: the TOKENLEDGER_* environment variables, `<home>/settings.yaml`, and the one YAML loader.

Every environment variable tokenledger reads is named here, with its default. `<home>/settings.yaml` may set
`reporting_currency` (default USD) and `reconciliation` tolerances. Every YAML file tokenledger reads (the
price book, overrides, budgets, model tiers, attribution, settings) goes through `load_yaml`, which reads
numbers with a fraction as Decimal, never binary float, and leaves a date that is not a real date as its text
so validation can name it. Each feature keeps its own file and its own validation; this module only reads.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

# -- environment ----------------------------------------------------------------------------------

HOME_ENV = "TOKENLEDGER_HOME"
"""The home folder when --home is not given."""
DEFAULT_HOME = "./data"
LANDING_URL_ENV = "TOKENLEDGER_LANDING_URL"
"""Where gateway landing files live when not under <home>/landing (for example s3://bucket/landing)."""
LAKE_URL_ENV = "TOKENLEDGER_LAKE_URL"
"""Where the lake lives when not at <home>/lake (for example s3://bucket/lake)."""
MEMORY_LIMIT_ENV = "TOKENLEDGER_DUCKDB_MEMORY_LIMIT"
"""DuckDB's memory_limit for the warehouse and for ingestion."""
DEFAULT_MEMORY_LIMIT = "1536MB"
PSEUDONYM_KEY_ENV = "TOKENLEDGER_PSEUDONYM_KEY"
"""The key that pseudonymizes user ids, when not in <home>/secrets/pseudonym.key."""


def env(name: str) -> str | None:
    """A TOKENLEDGER_* variable's value, None when unset or empty."""
    return os.environ.get(name) or None


def memory_limit() -> str:
    """DuckDB's memory_limit: $TOKENLEDGER_DUCKDB_MEMORY_LIMIT, else the default."""
    return env(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT


# -- YAML -----------------------------------------------------------------------------------------


class DecimalLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe YAML loader that reads numbers with a fraction as Decimal, never binary float."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    return Decimal(loader.construct_scalar(node))


def _date_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    """A YAML date, or the text as written when it is not a real date (validation then names it)."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
DecimalLoader.add_constructor("tag:yaml.org,2002:timestamp", _date_or_text)


def load_yaml(path: Path) -> object:
    """Parse one YAML file with money as Decimal; yaml.YAMLError (and UnicodeDecodeError) when it is not YAML."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=DecimalLoader)


def read_yaml(path: Path, error: type[Exception], label: str | None = None) -> object:
    """A YAML file the user wrote, with money as Decimal; `error` naming the file (`label`, else its name) when
    it is not YAML or not UTF-8."""
    try:
        return load_yaml(path)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{label or Path(path).name}: not valid YAML: {exc}") from None


def as_date(value: object) -> dt.date | None:
    """A YAML value as a date (a date, a datetime's day or YYYY-MM-DD text), None when it is none of those."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def as_decimal(value: object) -> Decimal | None:
    """A YAML value as a Decimal (an int, a Decimal or numeric text), None otherwise; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


# -- settings.yaml ----------------------------------------------------------------------------------

SETTINGS_FILE = "settings.yaml"
SETTINGS_KEYS = ("reporting_currency", "reconciliation", "same_call_sources")
GATEWAY_SOURCES = ("envelope", "helicone", "litellm", "otel", "portkey")
"""The gateway sources (the registered gateway formats; a test keeps the two the same)."""
DEFAULT_SAME_CALL_SOURCES = ("litellm", "otel")
"""Gateway sources whose request_id is the provider's own response id (LiteLLM's SpendLogs request_id, OTel's
gen_ai.response.id): one id in two of them is one provider call, counted once from the first listed."""
RECONCILIATION_KEYS = ("tolerance_pct", "tolerance_usd")
DEFAULT_TOLERANCE = (Decimal("1"), Decimal("0.01"))
CURRENCY = re.compile(r"^[A-Z]{3}$")


class SettingsError(ValueError):
    """settings.yaml is not valid; the message names the file and the key."""


def read_settings(home_root: Path) -> dict:
    """<home>/settings.yaml as a mapping ({} when absent); unknown keys are an error naming them."""
    path = Path(home_root) / SETTINGS_FILE
    if not path.is_file():
        return {}
    settings = read_yaml(path, SettingsError) or {}
    unknown = sorted(map(str, set(settings) - set(SETTINGS_KEYS))) if isinstance(settings, dict) else ["(not a mapping)"]
    if unknown:
        raise SettingsError(f"{path.name}: unknown key(s) {', '.join(unknown)} (known: {', '.join(SETTINGS_KEYS)})")
    return settings


def reporting_currency(home_root: Path) -> str:
    """The reporting currency from <home>/settings.yaml, USD when unset."""
    currency = str(read_settings(home_root).get("reporting_currency", "USD"))
    if not CURRENCY.match(currency):
        raise SettingsError(f"{SETTINGS_FILE}: reporting_currency must be an ISO 4217 code like EUR, got {currency!r}")
    return currency


def same_call_sources(home_root: Path) -> list[str]:
    """settings.yaml `same_call_sources`: a list of gateway source names (an empty list turns the rule off);
    DEFAULT_SAME_CALL_SOURCES when unset."""
    settings = read_settings(home_root)
    if "same_call_sources" not in settings:
        return list(DEFAULT_SAME_CALL_SOURCES)
    sources = settings["same_call_sources"]
    if not isinstance(sources, list) or not all(s in GATEWAY_SOURCES for s in sources) or len(set(sources)) != len(sources):
        raise SettingsError(
            f"{SETTINGS_FILE}: same_call_sources must be a list of distinct gateway sources ({', '.join(GATEWAY_SOURCES)}), "
            f"got {str(sources)[:80]}"
        )
    return sources


def reconciliation_tolerance(home_root: Path) -> tuple[Decimal, Decimal]:
    """(percent, dollars) from settings.yaml `reconciliation:`; a day matches within the larger of the two."""
    section = read_settings(home_root).get("reconciliation") or {}
    if not isinstance(section, dict) or set(section) - set(RECONCILIATION_KEYS):
        raise SettingsError(f"{SETTINGS_FILE}: reconciliation takes only {', '.join(RECONCILIATION_KEYS)}, got {section!r}")
    values = []
    for key, default in zip(RECONCILIATION_KEYS, DEFAULT_TOLERANCE):
        raw = section.get(key, default)
        value = as_decimal(raw if isinstance(raw, (int, Decimal)) else str(raw))
        if value is None or not value.is_finite() or value < 0:
            raise SettingsError(f"{SETTINGS_FILE}: reconciliation.{key} must be a non-negative number, got {raw!r}")
        values.append(value)
    return values[0], values[1]
