"""The energy reference: default GPU board power and published per-request energy and carbon for API models.

Entries come from `<home>/energy.yaml` (optional, tried first) and the shipped `pricing/energy.yaml`, which
explains the format and where every figure comes from. Two lists, each optional in a home file:

- `gpus`: `{match, gpu, watts, source, published, note?}`, the average board power assumed for a self-hosted GPU
  record that carries no avg_power_watts of its own;
- `api`: `{match, wh_per_request?, gco2e_per_request?, applies_to, source, published, note?}`, with at least one
  of the two figures.

`match` is a glob or a list of globs (`*`, `?`, `[...]`, case-insensitive): a gpu glob is tested against the
record's gpu_type, an api glob against "<provider>/<model>", and the first matching row in rule_order wins.
Numbers are read as Decimal, never binary float. Anything no entry matches is unknown, never zero.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from pipelines.settings import ConfigError, as_date, as_decimal, clipped, fits_decimal, listed, read_yaml, shown
from pipelines.storage.home import shipped_dir

ENERGY_FILE = "energy.yaml"
LISTS = ("gpus", "api")
GPU_KEYS = ("match", "gpu", "watts", "source", "published", "note")
API_KEYS = ("match", "wh_per_request", "gco2e_per_request", "applies_to", "source", "published", "note")
API_FIGURES = ("wh_per_request", "gco2e_per_request")
NUMBER = pa.decimal128(38, 9)

GPU_RULES_SCHEMA = pa.schema(
    [
        ("rule_order", pa.int64()),
        ("pattern", pa.string()),
        ("gpu", pa.string()),
        ("watts", NUMBER),
        ("source", pa.string()),
        ("published", pa.string()),
        ("rule_source", pa.string()),
    ]
)
API_RULES_SCHEMA = pa.schema(
    [
        ("rule_order", pa.int64()),
        ("pattern", pa.string()),
        ("wh_per_request", NUMBER),
        ("gco2e_per_request", NUMBER),
        ("applies_to", pa.string()),
        ("source", pa.string()),
        ("published", pa.string()),
        ("rule_source", pa.string()),
    ]
)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class EnergyConfigError(ConfigError):
    """An energy reference file is not valid; the message names the file and the entry."""


def shipped_energy_path() -> Path:
    return shipped_dir("pricing") / ENERGY_FILE


def load_energy(home_root: Path) -> tuple[pa.Table, pa.Table]:
    """(gpu_rules, api_rules), one row per glob in precedence order: the home's file first, then the shipped one."""
    gpu_rows: list[dict] = []
    api_rows: list[dict] = []
    for path, label in ((Path(home_root) / ENERGY_FILE, ENERGY_FILE), (shipped_energy_path(), f"pricing/{ENERGY_FILE}")):
        if os.path.lexists(path):
            gpus, api = _read_energy(path, label)
            gpu_rows += gpus
            api_rows += api
    for rows in (gpu_rows, api_rows):
        for order, row in enumerate(rows, start=1):
            row["rule_order"] = order
    return pa.Table.from_pylist(gpu_rows, schema=GPU_RULES_SCHEMA), pa.Table.from_pylist(api_rows, schema=API_RULES_SCHEMA)


def _read_energy(path: Path, label: str) -> tuple[list[dict], list[dict]]:
    document = read_yaml(path, EnergyConfigError, label)
    if document is None:
        return [], []
    if not isinstance(document, dict) or not document or set(document) - set(LISTS):
        raise EnergyConfigError(f"{label}: expected a mapping with gpus and/or api (lists of entries), got {shown(document)}")
    problems: list[str] = []
    gpu_rows: list[dict] = []
    api_rows: list[dict] = []
    for name, reader, rows in (("gpus", _gpu_entry, gpu_rows), ("api", _api_entry, api_rows)):
        entries = document.get(name, [])
        if not isinstance(entries, list):
            problems.append(f"{label}: {name} must be a list of entries, got {shown(entries)}")
            continue
        for number, entry in enumerate(entries, start=1):
            where = f"{label}: {name} entry {number}"
            entry_problems, values = reader(entry)
            if entry_problems:
                match = entry.get("match") if isinstance(entry, dict) else None
                named = f" ({clipped(match)})" if isinstance(match, str) else ""
                problems += [f"{where}{named}: {problem}" for problem in entry_problems]
                continue
            patterns, values = values
            rows += [{"pattern": pattern, **values, "rule_source": f"{label}#{number}"} for pattern in patterns]
    if problems:
        raise EnergyConfigError("\n".join(problems))
    return gpu_rows, api_rows


