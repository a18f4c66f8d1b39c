"""The README's examples of reading the warehouse (DuckDB from Python, Polars) run as printed against a real home.

Each Python block after a `<!-- tested by tests/test_readme_examples.py -->` line is taken from README.md as it is,
`./data` replaced by a home the pipeline built, and run in a fresh interpreter; its output must show the home's
spend. The home is built from tests/corpus/scenarios/day.jsonl: search $0.0091 (2 requests), support_chat $0.0035.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.runner import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- tested by tests/test_readme_examples.py -->"
BLOCKS = re.findall(re.escape(MARK) + r"\n```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from pipelines.ingest.privacy import create_key
    from pipelines.storage.home import Home

    home = Home.at(tmp_path_factory.mktemp("readme") / "data").ensure()
    create_key(home.secrets)
    landing = home.gateway_landing("envelope")
    landing.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "tests" / "corpus" / "scenarios" / "day.jsonl", landing / "day.jsonl")
    run_pipeline(home, progress=lambda _: None)
    return home


def _run(block: str, home) -> str:
    literal = '"./data/warehouse.duckdb"'
    assert literal in block
    code = block.replace(literal, repr(str(home.warehouse)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=home.root)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_readme_has_a_tested_duckdb_and_a_tested_polars_example():
    assert len(BLOCKS) == 2
    assert "import polars" not in BLOCKS[0] and "import polars" in BLOCKS[1]


def test_the_duckdb_example_prints_the_spend_per_feature(built):
    assert _run(BLOCKS[0], built).splitlines() == ["search: 0.009100", "support_chat: 0.003500"]


def test_the_polars_example_prints_requests_and_decimal_cost_per_feature(built):
    output = _run(BLOCKS[1], built)
    assert "decimal[38,15]" in output, output
    rows = [line.split("┆") for line in output.splitlines() if "┆" in line and "---" not in line]
    cells = [[cell.strip(" │") for cell in row] for row in rows]
    assert cells[2:] == [["search", "2", "0.009100000000000"], ["support_chat", "1", "0.003500000000000"]], output
