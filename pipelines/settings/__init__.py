"""Settings: the TOKENLEDGER_* environment variables and `<home>/settings.yaml`; the one YAML loader is
`pipelines.settings.yaml_files` (`load_yaml`, named here too).

Every environment variable tokenledger reads is named here, with its default. `<home>/settings.yaml` may set
`reporting_currency` (default USD) and `reconciliation` tolerances. Each feature keeps its own file and its own
validation (errors name the file, the key and the value, `shown` short); this package only reads.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path

from pipelines.settings.yaml_files import (  # noqa: F401  (the loader and message helpers are used from here)
    MAX_CONFIG_BYTES,
    MAX_YAML_ALIAS_VALUES,
    MAX_YAML_ALIASES,
    SHOWN_CHARS,
    ConfigFileError,
    DecimalLoader,
    clipped,
    listed,
    load_yaml,
    problems_text,
    read_yaml,
    shown,
    shown_kind,
    unique_keys,
    yaml_problem,
)

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
MAX_LINE_BYTES_ENV = "TOKENLEDGER_MAX_LINE_BYTES"
"""The longest landed line ingestion reads, in bytes (decompressed); a longer line is rejected unread. It bounds
ingestion's memory: no more than a few times this is held for one line, whatever the file holds."""
DEFAULT_MAX_LINE_BYTES = 16 * 2**20
INGEST_WORKERS_ENV = "TOKENLEDGER_INGEST_WORKERS"
"""How many landed gateway files are ingested at once (1 to 16), sharing `memory_limit` between them. DuckDB already
reads one file on every core (a gzip file's inflating is the serial part), so on 2 cores two at once gained nothing
and took half as much memory again (benchmarks/README.md); for machines with many cores."""
DEFAULT_INGEST_WORKERS = 1


def env(name: str) -> str | None:
    """A TOKENLEDGER_* variable's value, None when unset or empty."""
    return os.environ.get(name) or None


