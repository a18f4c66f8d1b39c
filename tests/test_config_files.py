"""Config files the user writes (settings, attribution, budgets, chargeback, model tiers, price overrides, the price
book, the corrections file): size and alias limits checked before a value is built, wrong types and non-finite numbers named
with the file, key and value, non-UTF-8 text named, and every user error of every command one `tokenledger:` line."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.adapters.attribution import AttributionConfig, AttributionConfigError
from pipelines.ingest.privacy import create_key
from pipelines.insights.budgets import BudgetError, load_budgets
from pipelines.insights.chargeback import ChargebackError, load_chargeback
from pipelines.insights.experiments import ExperimentDesignError, load_designs
from pipelines.pricing.book import PriceBookError, load_price_book
from pipelines.pricing.corrections import corrections_file_problems
from pipelines.pricing.energy import EnergyConfigError, load_energy
from pipelines.pricing.overrides import load_overrides
from pipelines.pricing.tiers import ModelTiersError, load_tier_rules
from pipelines.settings import (
    MAX_CONFIG_BYTES,
    MAX_YAML_ALIASES,
    SettingsError,
    check_settings,
    load_yaml,
    reconciliation_tolerance,
    shown,
)
from pipelines.storage.home import Home

ROOT = Path(__file__).resolve().parent.parent


def bomb(levels: int = 9, width: int = 10) -> str:
    """A "billion laughs" flow list: each level lists `width` aliases of the one before; 10**9 values from 0.5 KB."""
    names = [chr(ord("a") + n) for n in range(levels)]
    parts = [f"&{names[0]} [{', '.join(['lol'] * width)}]"]
    parts += [f"&{name} [{', '.join(['*' + before] * width)}]" for before, name in zip(names, names[1:])]
    return "[" + ", ".join(parts) + "]"


BOOK_FILE = """\
provider: acme
currency: USD
models:
  acme-1:
    - effective_from: 2025-06-10
      source: https://acme.example/pricing
      standard: {input: 0.55, output: 2.19}
"""
CONFIG_FILES = {
    "settings.yaml": lambda value: f"reporting_currency: {value}\n",
    "attribution.yaml": lambda value: f"otel:\n  feature: [{value}]\n",
    "budgets.yaml": lambda value: f"features:\n  support_chat: {value}\n",
    "experiments.yaml": lambda value: f"experiments:\n  e:\n    split: {{a: {value}}}\n",
    "model_tiers.yaml": lambda value: f"rules:\n  - {value}\n",
    "price_overrides.yaml": lambda value: f"overrides:\n  - {{id: x, provider: openai, effective_from: 2026-01-01, discount_pct: {value}}}\n",
    "book/acme.yaml": lambda value: BOOK_FILE.replace("input: 0.55", f"input: {value}"),
    "corrections.yaml": lambda value: f"corrections:\n  - {{provider: openai, model: {value}, reason: r, source: s, drop: true}}\n",
    "energy.yaml": lambda value: f"gpus:\n  - {{match: x1, gpu: X1, watts: {value}, source: 'https://x.example/1', published: 2025-01-01}}\n",
    "chargeback.yaml": lambda value: f"payers:\n  acme:\n    match: {{customer_id: acme}}\n    rule: cost_plus\n    markup_pct: {value}\n",
}
"""Each config file with one value the test chooses, placed where the file's validation reads it."""
BOOK_ALIASES = """\
provider: acme
currency: USD
models:
  acme-1:
    aliases: [2024]
    prices:
      - {effective_from: 2025-06-10, source: https://acme.example/pricing, standard: {input: 0.55, output: 2.19}}
"""


def _load(home: Path, name: str) -> None:
    """Read one config file the way tokenledger does; raise its error."""
    if name == "settings.yaml":
        check_settings(home)
    elif name == "attribution.yaml":
        AttributionConfig.load(home)
    elif name == "budgets.yaml":
        load_budgets(home)
    elif name == "experiments.yaml":
        load_designs(home)
    elif name == "model_tiers.yaml":
        load_tier_rules(home)
    elif name == "price_overrides.yaml":
        load_overrides(home)
    elif name == "book/acme.yaml":
        load_price_book(home / "book")
    elif name == "energy.yaml":
        load_energy(home)
    elif name == "chargeback.yaml":
        load_chargeback(home)
    else:
        problems = corrections_file_problems(home / name)
        if problems:
            raise PriceBookError("\n".join(problems))


