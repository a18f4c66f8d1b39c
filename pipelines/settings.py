"""Settings: the TOKENLEDGER_* environment variables, `<home>/settings.yaml`, and the one YAML loader.

Every environment variable tokenledger reads is named here, with its default. `<home>/settings.yaml` may set
`reporting_currency` (default USD) and `reconciliation` tolerances. Every YAML file tokenledger reads (the
price book, overrides, budgets, model tiers, attribution, settings) goes through `load_yaml`, which reads
numbers with a fraction as Decimal, never binary float, and leaves a date that is not a real date as its text
so validation can name it. It refuses, before building any value, a file bigger than 1 MiB, one that is not UTF-8
text, and one whose aliases (`*name`) pass 100 or stand for more than 100,000 values. Each feature keeps its own
file and its own validation (errors name the file, the key and the value, `shown` short); this module only reads.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import stat
from decimal import Context, Decimal, InvalidOperation
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


# -- YAML -----------------------------------------------------------------------------------------

MAX_CONFIG_BYTES = 2**20
"""The largest YAML file tokenledger reads: 1 MiB. A bigger one is refused unread."""
MAX_YAML_ALIASES = 100
"""The most aliases (`*name`) one YAML file may use; anchors (`&name`) alone are free."""
MAX_YAML_ALIAS_VALUES = 100_000
"""The most values the aliases of one YAML file may add to it, all together (an alias of a mapping adds every
key and value in it, an alias of an alias what that one adds): a few aliases of aliases cannot turn a small
file into billions of values."""
SHOWN_CHARS = 80
"""The longest a value from a file is shown in an error message."""


class ConfigError(ValueError):
    """A file the user wrote (settings, price overrides, budgets, model tiers, the price book) is not valid; the
    message names the file, the key and the value, and is shown to the user as it is."""


class ConfigFileError(yaml.YAMLError):
    """A YAML file refused before any of its values is built: bigger than MAX_CONFIG_BYTES, not readable, not
    UTF-8 text, not YAML (`syntax`), or aliases beyond MAX_YAML_ALIASES or MAX_YAML_ALIAS_VALUES. The message
    says why without naming the file: `yaml_problem` puts the file in front."""

    def __init__(self, reason: str, syntax: bool = False):
        super().__init__(reason)
        self.syntax = syntax


class DecimalLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe YAML loader that reads numbers with a fraction as Decimal, never binary float."""


_SPECIAL_FLOATS = {".nan": "NaN", ".inf": "Infinity", "+.inf": "Infinity", "-.inf": "-Infinity"}


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    """A YAML float as Decimal; .nan and .inf as Decimal NaN and Infinity (which every check refuses), and a float
    Decimal cannot read (sexagesimal 1:30.5) as its text, so validation names it."""
    text = loader.construct_scalar(node)
    try:
        return Decimal(_SPECIAL_FLOATS.get(text.lower()) or text.replace("_", ""))
    except InvalidOperation:
        return text


def _date_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    """A YAML date, or the text as written when it is not a real date (validation then names it)."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
DecimalLoader.add_constructor("tag:yaml.org,2002:timestamp", _date_or_text)


class _Named(io.StringIO):
    """The file's text under the file's name, which the parser puts in its messages (`in "budgets.yaml", line 3`)."""

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self.name = name


def load_yaml(path: Path) -> object:
    """Parse one YAML file with money as Decimal; ConfigFileError (a yaml.YAMLError) when it is bigger than 1 MiB,
    not UTF-8 text, not YAML, or uses aliases beyond the limits. The size and the aliases are checked on the
    parsed nodes, where an alias is one shared node, before any value is built: memory stays bounded by the
    file's size whatever the file holds."""
    path = Path(path)
    text = _config_text(path)
    loader = DecimalLoader(_Named(text, path.name))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "*" in text:  # every alias starts with one
            _check_aliases(node)
        _check_duplicate_keys(node)
        return loader.construct_document(node)
    except ConfigFileError:
        raise
    except yaml.YAMLError as exc:
        raise ConfigFileError(clipped(str(exc).strip(), 400), syntax=True) from None
    except ValueError as exc:  # an integer of more than 4,300 digits, which Python will not read
        reason = "a number has more than 4,300 digits" if "digits" in str(exc) else clipped(str(exc), 200)
        raise ConfigFileError(reason, syntax=True) from None
    except RecursionError:  # the pure-Python parser only
        raise ConfigFileError("nested too deeply", syntax=True) from None
    finally:
        loader.dispose()


def read_yaml(path: Path, error: type[Exception], label: str | None = None) -> object:
    """A YAML file the user wrote, with money as Decimal; `error` naming the file (`label`, else its name) when
    `load_yaml` refuses it."""
    try:
        return load_yaml(path)
    except yaml.YAMLError as exc:
        raise error(yaml_problem(label or Path(path).name, exc)) from None


