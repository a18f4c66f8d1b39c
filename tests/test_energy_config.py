"""The energy reference (pricing/energy.yaml and <home>/energy.yaml): the shipped file loads, its hand-checked figures
resolve for the gpu_type and model names records carry (first matching rule wins, the same in Python and DuckDB), a
home file's entries win, every validation error names the file and the entry, and numbers are read exactly."""

from __future__ import annotations

import fnmatch
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.pricing.energy import (
    API_RULES_SCHEMA,
    ENERGY_FILE,
    GPU_RULES_SCHEMA,
    EnergyConfigError,
    load_energy,
)
from pipelines.settings import ConfigError

SOURCE = "https://vendor.example/datasheet.pdf"


def first_match(rules: pa.Table, text: str) -> dict | None:
    """The row that wins for `text`: the matching glob with the lowest rule_order, or None (unknown)."""
    rows = sorted(rules.to_pylist(), key=lambda row: row["rule_order"])
    return next((row for row in rows if fnmatch.fnmatchcase(text.lower(), row["pattern"])), None)


def write_home(home: Path, text: str) -> None:
    (home / ENERGY_FILE).write_text(textwrap.dedent(text))


def problem(home: Path, text: str) -> str:
    write_home(home, text)
    with pytest.raises(EnergyConfigError) as caught:
        load_energy(home)
    return str(caught.value)


def test_the_shipped_file_loads(tmp_path):
    gpus, api = load_energy(tmp_path)
    assert gpus.schema == GPU_RULES_SCHEMA and api.schema == API_RULES_SCHEMA
    assert gpus.num_rows > 0 and api.num_rows > 0
    for rules in (gpus, api):
        rows = rules.to_pylist()
        assert [row["rule_order"] for row in rows] == list(range(1, len(rows) + 1))
        assert all(row["rule_source"].startswith("pricing/energy.yaml#") for row in rows)
        assert all(row["pattern"] == row["pattern"].lower() and row["source"].startswith("https://") for row in rows)
    assert all(row["watts"] > 0 for row in gpus.to_pylist())
    assert all(row["wh_per_request"] or row["gco2e_per_request"] for row in api.to_pylist())


def test_h100_sxm_is_700_watts_and_an_h100_pcie_never_takes_the_sxm_figure(tmp_path):
    """NVIDIA H100 datasheet (https://resources.nvidia.com/en-us-tensor-core/nvidia-h100-datasheet): H100 SXM up to
    700 W (configurable); the H100 PCIe product brief PB-11133-001_v02: "maximum thermal design power (TDP) level of
    350 W". A bare "H100" is taken as the SXM board."""
    gpus, _ = load_energy(tmp_path)
    for gpu_type in ("H100 SXM", "h100-sxm5-80gb", "NVIDIA-H100-SXM5-80GB"):
        assert (first_match(gpus, gpu_type)["gpu"], first_match(gpus, gpu_type)["watts"]) == ("H100 SXM", Decimal("700")), gpu_type
    assert first_match(gpus, "H100")["watts"] == Decimal("700")
    sxm_rule = first_match(gpus, "h100-sxm5-80gb")["rule_source"]
    sxm_globs = [row["pattern"] for row in gpus.to_pylist() if row["rule_source"] == sxm_rule]
    for gpu_type in ("H100 PCIe", "nvidia-h100-pcie-80gb", "H100-PCI-E"):
        winner = first_match(gpus, gpu_type)
        assert (winner["gpu"], winner["watts"]) == ("H100 PCIe", Decimal("350")), gpu_type
        assert not any(fnmatch.fnmatchcase(gpu_type.lower(), glob) for glob in sxm_globs), gpu_type
    assert first_match(gpus, "H100 NVL")["gpu"] == "H100 NVL"


def test_l4_is_72_watts_and_l40s_is_not_l4(tmp_path):
    """NVIDIA L4 (https://www.nvidia.com/en-us/data-center/l4/): 72 W max TDP; NVIDIA L40S
    (https://www.nvidia.com/en-us/data-center/l40s/): 350 W max power consumption."""
    gpus, _ = load_energy(tmp_path)
    for gpu_type in ("L4", "nvidia-l4", "NVIDIA L4 24GB", "l4-24gb"):
        assert (first_match(gpus, gpu_type)["gpu"], first_match(gpus, gpu_type)["watts"]) == ("L4", Decimal("72")), gpu_type
    for gpu_type in ("L40S", "nvidia-l40s-48gb"):
        assert first_match(gpus, gpu_type)["watts"] == Decimal("350"), gpu_type
    assert first_match(gpus, "L40") is None  # not listed: unknown, never another card's figure