def _gpu_entry(entry: object) -> tuple[list[str], tuple[list[str], dict] | None]:
    problems = _shape_problems(entry, GPU_KEYS, ("match", "gpu", "watts", "source", "published"))
    if problems:
        return problems, None
    patterns, problems = _patterns(entry["match"])
    gpu = _text(entry["gpu"], "gpu", problems)
    watts = _positive(entry["watts"], "watts", problems)
    source = _source(entry["source"], problems)
    published = _published(entry["published"], problems)
    _note(entry, problems)
    values = {"gpu": gpu, "watts": watts, "source": source, "published": published}
    return problems, (patterns, values)


def _api_entry(entry: object) -> tuple[list[str], tuple[list[str], dict] | None]:
    problems = _shape_problems(entry, API_KEYS, ("match", "applies_to", "source", "published"))
    if problems:
        return problems, None
    patterns, problems = _patterns(entry["match"])
    figures = {key: _positive(entry[key], key, problems) if key in entry else None for key in API_FIGURES}
    if not any(key in entry for key in API_FIGURES):
        problems.append("needs a published figure: wh_per_request, gco2e_per_request or both (leave out a model with neither)")
    applies_to = _text(entry["applies_to"], "applies_to", problems)
    source = _source(entry["source"], problems)
    published = _published(entry["published"], problems)
    _note(entry, problems)
    values = {**figures, "applies_to": applies_to, "source": source, "published": published}
    return problems, (patterns, values)


def _shape_problems(entry: object, known: tuple[str, ...], required: tuple[str, ...]) -> list[str]:
    if not isinstance(entry, dict):
        return [f"expected a mapping with the keys {', '.join(required)}, got {shown(entry)}"]
    unknown = [str(key) for key in entry if key not in known]
    missing = [key for key in required if key not in entry]
    problems = []
    if unknown:
        problems.append(f"unknown key(s) {listed(unknown)} (known: {', '.join(known)})")
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    return problems


def _patterns(match: object) -> tuple[list[str], list[str]]:
    """The lower-cased globs of `match` (a glob or a non-empty list of globs), and what is wrong with it."""
    globs = match if isinstance(match, list) else [match]
    if not globs or not all(isinstance(glob, str) and glob.strip() for glob in globs):
        return [], [f"match must be a non-empty glob or a non-empty list of them, got {shown(match)}"]
    return [glob.strip().lower() for glob in globs], []


def _text(value: object, key: str, problems: list[str]) -> str | None:
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())
    problems.append(f"{key} must be non-empty text, got {shown(value)}")
    return None


def _positive(value: object, key: str, problems: list[str]) -> Decimal | None:
    number = as_decimal(value)
    if number is None or number <= 0 or not fits_decimal(number):
        problems.append(f"{key} must be a positive number with at most 9 decimals, got {shown(value)}")
        return None
    return number


def _source(value: object, problems: list[str]) -> str | None:
    if isinstance(value, str) and value.strip().startswith(("https://", "http://")) and len(value.split()) == 1:
        return value.strip()
    problems.append(f"source must be the URL the figure comes from, got {shown(value)}")
    return None


def _published(value: object, problems: list[str]) -> str | None:
    """The source's date as written: YYYY-MM-DD (a real date) or YYYY-MM."""
    day = as_date(value.strip() if isinstance(value, str) else value)
    if day is not None:
        return day.isoformat()
    if isinstance(value, str) and _MONTH.match(value.strip()):
        return value.strip()
    problems.append(f"published must be the source's date, YYYY-MM-DD or YYYY-MM, got {shown(value)}")
    return None


def _note(entry: dict, problems: list[str]) -> None:
    if "note" in entry and not (isinstance(entry["note"], str) and entry["note"].strip()):
        problems.append(f"note must be non-empty text when given, got {shown(entry['note'])}")