def _problem(home: Path, name: str) -> str:
    with pytest.raises((SettingsError, AttributionConfigError, BudgetError, ExperimentDesignError, ModelTiersError, PriceBookError, EnergyConfigError,
                        ChargebackError)) as caught:
        _load(home, name)
    return str(caught.value)


def _write(home: Path, name: str, text: str | bytes) -> Path:
    path = home / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# --------------------------------------------------------------------------- size and aliases


MEASURE = r"""
import json, re, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.test_config_files import CONFIG_FILES, _load

home = Path(sys.argv[1])
# Today's loaders expand the bomb into gigabytes: give the process 1 GiB more than it has, so such a loader fails
# with MemoryError instead of taking the machine.
vm = int(re.search(r"VmSize:\s+(\d+)", Path("/proc/self/status").read_text())[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 2**30, resource.RLIM_INFINITY))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
found = {}
for name in CONFIG_FILES:
    started = time.perf_counter()
    try:
        _load(home, name)
        message = "accepted"
    except MemoryError:
        message = "MemoryError"
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"[:2000]
    found[name] = {"seconds": time.perf_counter() - started, "message": message}
found["rss_growth_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps(found))
"""


def test_a_1_kb_alias_bomb_in_any_config_file_is_refused_fast_with_bounded_memory(tmp_path):
    home = tmp_path / "home"
    for name, write in CONFIG_FILES.items():
        text = write(bomb())
        assert len(text) < 1024
        _write(home, name, text)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(home), str(ROOT)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout)
    growth = found.pop("rss_growth_kib")
    for name, result in found.items():
        assert Path(name).name in result["message"], (name, result)
        assert "aliases (*name) stand for 1,234,567,880 values" in result["message"], (name, result)
        assert "at most 100,000" in result["message"], (name, result)
        assert len(result["message"]) < 400, (name, result)
        assert result["seconds"] < 2, (name, result)
    assert growth < 64 * 1024, f"peak RSS grew by {growth} KiB"


@pytest.mark.parametrize("name", list(CONFIG_FILES))
def test_more_aliases_than_the_limit_are_refused_and_a_few_are_fine(tmp_path, name):
    many = "[&v 1, " + ", ".join(["*v"] * (MAX_YAML_ALIASES + 1)) + "]"
    _write(tmp_path, name, CONFIG_FILES[name](many))
    problem = _problem(tmp_path, name)
    assert Path(name).name in problem
    assert f"uses more than {MAX_YAML_ALIASES} aliases (*name)" in problem
    assert load_yaml(_write(tmp_path, "few.yaml", "a: &rates {input: 1, output: 2}\nb: *rates\nc: {<<: *rates, output: 3}\n")) == {
        "a": {"input": 1, "output": 2},
        "b": {"input": 1, "output": 2},
        "c": {"input": 1, "output": 3},
    }


def test_a_document_that_holds_itself_is_refused(tmp_path):
    problem = _problem(_write(tmp_path, "budgets.yaml", "features: &f {a: *f}\n").parent, "budgets.yaml")
    assert "budgets.yaml: an alias (*name) refers to a mapping or list that holds the alias itself" in problem


@pytest.mark.parametrize("name", list(CONFIG_FILES))
def test_a_file_over_1_mib_is_refused_unread(tmp_path, name):
    text = CONFIG_FILES[name]("1").encode()
    _write(tmp_path, name, text + b"#" * (MAX_CONFIG_BYTES + 1 - len(text)))
    problem = _problem(tmp_path, name)
    assert Path(name).name in problem and "larger than 1 MiB: a config file may be at most 1,048,576 bytes" in problem


def test_a_price_book_over_8_mib_in_all_is_refused_before_any_file_is_read(tmp_path):
    """Each file under 1 MiB, nine of them: refused at once with the total and the largest files named (100 such files
    took minutes and 2.5 GB to validate); one under the total still loads."""
    def padded(n: int) -> bytes:
        text = BOOK_FILE.replace("acme-1", f"acme-{n}").encode()
        return text + b"#" * (MAX_CONFIG_BYTES - 100 - len(text))

    book = tmp_path / "book"
    for n in range(8):
        _write(book, f"acme{n}.yaml" if n < 4 else f"imported/acme{n}.yaml", padded(n).replace(b"acme\n", f"acme{n}\n".encode()))
    assert len(load_price_book(book).models) == 8
    _write(book, "imported/acme8.yaml", padded(8).replace(b"acme\n", b"acme8\n"))
    done = _cli("prices", "check", "--book", str(book), timeout=60)
    assert done.returncode == 1, done.stderr
    first = (done.stdout + done.stderr).splitlines()[0]
    assert first.startswith(f"{book}: its 9 price files hold ") and "a price book may hold at most 8 MiB" in first
    assert "Largest: " in first and "acme" in first and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", list(CONFIG_FILES))