@pytest.mark.parametrize(
    ("gpu_type", "gpu"),
    [
        ("nvidia-a100-40gb", "A100 (form factor not given, taken as SXM)"), ("A100-SXM4-80GB", "A100 SXM"),
        ("A100-PCIE-40GB", "A100 PCIe 40GB"), ("a100-pcie-80gb", "A100 PCIe 80GB"), ("A10G", "A10G"), ("nvidia-a10", "A10"),
        ("A10-24GB", "A10"), ("T4", "T4"), ("tesla-t4", "T4"), ("MI300X", "AMD Instinct MI300X"), ("h200-141gb", "H200 SXM"),
        ("H200 NVL", "H200 NVL"), ("B200", "B200"), ("GH200", None), ("GB200", None), ("RTX 4090", None),
    ],
)
def test_each_gpu_type_takes_its_own_rule(tmp_path, gpu_type, gpu):
    gpus, _ = load_energy(tmp_path)
    winner = first_match(gpus, gpu_type)
    assert (winner and winner["gpu"]) == gpu


def test_duckdb_glob_picks_the_same_rule_as_python(tmp_path):
    gpus, api = load_energy(tmp_path)
    gpu_types = ["H100", "h100-sxm5-80gb", "H100 PCIe", "L4", "L40S", "nvidia-a100-40gb", "A10G", "A10", "GH200", "MI300X"]
    models = ["google/gemini-2.5-flash", "openai/gpt-4o-2024-08-06", "openai/gpt-4o-mini", "mistral/mistral-large-2411"]
    with duckdb.connect() as con:
        con.register("gpu_rules", gpus)
        con.register("api_rules", api)
        query = (
            "select t.name, arg_min(r.rule_source, r.rule_order) from unnest($names) as t(name) "
            "join {table} as r on lower(t.name) glob r.pattern group by t.name"
        )
        in_sql = dict(con.execute(query.format(table="gpu_rules"), {"names": gpu_types}).fetchall())
        in_sql |= dict(con.execute(query.format(table="api_rules"), {"names": models}).fetchall())
    in_python = {name: first_match(rules, name) for rules, names in ((gpus, gpu_types), (api, models)) for name in names}
    assert in_sql == {name: row["rule_source"] for name, row in in_python.items() if row}


def test_api_figures_are_the_published_ones_and_narrow(tmp_path):
    """Google, "Measuring the environmental impact of delivering AI at Google scale" (https://arxiv.org/abs/2508.15734):
    the median Gemini Apps text prompt, 0.24 Wh and 0.03 gCO2e. OpenAI's CEO, "The Gentle Singularity"
    (https://blog.samaltman.com/the-gentle-singularity): the average ChatGPT query, about 0.34 Wh. Mistral's life-cycle
    analysis (https://mistral.ai/news/our-contribution-to-a-global-environmental-standard-for-ai): 1.14 gCO2e for a
    400-token Mistral Large 2 response, with no energy figure."""
    _, api = load_energy(tmp_path)
    gemini = first_match(api, "google/gemini-2.5-flash")
    assert (gemini["wh_per_request"], gemini["gco2e_per_request"]) == (Decimal("0.24"), Decimal("0.03"))
    for model in ("openai/gpt-4o", "openai/gpt-4o-2024-08-06", "openai/chatgpt-4o-latest"):
        assert (first_match(api, model)["wh_per_request"], first_match(api, model)["gco2e_per_request"]) == (Decimal("0.34"), None)
    mistral = first_match(api, "mistral/mistral-large-2407")
    assert (mistral["wh_per_request"], mistral["gco2e_per_request"]) == (None, Decimal("1.14"))
    for model in ("openai/gpt-4o-mini", "openai/gpt-4o-mini-2024-07-18", "openai/gpt-4o-realtime-preview", "google/gemini-2.5-pro",
                  "google/gemini-2.5-flash-lite", "mistral/mistral-large-latest", "anthropic/claude-sonnet-4-5"):
        assert first_match(api, model) is None, model