def yaml_problem(label: str, error: yaml.YAMLError) -> str:
    """The message for a YAML file `load_yaml` refused: `<label>: <why>`, one line and short."""
    if isinstance(error, ConfigFileError) and not error.syntax:
        return f"{label}: {error}"
    return f"{label}: not valid YAML: {clipped(' '.join(str(error).split()), 400)}"


def _config_text(path: Path) -> str:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a folder reads as absent, a FIFO blocks the read
            raise ConfigFileError("is not a regular file (a folder, FIFO, socket or device)")
        with open(path, "rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigFileError(f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigFileError(f"larger than {MAX_CONFIG_BYTES // 2**20} MiB: a config file may be at most {MAX_CONFIG_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"not valid UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start:,})") from None


def _check_duplicate_keys(root: yaml.Node) -> None:
    """Refuse a mapping that gives one key twice (YAML would keep the last silently: `discount_pct: 10` then
    `discount_pct: 50`). Walks the parsed nodes once, each shared node once, without recursion."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[object, int] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = key.start_mark.line + 1
                    if (key.tag, key.value) in keys:
                        raise ConfigFileError(
                            f"key {shown(key.value)} appears twice in one mapping (lines {keys[(key.tag, key.value)]} and {line}): "
                            "YAML would keep the last silently"
                        )
                    keys[(key.tag, key.value)] = line
        stack.extend(_children(node))


def _check_aliases(root: yaml.Node) -> None:
    """Refuse a document whose aliases pass MAX_YAML_ALIASES or add more than MAX_YAML_ALIAS_VALUES values, or
    that holds itself. Walks the parsed nodes once (an alias is the node it names, shared), without recursion."""
    expanded: dict[int, int] = {}
    started: set[int] = set()
    aliases = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            expanded[key] = 1 + sum(expanded[id(child)] for child in children)
        elif key in expanded:
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise ConfigFileError(f"uses more than {MAX_YAML_ALIASES} aliases (*name): a config file may use at most {MAX_YAML_ALIASES}")
        elif key in started:
            raise ConfigFileError("an alias (*name) refers to a mapping or list that holds the alias itself")
        else:
            started.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(children))
    added = expanded[id(root)] - len(started)
    if added > MAX_YAML_ALIAS_VALUES:
        raise ConfigFileError(
            f"its aliases (*name) stand for {added:,} values: a config file's aliases may stand for at most {MAX_YAML_ALIAS_VALUES:,}"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


def clipped(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text`, cut to `limit` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """A value from a file as an error message shows it, in at most `limit` characters: text quoted, true, false,
    null, .nan and .inf as YAML writes them, a mapping or list only as far as the limit goes (never the repr of a
    whole large structure)."""
    return clipped(_shown(value, limit + 1), limit)


def problems_text(what: str, problems: list[str]) -> str:
    """One problem as itself (one line for the user, naming the file); several under `invalid <what>:`, one a line."""
    if len(problems) == 1:
        return problems[0]
    return f"invalid {what} ({len(problems)} problems):\n  " + "\n  ".join(problems)


def shown_kind(value: object) -> str:
    """What a value from a file is, for a message that expected a mapping or a list: its type and a short look at it
    (`list ['a', 'b']`), or "nothing" when the file gives no value."""
    return f"{type(value).__name__} {shown(value, 40)}" if value is not None else "nothing"


def _shown(value: object, budget: int) -> str:
    if budget <= 0:
        return "..."
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else ".nan" if value.is_nan() else "-.inf" if value.is_signed() else ".inf"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 4 * budget else f"a number of {value.bit_length():,} bits"
    if isinstance(value, (str, bytes)):
        return repr(value[:budget])
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        pairs = isinstance(value, dict)
        parts, used = [], 2
        for item in value.items() if pairs else value:  # type: ignore[union-attr]
            if used >= budget:
                parts.append("...")
                break
            part = f"{_shown(item[0], budget - used)}: {_shown(item[1], budget - used)}" if pairs else _shown(item, budget - used)
            parts.append(part)
            used += len(part) + 2
        return ("{%s}" if pairs else "[%s]") % ", ".join(parts)
    return clipped(repr(value), budget)


def listed(names: list[str], most: int = 5) -> str:
    """Names for a message, comma separated: the first `most` of them, each clipped, and how many there are in all."""
    shown_names = [clipped(str(name)) for name in names[:most]]
    return ", ".join(shown_names) + (f", ... ({len(names):,} in all)" if len(names) > most else "")


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
    if not isinstance(currency, str) or not CURRENCY.match(currency):
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
        if not isinstance(name, str) or not CLUSTER_NAME.match(name):
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