def test_a_file_that_is_not_utf8_names_the_file(tmp_path, name):
    _write(tmp_path, name, CONFIG_FILES[name]("caf\xe9").encode("latin-1"))
    problem = _problem(tmp_path, name)
    assert Path(name).name in problem and "not valid UTF-8 text (byte 0xe9 at offset" in problem
    assert "UnicodeDecodeError" not in problem


# --------------------------------------------------------------------------- wrong types and non-finite numbers


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-01-01, discount_pct: .nan}\n",
         "price_overrides.yaml: override 'x': discount_pct must be a number from 0 to 100, got .nan"),
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-01-01, discount_pct: -.inf}\n",
         "price_overrides.yaml: override 'x': discount_pct must be a number from 0 to 100, got -.inf"),
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: 123, effective_from: 2026-01-01, discount_pct: 5}\n",
         "price_overrides.yaml: override 'x': provider must be text, got 123 (quote it)"),
        ("price_overrides.yaml", "overrides:\n  - {id: 7, provider: openai, effective_from: 2026-01-01, discount_pct: 5}\n",
         "price_overrides.yaml: override #1: id must be text, got 7 (quote it)"),
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, model: [gpt-4o], effective_from: 2026-01-01, discount_pct: 5}\n",
         "price_overrides.yaml: override 'x': model must be text, got ['gpt-4o']"),
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-01-01, rates: {input: true}}\n",
         "price_overrides.yaml: override 'x': rates.input must be a number of USD per 1M tokens from 0 to 1,000,000, got true"),
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-01-01, rates: {output: .inf}}\n",
         "price_overrides.yaml: override 'x': rates.output must be a number of USD per 1M tokens from 0 to 1,000,000, got .inf"),
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-01-01, rates: {input: 1.0e+40}}\n",
         "price_overrides.yaml: override 'x': rates.input must be a number of USD per 1M tokens from 0 to 1,000,000, got 1.0E+40"),
        # fits DECIMAL(38, 9) but overflowed the costs' DECIMAL(38, 15) in the middle of a run, naming no file
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-01-01, rates: {input: 9999999999999999999999999999}}\n",
         "price_overrides.yaml: override 'x': rates.input must be a number of USD per 1M tokens from 0 to 1,000,000, got 9999999999999999999999999999"),
        ("chargeback.yaml", "payers:\n  p:\n    match: {customer_id: c}\n    rule: cost_plus\n    markup_pct: 9999999999999999999999999999\n",
         "chargeback.yaml: payers.p.markup_pct: expected a percentage (a number from -100 to 1,000,000, at most 9 decimals), got 9999999999999999999999999999"),
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-01-01, discount_pct: true}\n",
         "price_overrides.yaml: override 'x': discount_pct must be a number from 0 to 100, got true"),
        ("budgets.yaml", "features:\n  search: .nan\n", "budgets.yaml: features.search: expected a monthly amount in USD (a number >= 0), got .nan"),
        # YAML 1.1 reads these as whole numbers (26, 90, 3): a person writing them meant no amount of that kind
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-01-01, discount_pct: 0x1A}\n",
         "price_overrides.yaml: override 'x': discount_pct must be a number from 0 to 100, got '0x1A'"),
        ("budgets.yaml", "features:\n  search: 1:30\n", "budgets.yaml: features.search: expected a monthly amount in USD (a number >= 0), got '1:30'"),
        ("budgets.yaml", "segments:\n  pro: 0b11\n", "budgets.yaml: segments.pro: expected a monthly amount in USD (a number >= 0), got '0b11'"),
        ("budgets.yaml", "segments:\n  pro: .inf\n", "budgets.yaml: segments.pro: expected a monthly amount in USD (a number >= 0), got .inf"),
        ("budgets.yaml", "segments:\n  pro: false\n", "budgets.yaml: segments.pro: expected a monthly amount in USD (a number >= 0), got false"),
        ("settings.yaml", "reconciliation: {tolerance_pct: .nan}\n", "settings.yaml: reconciliation.tolerance_pct must be a percentage from 0 to 100, got .nan"),
        ("settings.yaml", "reconciliation: {tolerance_pct: 1.0e+20}\n", "settings.yaml: reconciliation.tolerance_pct must be a percentage from 0 to 100, got 1.0E+20"),
        ("settings.yaml", "reconciliation: {tolerance_usd: true}\n", "settings.yaml: reconciliation.tolerance_usd must be a non-negative number, got true"),
        ("settings.yaml", "reporting_currency: 123\n", "settings.yaml: reporting_currency must be an ISO 4217 code like EUR, got 123"),
        # a trailing newline passed a check written with re.match and `$` (which matches before a final newline): the
        # run went on with 'EUR\n', found no rate for it and left every fx_rate null
        ("settings.yaml", 'reporting_currency: "EUR\\n"\n', "settings.yaml: reporting_currency must be an ISO 4217 code like EUR, got 'EUR\\n'"),
        ("settings.yaml", 'clusters:\n  "gpu-a\\n": {region: x}\n', "settings.yaml: clusters: 'gpu-a\\n' is not a cluster name"),
        ("chargeback.yaml", 'payers:\n  "acme\\n":\n    match: {customer_id: c}\n    rule: cost_plus\n    markup_pct: 1\n', "chargeback.yaml: payers: a payer id is 1-64 letters, digits, '_', '.' or '-' (it names statements), got 'acme\\n'"),
        ("chargeback.yaml", 'payers:\n  acme:\n    match: {customer_id: c}\n    rule: cost_plus\n    markup_pct: 1\n    currency: "EUR\\n"\n',
         "chargeback.yaml: payers.acme.currency"),
        # a date and time is not a UTC date: 23:00 at -05:00 on the 29th is the 30th in UTC, and its local day was used
        ("price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-11-29T23:00:00-05:00, discount_pct: 50}\n",
         "price_overrides.yaml: override 'x': missing or invalid effective_from (YYYY-MM-DD), got 2026-11-29T23:00:00-05:00"),
        ("settings.yaml", "- reporting_currency\n", "settings.yaml: expected a mapping of settings"),
        ("settings.yaml", "pue: .nan\n", "settings.yaml: pue must be a number from 1 to 5 (facility energy / IT energy), got .nan"),
        ("settings.yaml", "pue: 0.9\n", "settings.yaml: pue must be a number from 1 to 5 (facility energy / IT energy), got 0.9"),
        ("settings.yaml", "clusters: [gpu-a]\n", "settings.yaml: clusters must map each cluster name to {region: ..., pue: ...}, got ['gpu-a']"),
        ("settings.yaml", "clusters:\n  GPU A: {region: x}\n", "settings.yaml: clusters: 'GPU A' is not a cluster name"),
        ("settings.yaml", "clusters:\n  gpu-a: {region: 5}\n", "settings.yaml: clusters.gpu-a.region must be a region name like us-east-1, got 5"),
        ("settings.yaml", "clusters:\n  gpu-a: {zone: x}\n", "settings.yaml: clusters.gpu-a takes only region, pue, got {'zone': 'x'}"),
        ("settings.yaml", "clusters:\n  gpu-a: {pue: .inf}\n", "settings.yaml: clusters.gpu-a.pue must be a number from 1 to 5"),
        ("energy.yaml", "gpus:\n  - {match: x1, gpu: X1, watts: .nan, source: 'https://x.example/1', published: 2025-01-01}\n", "energy.yaml: gpus entry 1 (x1)"),
        ("model_tiers.yaml", "rules:\n  - {match: 5, tier: small}\n", "model_tiers.yaml: rule 1: match must be a non-empty glob, got 5"),
        ("model_tiers.yaml", "rules:\n  - {match: 'gpt*', tier: .nan}\n", "model_tiers.yaml: rule 1 (gpt*): tier must be one of small, medium, premium, got .nan"),
        ("book/acme.yaml", BOOK_FILE.replace("input: 0.55", "input: .nan"), "acme.yaml: acme/acme-1@2025-06-10/standard: input is not a number: .nan"),
        ("book/acme.yaml", BOOK_FILE.replace("input: 0.55", "input: true"), "acme.yaml: acme/acme-1@2025-06-10/standard: input is not a number: true"),
        ("book/acme.yaml", BOOK_FILE.replace("output: 2.19", "output: .inf"), "acme.yaml: acme/acme-1@2025-06-10/standard: output is not a number: .inf"),
        ("book/acme.yaml", BOOK_FILE.replace("input: 0.55", "input: 0.0000000001"),
         "acme.yaml: acme/acme-1@2025-06-10/standard: input must be at most 1,000,000 with at most 9 decimals, got 1E-10"),
        ("book/acme.yaml", BOOK_FILE.replace("provider: acme", "provider: 123"), "acme.yaml: provider must be a name (text), got 123"),
        ("book/acme.yaml", BOOK_FILE.replace("  acme-1:", "  1.5:"), "acme.yaml: acme: a model name must be text, got 1.5 (quote it)"),
        ("book/acme.yaml", BOOK_ALIASES, "acme.yaml: acme/acme-1: an alias must be a name (text), got 2024 (quote it)"),
        ("book/acme.yaml", BOOK_FILE.replace("source: https://acme.example/pricing", "source: https://acme.example/pricing\n      note: [a]"),
         "acme.yaml: acme/acme-1@2025-06-10: note must be text, got ['a']"),
    ],
)
def test_wrong_types_and_non_finite_numbers_name_the_file_key_and_value(tmp_path, name, text, expected):
    _write(tmp_path, name, text)
    assert expected in _problem(tmp_path, name)