def memory_limit() -> str:
    """DuckDB's memory_limit: $TOKENLEDGER_DUCKDB_MEMORY_LIMIT, else the default."""
    return env(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT


def max_line_bytes() -> int:
    """The longest line ingestion reads: $TOKENLEDGER_MAX_LINE_BYTES (a whole number of bytes in ASCII digits, at
    least 1024), else 16 MiB; ConfigError naming the variable when it is not one."""
    raw = env(MAX_LINE_BYTES_ENV)
    if raw is None:
        return DEFAULT_MAX_LINE_BYTES
    value = int(raw) if re.fullmatch(r"[ \t]*[0-9]{1,15}[ \t]*", raw) else 0
    if value < 1024:
        raise ConfigError(f"{MAX_LINE_BYTES_ENV} must be a whole number of bytes of at least 1024, got {raw[:SHOWN_CHARS]!r}")
    return value


def ingest_workers() -> int:
    """$TOKENLEDGER_INGEST_WORKERS, else 1; ConfigError naming the variable when it is not a whole number from 1 to 16
    in ASCII digits (int() would also take other scripts' digits and underscores)."""
    raw = env(INGEST_WORKERS_ENV)
    if raw is None:
        return DEFAULT_INGEST_WORKERS
    if not re.fullmatch(r"[ \t]*[0-9]{1,2}[ \t]*", raw) or not 1 <= int(raw) <= 16:
        raise ConfigError(f"{INGEST_WORKERS_ENV} must be a whole number from 1 to 16, got {raw[:SHOWN_CHARS]!r}")
    return int(raw)


class ConfigError(ValueError):
    """A file the user wrote (settings, price overrides, budgets, model tiers, the price book) is not valid; the
    message names the file, the key and the value, and is shown to the user as it is."""


def as_date(value: object) -> dt.date | None:
    """A YAML value as a date (a date or YYYY-MM-DD text), None when it is neither. A date and time is not one: its
    day depends on the zone it is read in (`2026-11-29T23:00:00-05:00` is the 30th in UTC), so it is refused, as is
    text Python's ISO reader also takes (`20261129`, `2026-W48-7`) or a trailing newline."""
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def as_decimal(value: object) -> Decimal | None:
    """A YAML value as a finite Decimal (an int, a Decimal or numeric text), None otherwise; booleans are not
    numbers, and neither are .nan and .inf."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, str) and len(value) <= 1000:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def as_number(value: object) -> Decimal | None:
    """A YAML number (an int or a Decimal, not text) as a finite Decimal, None otherwise; booleans are not numbers,
    and neither are .nan and .inf."""
    return as_decimal(value) if isinstance(value, (int, Decimal)) else None


# The most a price per 1M tokens (or fee) and a chargeback markup (percent) may be: an absurd 10^28 fits DECIMAL(38, 9)
# but overflowed the costs' DECIMAL(38, 15) in the middle of a run, naming no file
MAX_PER_MTOK, MAX_MARKUP_PCT = Decimal(1_000_000), Decimal(1_000_000)

def fits_decimal(value: Decimal, places: int = 9) -> bool:
    """True when the warehouse's DECIMAL(38, places) holds `value` exactly: less than 10^(38 - places) and no more
    than `places` decimals."""
    if not value.is_finite() or value.copy_abs() >= Decimal(10) ** (38 - places):
        return False
    return value == value.quantize(Decimal(1).scaleb(-places), context=_WIDE)


_WIDE = Context(prec=80)
"""Wide enough to quantize any value DECIMAL(38, n) could hold without rounding."""


# -- settings.yaml ----------------------------------------------------------------------------------

SETTINGS_FILE = "settings.yaml"
SETTINGS_KEYS = ("reporting_currency", "reconciliation", "same_call_sources", "pue", "clusters")
GATEWAY_SOURCES = ("envelope", "helicone", "litellm", "otel", "portkey")
"""The gateway sources (the registered gateway formats; a test keeps the two the same)."""
DEFAULT_SAME_CALL_SOURCES = ("litellm", "otel")
"""Gateway sources whose request_id is the provider's own response id (LiteLLM's SpendLogs request_id, OTel's
gen_ai.response.id): one id in two of them is one provider call, counted once from the first listed."""
RECONCILIATION_KEYS = ("tolerance_pct", "tolerance_usd")
DEFAULT_TOLERANCE = (Decimal("1"), Decimal("0.01"))
CURRENCY = re.compile(r"^[A-Z]{3}$")


class SettingsError(ConfigError):
    """settings.yaml is not valid; the message names the file and the key."""


def read_settings(home_root: Path) -> dict:
    """<home>/settings.yaml as a mapping ({} when absent); unknown keys are an error naming them."""
    path = Path(home_root) / SETTINGS_FILE
    if not os.path.lexists(path):
        return {}
    settings = read_yaml(path, SettingsError)
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise SettingsError(f"{path.name}: expected a mapping of settings ({', '.join(SETTINGS_KEYS)}), got {shown(settings)}")
    unknown = sorted(str(key) for key in settings if key not in SETTINGS_KEYS)
    if unknown:
        raise SettingsError(f"{path.name}: unknown key(s) {listed(unknown)} (known: {', '.join(SETTINGS_KEYS)})")
    return settings


def reporting_currency(home_root: Path) -> str:
    """The reporting currency from <home>/settings.yaml, USD when unset."""
    currency = read_settings(home_root).get("reporting_currency", "USD")
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        raise SettingsError(f"{SETTINGS_FILE}: reporting_currency must be an ISO 4217 code like EUR, got {shown(currency)}")
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
        raise SettingsError(f"{SETTINGS_FILE}: reconciliation takes only {', '.join(RECONCILIATION_KEYS)}, got {shown(section)}")
    values = []
    for key, default in zip(RECONCILIATION_KEYS, DEFAULT_TOLERANCE):
        raw = section.get(key, default)
        value = as_decimal(raw)
        if value is None or value < 0 or not fits_decimal(value, 15) or (key == "tolerance_pct" and value > 100):
            what = "a percentage from 0 to 100" if key == "tolerance_pct" else "a non-negative number"
            raise SettingsError(f"{SETTINGS_FILE}: reconciliation.{key} must be {what}, got {shown(raw)}")
        values.append(value)
    return values[0], values[1]


DEFAULT_PUE = Decimal("1.2")
"""Power usage effectiveness when settings.yaml gives none: facility energy / IT energy of a typical data centre."""
CLUSTER_KEYS = ("region", "pue")
CLUSTER_NAME = re.compile(r"^[a-z0-9_.-]+$")
REGION_CHARS = 64


def _pue(raw: object, where: str) -> Decimal:
    value = as_decimal(raw)
    if value is None or not Decimal(1) <= value <= Decimal(5) or not fits_decimal(value, 9):
        raise SettingsError(f"{SETTINGS_FILE}: {where} must be a number from 1 to 5 (facility energy / IT energy), got {shown(raw)}")
    return value


def energy_settings(home_root: Path) -> tuple[Decimal, list[dict]]:
    """(default PUE, one {cluster, region, pue} per cluster) from settings.yaml `pue:` and `clusters:`.

    `clusters: {<cluster>: {region: <grid region of landing/carbon>, pue: <number>}}`; a cluster without its own pue
    uses the default (`pue:`, else DEFAULT_PUE). Regions are compared lower-case, as landing/carbon stores them."""
    settings = read_settings(home_root)
    default = _pue(settings["pue"], "pue") if "pue" in settings else DEFAULT_PUE
    section = settings.get("clusters") or {}
    if not isinstance(section, dict):
        raise SettingsError(f"{SETTINGS_FILE}: clusters must map each cluster name to {{region: ..., pue: ...}}, got {shown(section)}")
    clusters = []
    for name, entry in section.items():
        if not isinstance(name, str) or not CLUSTER_NAME.fullmatch(name):
            raise SettingsError(f"{SETTINGS_FILE}: clusters: {shown(name)} is not a cluster name (lower-case letters, digits, _ . -)")
        if not isinstance(entry, dict) or set(entry) - set(CLUSTER_KEYS):
            raise SettingsError(f"{SETTINGS_FILE}: clusters.{name} takes only {', '.join(CLUSTER_KEYS)}, got {shown(entry)}")
        region = entry.get("region")
        if region is not None and (not isinstance(region, str) or not region.strip() or len(region) > REGION_CHARS):
            raise SettingsError(f"{SETTINGS_FILE}: clusters.{name}.region must be a region name like us-east-1, got {shown(region)}")
        pue = _pue(entry["pue"], f"clusters.{name}.pue") if "pue" in entry else default
        clusters.append({"cluster": name, "region": region.strip().lower() if region else None, "pue": pue})
    return default, clusters


def check_settings(home_root: Path) -> None:
    """Read every setting in <home>/settings.yaml as a run will; SettingsError names the first bad one."""
    reporting_currency(home_root)
    reconciliation_tolerance(home_root)
    same_call_sources(home_root)
    energy_settings(home_root)