def test_a_home_entry_wins_over_the_shipped_one(tmp_path):
    write_home(tmp_path, f"""\
        gpus:
          - {{match: "*h100*", gpu: H100 (our cluster), watts: 610, source: "{SOURCE}", published: 2026-01-15, note: metered}}
        api:
          - {{match: openai/gpt-4o, wh_per_request: 0.5, applies_to: our own measurement, source: "{SOURCE}", published: 2026-02}}
    """)
    gpus, api = load_energy(tmp_path)
    home_gpu = first_match(gpus, "h100-sxm5-80gb")
    assert (home_gpu["gpu"], home_gpu["watts"], home_gpu["published"], home_gpu["rule_source"], home_gpu["rule_order"]) == (
        "H100 (our cluster)", Decimal("610"), "2026-01-15", "energy.yaml#1", 1)
    assert first_match(api, "openai/gpt-4o")["rule_source"] == "energy.yaml#1"
    assert first_match(api, "openai/gpt-4o")["wh_per_request"] == Decimal("0.5")
    assert first_match(gpus, "L4")["rule_source"].startswith("pricing/energy.yaml#")  # the shipped entries still follow
    assert gpus.to_pylist()[1]["rule_source"].startswith("pricing/energy.yaml#")


def test_a_list_of_globs_is_one_row_per_glob(tmp_path):
    write_home(tmp_path, f"""\
        gpus:
          - {{match: [" RTX-4090* ", "*GeForce*4090*"], gpu: RTX 4090, watts: 450, source: "{SOURCE}", published: 2022-10}}
    """)
    gpus, _ = load_energy(tmp_path)
    assert [(row["pattern"], row["rule_order"], row["rule_source"]) for row in gpus.to_pylist()[:2]] == [
        ("rtx-4090*", 1, "energy.yaml#1"), ("*geforce*4090*", 2, "energy.yaml#1")]