def test_a_huge_value_is_shown_in_80_characters(tmp_path):
    huge = "[" + ", ".join(f"item{n}" for n in range(50_000)) + "]"
    for name in ("settings.yaml", "budgets.yaml", "model_tiers.yaml", "price_overrides.yaml", "book/acme.yaml"):
        if name == "price_overrides.yaml":
            _write(tmp_path, name, f"overrides:\n  - {{id: x, provider: openai, effective_from: 2026-01-01, discount_pct: 5, note: {huge}}}\n")
        else:
            _write(tmp_path, name, CONFIG_FILES[name](huge))
        problem = _problem(tmp_path, name)
        assert "['item0', 'item1', 'item2'" in problem and "item49999" not in problem, name
        assert max(len(line) for line in problem.splitlines()) < 300, name
    _write(tmp_path, "settings.yaml", "reporting_currency: " + "x" * 100_000 + "\n")
    problem = _problem(tmp_path, "settings.yaml")
    assert len(problem) < 200 and problem.endswith("...")
    assert shown("x" * 1000) == "'" + "x" * 76 + "..."


def test_one_problem_is_one_line_and_several_are_counted_one_a_line(tmp_path):
    """README: a bad file is "one line on stderr that names the file, the key and the value"; it was printed under an
    `invalid price overrides:` header line. Several problems keep the header, with their count."""
    _write(tmp_path, "price_overrides.yaml", "overrides:\n  - {id: x, provider: openai, effective_from: 2026-01-01, discount_pct: .nan}\n")
    assert _problem(tmp_path, "price_overrides.yaml") == "price_overrides.yaml: override 'x': discount_pct must be a number from 0 to 100, got .nan"
    _write(tmp_path, "budgets.yaml", "segments:\n  pro: .inf\n  team: false\n")
    assert _problem(tmp_path, "budgets.yaml").splitlines() == [
        "invalid budgets (2 problems):",
        "  budgets.yaml: segments.pro: expected a monthly amount in USD (a number >= 0), got .inf",
        "  budgets.yaml: segments.team: expected a monthly amount in USD (a number >= 0), got false",
    ]


