"""The one YAML loader, and how a value from a user's file is shown in a message.

Every YAML file tokenledger reads (the price book, overrides, budgets, model tiers, attribution, settings) goes
through `load_yaml`, which reads numbers with a fraction as Decimal, never binary float; a whole number only as
decimal digits (YAML 1.1's octal `012`, hexadecimal `0x1A`, binary `0b11` and base-60 `1:30` are left as their
text, so validation names them instead of reading 10, 26, 3 or 90); and leaves a date that is not a real date as
its text so validation can name it. It refuses, before building any value, a file bigger than 1 MiB, one that is
not UTF-8 text, and one whose aliases (`*name`) pass 100 or stand for more than 100,000 values.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import stat
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

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


_DECIMAL_INT = re.compile(r"[-+]?[0-9][0-9_]*")


def _int_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    """A YAML 1.1 integer read as decimal digits (`012` is 12, as YAML 1.2 and a person read it, not octal 10;
    `1_000` is 1000); hexadecimal, octal, binary or base-60 (`0x1A`, `0o17`, `0b11`, `1:30`) stays its text, so
    validation names it instead of taking 26, 15, 3 or 90."""
    text = loader.construct_scalar(node)
    return int(text.replace("_", "")) if _DECIMAL_INT.fullmatch(text) else text


def _date_or_text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    """A YAML date, or the text as written when it is not a real date (validation then names it)."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
DecimalLoader.add_constructor("tag:yaml.org,2002:int", _int_or_text)
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


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """`object_pairs_hook` for `json.loads`: an object, or a ValueError naming a key given twice in it. Python's
    parser keeps the last value silently (DuckDB's the first); which one was meant is ambiguous, so neither is read."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"the key {shown(twice)} is given twice in one object (which value is meant is ambiguous)")
    return dict(pairs)


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