def test_numbers_are_read_exactly_as_decimal(tmp_path):
    write_home(tmp_path, f"""\
        gpus:
          - {{match: card, gpu: Card, watts: 72.1, source: "{SOURCE}", published: 2024-01}}
        api:
          - {{match: acme/one, wh_per_request: 0.1, gco2e_per_request: 0.000000001, applies_to: a prompt, source: "{SOURCE}", published: 2024-01}}
    """)
    gpus, api = load_energy(tmp_path)
    assert first_match(gpus, "card")["watts"] == Decimal("72.1")
    row = first_match(api, "acme/one")
    assert row["wh_per_request"] == Decimal("0.1") != Decimal(0.1)
    assert row["gco2e_per_request"] == Decimal("1E-9")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f'gpus:\n  - {{match: "*h100*", gpu: H100, watts: 700, source: "{SOURCE}", published: 2022-03, tdp: 700}}\n',
         "energy.yaml: gpus entry 1 (*h100*): unknown key(s) tdp (known: match, gpu, watts, source, published, note)"),
        (f'gpus:\n  - {{match: a, gpu: A, watts: 1, source: "{SOURCE}", published: 2022-03}}\n  - {{gpu: H100, watts: 700, source: "{SOURCE}", published: 2022-03}}\n',
         "energy.yaml: gpus entry 2: missing match"),
        ('gpus:\n  - {match: "*h100*", gpu: H100, watts: 700}\n',
         "energy.yaml: gpus entry 1 (*h100*): missing source, published"),
        (f'gpus:\n  - {{match: "*h100*", gpu: H100, watts: -700, source: "{SOURCE}", published: 2022-03}}\n',
         "energy.yaml: gpus entry 1 (*h100*): watts must be a positive number with at most 9 decimals, got -700"),
        (f'gpus:\n  - {{match: "*h100*", gpu: H100, watts: 700W, source: "{SOURCE}", published: 2022-03}}\n',
         "energy.yaml: gpus entry 1 (*h100*): watts must be a positive number with at most 9 decimals, got '700W'"),
        (f'gpus:\n  - {{match: "*h100*", gpu: H100, watts: .nan, source: "{SOURCE}", published: 2022-03}}\n',
         "energy.yaml: gpus entry 1 (*h100*): watts must be a positive number with at most 9 decimals, got .nan"),
        (f'gpus:\n  - {{match: "*h100*", gpu: H100, watts: true, source: "{SOURCE}", published: 2022-03}}\n',
         "energy.yaml: gpus entry 1 (*h100*): watts must be a positive number with at most 9 decimals, got true"),
        (f'gpus:\n  - {{match: [], gpu: H100, watts: 700, source: "{SOURCE}", published: 2022-03}}\n',
         "energy.yaml: gpus entry 1: match must be a non-empty glob or a non-empty list of them, got []"),
        ('gpus:\n  - {match: "*h100*", gpu: H100, watts: 700, source: the datasheet, published: 2022-03}\n',
         "energy.yaml: gpus entry 1 (*h100*): source must be the URL the figure comes from, got 'the datasheet'"),
        (f'gpus:\n  - {{match: "*h100*", gpu: H100, watts: 700, source: "{SOURCE}", published: 2022-02-30}}\n',
         "energy.yaml: gpus entry 1 (*h100*): published must be the source's date, YYYY-MM-DD or YYYY-MM, got '2022-02-30'"),
        (f'gpus:\n  - {{match: "*h100*", gpu: H100, watts: 700, source: "{SOURCE}", published: March 2022}}\n',
         "energy.yaml: gpus entry 1 (*h100*): published must be the source's date, YYYY-MM-DD or YYYY-MM, got 'March 2022'"),
        (f'api:\n  - {{match: acme/one, applies_to: a prompt, source: "{SOURCE}", published: 2025-01}}\n',
         "energy.yaml: api entry 1 (acme/one): needs a published figure: wh_per_request, gco2e_per_request or both"),
        (f'api:\n  - {{match: acme/one, wh_per_request: 0, applies_to: a prompt, source: "{SOURCE}", published: 2025-01}}\n',
         "energy.yaml: api entry 1 (acme/one): wh_per_request must be a positive number with at most 9 decimals, got 0"),
        (f'api:\n  - {{match: acme/one, gco2e_per_request: 0.0000000001, applies_to: a prompt, source: "{SOURCE}", published: 2025-01}}\n',
         "energy.yaml: api entry 1 (acme/one): gco2e_per_request must be a positive number with at most 9 decimals, got 1E-10"),
        (f'api:\n  - {{match: acme/one, wh_per_request: 1, source: "{SOURCE}", published: 2025-01, watts: 3}}\n',
         "energy.yaml: api entry 1 (acme/one): unknown key(s) watts (known: match, wh_per_request, gco2e_per_request, applies_to, "
         "source, published, note)\nenergy.yaml: api entry 1 (acme/one): missing applies_to"),
        ("gpu:\n  - {match: a}\n", "energy.yaml: expected a mapping with gpus and/or api (lists of entries), got {'gpu': [{'match': 'a'}]}"),
        ("gpus: {match: a}\n", "energy.yaml: gpus must be a list of entries, got {'match': 'a'}"),
        ("gpus:\n  - just text\n", "energy.yaml: gpus entry 1: expected a mapping with the keys match, gpu, watts, source, published, got 'just text'"),
        ("gpus: [\n", "energy.yaml: not valid YAML"),
    ],
)
def test_each_validation_error_names_the_file_and_the_entry(tmp_path, text, expected):
    assert problem(tmp_path, text).startswith(expected)


def test_every_bad_entry_is_named_at_once(tmp_path):
    message = problem(tmp_path, f"""\
        gpus:
          - {{match: a, gpu: A, watts: 0, source: "{SOURCE}", published: 2024-01}}
          - {{match: b, gpu: B, watts: 1, source: "{SOURCE}", published: 2024-01}}
          - {{match: c, gpu: C, watts: 1, source: "{SOURCE}"}}
        api:
          - {{match: d, applies_to: x, source: "{SOURCE}", published: 2024-01}}
    """)
    assert [line.split(":")[1].strip() for line in message.splitlines()] == ["gpus entry 1 (a)", "gpus entry 3 (c)", "api entry 1 (d)"]
    assert issubclass(EnergyConfigError, ConfigError)


def test_an_empty_home_file_adds_nothing(tmp_path):
    shipped = load_energy(tmp_path)
    write_home(tmp_path, "# nothing yet\n")
    assert load_energy(tmp_path) == shipped