@pytest.mark.parametrize("name", ["price_overrides.yaml", "budgets.yaml", "settings.yaml"])
def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path, name):
    """YAML keeps the last of two equal keys silently: a 10% discount written again as 50% three lines down, or two
    `reporting_currency` lines, would change money without a word."""
    text = {
        "price_overrides.yaml": "overrides:\n  - id: x\n    provider: openai\n    effective_from: 2026-01-01\n    discount_pct: 10\n    discount_pct: 50\n",
        "budgets.yaml": "segments:\n  pro: 100\n  pro: 1000\n",
        "settings.yaml": "reporting_currency: EUR\npue: 1.2\nreporting_currency: USD\n",
    }[name]
    _write(tmp_path, name, text)
    key, lines = {"price_overrides.yaml": ("discount_pct", "5 and 6"), "budgets.yaml": ("pro", "2 and 3"), "settings.yaml": ("reporting_currency", "1 and 3")}[name]
    assert _problem(tmp_path, name) == f"{name}: key '{key}' appears twice in one mapping (lines {lines}): YAML would keep the last silently"
    _write(tmp_path, name, text.replace(f"  {key}: 50", "").replace("  pro: 1000", "  team: 1000").replace("reporting_currency: USD", ""))
    _load(tmp_path, name)  # the same keys once each: fine


def test_good_files_still_read_as_decimals(tmp_path):
    _write(tmp_path, "settings.yaml", "reporting_currency: EUR\nreconciliation: {tolerance_pct: 2.5, tolerance_usd: 1_000.50}\n")
    assert reconciliation_tolerance(tmp_path) == (Decimal("2.5"), Decimal("1000.50"))
    # a whole number with a leading zero is decimal, as written (YAML 1.1 read 012 as octal 10, 0500 as 320)
    _write(tmp_path, "settings.yaml", "reconciliation: {tolerance_pct: 012, tolerance_usd: 0500}\n")
    assert reconciliation_tolerance(tmp_path) == (Decimal("12"), Decimal("500"))
    _write(tmp_path, "settings.yaml", "reconciliation: {tolerance_pct: 1_0, tolerance_usd: -0}\n")
    assert reconciliation_tolerance(tmp_path) == (Decimal("10"), Decimal("0"))
    _write(tmp_path, "price_overrides.yaml", textwrap.dedent("""
        overrides:
          - {id: a, provider: openai, effective_from: 2026-01-01, discount_pct: 12.5, rates: &r {input: 2.00, output: 10}}
          - {id: b, provider: anthropic, model: claude-x, effective_from: 2026-01-01, rates: *r}
    """))
    rows = load_overrides(tmp_path).to_pylist()
    assert [(r["override_id"], r["discount_pct"], r["input_per_mtok"], r["output_per_mtok"], r["specificity"]) for r in rows] == [
        ("a", Decimal("12.5"), Decimal("2"), Decimal("10"), 0),
        ("b", Decimal("0"), Decimal("2"), Decimal("10"), 4),
    ]


def test_every_config_read_goes_through_the_one_loader():
    """No module parses YAML itself: settings.yaml_files.load_yaml is the only place that calls PyYAML's loaders."""
    offenders = []
    for path in sorted((ROOT / "pipelines").rglob("*.py")):
        if path.name == "yaml_files.py" and path.parent.name == "settings":
            continue
        text = path.read_text(encoding="utf-8")
        for call in ("yaml.safe_load", "yaml.load(", "yaml.full_load", "yaml.unsafe_load", "yaml.compose", "Loader("):
            if call in text:
                offenders.append(f"{path.relative_to(ROOT)}: {call}")
    assert offenders == []


# --------------------------------------------------------------------------- the command line


def _cli(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENLEDGER_")}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


HOLD = "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()"
"""Holds the working warehouse's write lock until its stdin closes: another run writing the warehouse."""


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    """Homes made once for the module: one per bad config file, a busy one (its warehouse held by another process),
    a price book with a bomb, bad corrections files."""
    base = tmp_path_factory.mktemp("cli")

    def home(name: str, files: dict[str, str | bytes] | None = None) -> Path:
        made = Home.at(base / name).ensure()
        create_key(made.secrets)
        for file, text in (files or {}).items():
            _write(made.root, file, text)
        return made.root

    found = {
        "settings": home("settings", {"settings.yaml": CONFIG_FILES["settings.yaml"](bomb())}),
        "settings_type": home("settings_type", {"settings.yaml": "reporting_currency: 123\n"}),
        "attribution": home("attribution", {"attribution.yaml": CONFIG_FILES["attribution.yaml"](bomb())}),
        "budgets": home("budgets", {"budgets.yaml": b"features:\n  caf\xe9: 5\n"}),
        "experiments": home("experiments", {"experiments.yaml": CONFIG_FILES["experiments.yaml"](".nan")}),
        "model_tiers": home("model_tiers", {"model_tiers.yaml": "rules:\n  - {match: 5, tier: small}\n"}),
        "energy": home("energy", {"energy.yaml": CONFIG_FILES["energy.yaml"]("-700")}),
        "settings_pue": home("settings_pue", {"settings.yaml": "clusters:\n  gpu-a: {pue: 0.5}\n"}),
        "overrides": home("overrides", {"price_overrides.yaml": CONFIG_FILES["price_overrides.yaml"](".nan")}),
        "overrides_size": home("overrides_size", {"price_overrides.yaml": "#" * (MAX_CONFIG_BYTES + 1)}),
        "busy": home("busy"),
        "book": _write(base, "book/acme.yaml", CONFIG_FILES["book/acme.yaml"](bomb())).parent,
        "corrections": _write(base, "corrections.yaml", b"corrections:\n  - {provider: caf\xe9}\n"),
        "corrections_bomb": _write(base, "bomb/corrections.yaml", CONFIG_FILES["corrections.yaml"](bomb())),
    }
    busy = Home.at(found["busy"])
    busy.work_warehouse.parent.mkdir(parents=True)
    duckdb.connect(str(busy.warehouse)).close()  # a published warehouse (empty) readers can open
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(busy.work_warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield found
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


BUSY = "another process (pid "
CONFIG_CASES = [
    ("run", "settings", "settings.yaml: its aliases (*name) stand for"),
    ("run", "settings_type", "settings.yaml: reporting_currency must be an ISO 4217 code like EUR, got 123"),
    ("run", "attribution", "attribution.yaml: its aliases (*name) stand for"),
    ("run", "budgets", "budgets.yaml: not valid UTF-8 text (byte 0xe9 at offset 15)"),
    ("run", "model_tiers", "model_tiers.yaml: rule 1: match must be a non-empty glob, got 5"),
    ("run", "energy", "energy.yaml: gpus entry 1 (x1)"),
    ("run", "settings_pue", "settings.yaml: clusters.gpu-a.pue must be a number from 1 to 5 (facility energy / IT energy), got 0.5"),
    ("run", "experiments", "experiments.yaml: experiments.'e'.split.'a' must be a positive number, found .nan"),
    ("run", "overrides", "price_overrides.yaml: override 'x': discount_pct must be a number from 0 to 100, got .nan"),
    ("run", "overrides_size", "price_overrides.yaml: larger than 1 MiB"),
    ("demo --days 1 --requests-per-day 5", "budgets", "budgets.yaml: not valid UTF-8 text"),
    ("demo --days 1 --requests-per-day 5", "overrides", "price_overrides.yaml: override 'x': discount_pct"),
]
BUSY_CASES = [
    "run",
    "demo --days 1 --requests-per-day 5",
    "close 2026-01",
    "whatif --feature search --to-model gpt-4o-mini",
]
"""The commands that write the warehouse: kept out while another run writes it. Readers are not (see below)."""
BOOK_CASES = [
    ("prices list --book {book}", "acme.yaml: its aliases (*name) stand for"),
    ("prices show acme-1 --book {book}", "acme.yaml: its aliases (*name) stand for"),
    ("prices diff --since 2025-01-01 --book {book}", "acme.yaml: its aliases (*name) stand for"),
    ("prices import-genai-prices --out {tmp}/imported --corrections {corrections}", "corrections.yaml: not valid UTF-8 text"),
    ("prices import-genai-prices --out {tmp}/imported --corrections {corrections_bomb}", "corrections.yaml: its aliases (*name) stand for"),
]
BAD_ARGUMENTS = [
    "",
    "nonsense",
    "run --start 2026-13-01 --end 2026-01-02",
    "demo --days many",
    "close",
    "export focus",
    "sql",
    "prices show",
    "prices diff --since yesterday",
    "report --month 2026-13",
    "report --month 2026-1",  # strptime's %m took it, and the report said the month had no requests
    "whatif --feature search --to-model gpt-4o --share 0.5 --month 2026-1",
    "run --start 20261101 --end 2026-11-02",  # Python's ISO reader takes 20261101 and 2026-W44-7
    "report --month 9999-12",  # a month whose end is past year 9999 crashed
    "whatif --feature search --to-model gpt-4o --share 2",
    "whatif --feature search --to-model gpt-4o --share 0.0000000000000000001",  # overflowed DECIMAL(38, 15)
    "whatif --move-feature search --to-cluster gpu-a --utilization 1e-300",  # overflowed the cost per token
    "dev --port http",
]
USER_MISTAKES = [
    ("run --start 2026-01-02", "give both --start and --end, or neither"),
    ("run --reprice", "--reprice needs --start and --end"),
    ("demo --days 0", "--days and --requests-per-day must be at least 1"),
    ("close 2026-01 --home {tmp}/nowhere", "no warehouse at"),
    ("sql 'select 1' --home {tmp}/nowhere", "no warehouse at"),
]


def _args(command: str, **paths: Path) -> list[str]:
    """The command's words, then {name} in each replaced by that path (the paths hold quotes and spaces)."""
    return [word.format(**{k: str(v) for k, v in paths.items()}) for word in shlex.split(command)]


def _one_tokenledger_line(done: subprocess.CompletedProcess, expected: str) -> None:
    """The user error as the user sees it: no traceback, no Dagster log, one `tokenledger:` line first on stderr."""
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr + done.stdout and "Stack Trace" not in done.stderr, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    assert lines and lines[0].startswith("tokenledger: "), done.stderr[-3000:]
    assert sum(line.startswith("tokenledger:") for line in lines) == 1, done.stderr[-3000:]
    assert expected in done.stderr, done.stderr[-3000:]
    assert len(done.stderr) < 2000, done.stderr[-3000:]


@pytest.mark.parametrize(("command", "home_name", "expected"), CONFIG_CASES)
def test_a_bad_config_file_is_one_tokenledger_line(homes, command, home_name, expected):
    _one_tokenledger_line(_cli(*_args(command), "--home", str(homes[home_name])), expected)


@pytest.mark.parametrize("command", BUSY_CASES)
def test_a_busy_warehouse_is_one_tokenledger_line(homes, tmp_path, command):
    _one_tokenledger_line(_cli(*_args(command, tmp=tmp_path), "--home", str(homes["busy"])), BUSY)


def test_a_reader_command_is_not_kept_out_by_a_run_writing(homes):
    """`tokenledger sql` (like report, export and prices coverage) opens the published warehouse, which no run holds."""
    done = _cli("sql", "select 42 as answer", "--home", str(homes["busy"]))
    assert done.returncode == 0 and "42" in done.stdout, done.stderr[-3000:]


@pytest.mark.parametrize(("command", "expected"), BOOK_CASES)
def test_a_bad_price_book_or_corrections_file_is_a_tokenledger_line(homes, tmp_path, command, expected):
    if "import-genai-prices" in command:
        pytest.importorskip("genai_prices")
    done = _cli(*_args(command, tmp=tmp_path, book=homes["book"], corrections=homes["corrections"], corrections_bomb=homes["corrections_bomb"]))
    assert done.returncode == 1, done.stderr[-3000:]  # the prices commands' documented code for an invalid book
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    assert lines and lines[0].startswith("tokenledger: ") and expected in done.stderr, done.stderr[-3000:]
    assert sum(line.startswith("tokenledger:") for line in lines) == 1 and len(done.stderr) < 2000, done.stderr[-3000:]


def test_prices_check_lists_a_bad_book_file_as_a_problem(homes):
    done = _cli("prices", "check", "--book", str(homes["book"]), "--corrections", str(homes["corrections"]))
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        "acme.yaml: its aliases (*name) stand for 1,234,567,880 values: a config file's aliases may stand for at most 100,000",
        "corrections.yaml: not valid UTF-8 text (byte 0xe9 at offset 31)",
        "2 problems in the price book",
    ]


@pytest.mark.parametrize("command", BAD_ARGUMENTS)
def test_bad_arguments_are_a_usage_error(command):
    done = _cli(*_args(command))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.stderr.startswith("usage: tokenledger") and "error:" in done.stderr.splitlines()[-1], done.stderr


@pytest.mark.parametrize(("command", "expected"), USER_MISTAKES)
def test_a_mistake_in_the_arguments_is_one_tokenledger_line(homes, tmp_path, command, expected):
    args = _args(command, tmp=tmp_path)
    _one_tokenledger_line(_cli(*args, *([] if "--home" in args else ["--home", str(homes["busy"])])), expected)


def test_a_step_that_finds_the_warehouse_busy_reports_tokenledgers_message(homes):
    """Another process takes the warehouse after the command's own check: the failed Dagster step reports
    WarehouseBusyError's message (with the holder's pid), not the DuckDB IOException under it."""
    from pipelines.runner import PipelineFailed, run_pipeline

    with pytest.raises(PipelineFailed) as caught:
        run_pipeline(Home.at(homes["busy"]), progress=lambda _: None)
    assert BUSY in str(caught.value) and "(pid " in str(caught.value)
    assert "IOException" not in str(caught.value) and "Could not set lock" not in str(caught.value)



@pytest.mark.parametrize("name", ["settings.yaml", "attribution.yaml", "budgets.yaml", "chargeback.yaml", "experiments.yaml",
                                  "model_tiers.yaml", "energy.yaml", "price_overrides.yaml"])
@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_config_file_that_is_a_folder_or_a_fifo_is_one_line(tmp_path, name, kind):
    """A folder named chargeback.yaml read as no chargeback at all (every statement vanished, no word); a FIFO
    named settings.yaml blocked the run forever. Each is now the file's one-line error."""
    home = Home.at(tmp_path / "h").ensure()
    create_key(home.secrets)
    target = home.root / name
    os.mkdir(target) if kind == "folder" else os.mkfifo(target)
    _one_tokenledger_line(_cli("run", "--home", str(home.root)), f"{name}: is not a regular file (a folder, FIFO, socket or device)")
