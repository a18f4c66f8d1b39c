"""`tokenledger prices ...` on real files: the genai-prices import, list, show, check, diff and coverage."""

from __future__ import annotations

import os
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.cli.main import main
from pipelines.pricing.book import load_price_book
from pipelines.pricing.imported_yaml import GENERATED_HEADER
from pipelines.settings import load_yaml
from pipelines.storage.home import shipped_dir

genai_prices = pytest.importorskip("genai_prices")
SHIPPED = shipped_dir("pricing")


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["prices", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def imported_book(tmp_path_factory) -> Path:
    """The shipped curated files plus a fresh import of the installed genai-prices, in a temp folder."""
    book = tmp_path_factory.mktemp("book")
    for path in (SHIPPED / "list").glob("*.yaml"):
        shutil.copy(path, book / path.name)
    assert main(["prices", "import-genai-prices", "--out", str(book / "imported")]) == 0
    return book


# --------------------------------------------------------------------------- import


def test_import_writes_generated_files_with_start_dates(imported_book):
    files = sorted(p.name for p in (imported_book / "imported").glob("*.yaml"))
    assert files == [f"{p}.yaml" for p in sorted(["openai", "anthropic", "google", "aws_bedrock", "azure_openai", "mistral", "deepseek", "xai"])]
    text = (imported_book / "imported" / "openai.yaml").read_text()
    assert text.startswith(f"{GENERATED_HEADER} from genai-prices {genai_prices.__version__}.")
    models = load_yaml(imported_book / "imported" / "openai.yaml")["models"]
    o3 = [version["effective_from"].isoformat() for version in models["o3"]["prices"]]
    assert o3[:2] == ["2025-04-16", "2025-06-10"]
    assert models["o3"]["prices"][0]["standard"]["cache_read"] == Decimal("2.5")


def test_import_applies_the_gpt_4o_2024_05_13_correction(imported_book):
    entry = load_yaml(imported_book / "imported" / "openai.yaml")["models"]["gpt-4o-2024-05-13"]
    first = entry["prices"][0]
    assert first["effective_from"].isoformat() == "2024-05-13"
    assert (first["standard"]["input"], first["standard"]["output"]) == (5, 15)
    assert first["source"] == "https://openai.com/index/introducing-structured-outputs-in-the-api/"
    assert "corrected: OpenAI's own announcement puts gpt-4o-2024-05-13 at $5/$15" in first["note"]
    assert all(v["standard"]["input"] == 5 for v in entry["prices"])


def test_corrections_file_drives_the_import(tmp_path, capsys):
    corrections = tmp_path / "pricing" / "corrections.yaml"
    corrections.parent.mkdir()
    corrections.write_text(textwrap.dedent("""
        corrections:
          - provider: mistral
            model: mistral-large
            reason: pinned for the test
            source: https://mistral.ai/pricing/api
            first_effective_from: 2024-07-24
            set:
              - tier: standard
                prices: {input: 3.00, output: 9.00}
          - provider: xai
            model: grok-3-mini-fast
            reason: dropped for the test
            source: https://docs.x.ai/docs/models
            drop: true
    """))
    code, out, _ = _run(capsys, "import-genai-prices", "--out", str(tmp_path / "imported"), "--corrections", str(corrections))
    assert code == 0, out
    book = load_price_book(tmp_path / "imported")
    row = book.rows_for("mistral", "mistral-large")[0]
    assert (row["input_per_mtok"], row["output_per_mtok"], str(row["effective_from"].date())) == (3, 9, "2024-07-24")
    assert row["note"].endswith("corrected: pinned for the test")
    assert book.resolve("xai", "grok-3-mini-fast") is None


def test_a_correction_for_a_model_genai_prices_lacks_fails_the_import(tmp_path, capsys):
    corrections = tmp_path / "corrections.yaml"
    corrections.write_text("corrections:\n  - {provider: openai, model: gpt-7, reason: r, source: https://x, drop: true}\n")
    code, _, err = _run(capsys, "import-genai-prices", "--out", str(tmp_path / "imported"), "--corrections", str(corrections))
    assert code == 1
    assert "corrections[0] openai/gpt-7: no such imported model" in err
    assert not (tmp_path / "imported").exists()


def test_shipped_imported_files_match_the_installed_genai_prices(imported_book):
    shipped = SHIPPED / "list" / "imported"
    header = (shipped / "openai.yaml").read_text().splitlines()[0]
    if genai_prices.__version__ not in header:
        pytest.skip(f"shipped files come from another genai-prices ({header}); re-run the import")
    for path in sorted(shipped.glob("*.yaml")):
        assert path.read_text() == (imported_book / "imported" / path.name).read_text(), f"{path.name} is stale: re-run the import"


# --------------------------------------------------------------------------- precedence


def test_curated_entries_beat_imported_ones(imported_book):
    book = load_price_book(imported_book)
    assert "imported/openai.yaml: openai/gpt-4o-2024-05-13" in book.shadowed
    assert {row["book_file"] for row in book.rows_for("openai", "gpt-4o-2024-05-13")} == {"openai.yaml"}
    # the curated snapshot claims the undated name `o3` as its alias, so the imported `o3` entry is left out
    assert "imported/openai.yaml: openai/o3" in book.shadowed
    assert book.resolve("openai", "o3") == "o3-2025-04-16"
    assert book.resolve("openai", "o3-2025-04-16") == "o3-2025-04-16"
    assert {row["book_file"] for row in book.rows_for("openai", "o3-2025-04-16")} == {"openai.yaml"}
    assert book.resolve("google", "gemini-1.5-flash-002") == "gemini-1.5-flash"


# --------------------------------------------------------------------------- list / show / check / diff


def test_list_prints_at_least_300_priced_models_one_per_line(capsys):
    code, out, _ = _run(capsys, "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) >= 300
    assert lines == sorted(set(lines))
    assert all(line.count("/") >= 1 and " " not in line for line in lines)
    assert {"openai/o3-2025-04-16", "aws_bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0", "xai/grok-4-0709", "deepseek/deepseek-chat"} <= set(lines)


def test_check_passes_on_the_shipped_book(capsys):
    code, out, _ = _run(capsys, "check")
    assert code == 0
    assert len(out.splitlines()) == 1 and out.startswith("price book OK: ")


def test_check_fails_and_prints_every_problem(tmp_path, capsys):
    (tmp_path / "acme.yaml").write_text(textwrap.dedent("""
        provider: acme
        models:
          acme-1:
            - effective_from: 2025-01-01
              source: https://acme.example
              standard: {input: -1, output: 2}
    """))
    bad_corrections = tmp_path / "pricing" / "corrections.yaml"
    bad_corrections.parent.mkdir()
    bad_corrections.write_text("corrections:\n  - {provider: acme, model: acme-1, source: https://x, set: [{tier: turbo, prices: {input: 1}}]}\n")
    code, out, _ = _run(capsys, "check", "--book", str(tmp_path), "--corrections", str(bad_corrections))
    assert code == 1
    assert "acme.yaml: missing 'currency'" in out
    assert "corrections.yaml: corrections[0] acme/acme-1: missing 'reason'" in out
    assert "corrections.yaml: corrections[0] acme/acme-1: set[0]: tier must be one of standard, batch, flex, priority" in out
    assert out.splitlines()[-1] == "3 problems in the price book"


@pytest.mark.parametrize("kind", ["device", "fifo", "folder", "missing"])
def test_a_corrections_path_that_is_not_a_file_is_named_as_such_not_read(tmp_path, capsys, kind):
    """/dev/zero was reported "not found"; a FIFO must not block the check."""
    path = {"device": Path("/dev/zero"), "fifo": tmp_path / "pipe", "folder": tmp_path, "missing": tmp_path / "gone.yaml"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    code, out, _ = _run(capsys, "check", "--corrections", str(path))
    assert code == 1
    expected = f"not found at {path}" if kind == "missing" else f"{path} is not a regular file (a folder, FIFO, socket or device)"
    assert f"{path.name}: {expected}" in out.splitlines()
    assert out.splitlines()[-1] == "1 problem in the price book"


@pytest.mark.parametrize("command", [["check"], ["list"], ["show", "gpt-4o"]])
def test_a_book_folder_that_does_not_exist_is_a_usage_error(tmp_path, capsys, command):
    """A mistyped --book said 'no price files found' and '1 problem in the price book', exit 1, as if the book were broken."""
    with pytest.raises(SystemExit) as exited:
        main(["prices", *command, "--book", str(tmp_path / "typo")])
    assert exited.value.code == 2
    assert f"argument --book: no folder at {tmp_path / 'typo'}" in capsys.readouterr().err


def test_show_prints_every_version_with_price_id_and_source(capsys):
    code, out, _ = _run(capsys, "show", "openai/o3-2025-04-16")
    assert code == 0
    assert "openai/o3-2025-04-16@2025-04-16/standard  input 10  cache_read 2.5  output 40" in out
    assert "openai/o3-2025-04-16@2025-06-10/standard  input 2  cache_read 0.5  output 8" in out
    assert "openai/o3-2025-04-16@2025-06-10/batch" in out and "openai/o3-2025-04-16@2025-06-10/flex" in out
    assert "from 2025-04-16 to 2025-06-10: https://openai.com/index/introducing-o3-and-o4-mini/" in out
    code, out, _ = _run(capsys, "show", "o3-2025-04-16")
    assert code == 0 and "openai/o3-2025-04-16@2025-04-16/standard" in out and "azure_openai/o3-2025-04-16" in out


def test_show_resolves_a_bedrock_regional_profile_to_the_same_model(capsys):
    code, out, _ = _run(capsys, "show", "us.anthropic.claude-3-5-sonnet-20241022-v2:0")
    assert code == 0
    assert out.startswith("aws_bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0  (as 'us.anthropic.claude-3-5-sonnet-20241022-v2:0', an alias)")
    assert "aws_bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0@" in out


def test_show_flags_an_unknown_model(capsys):
    code, out, _ = _run(capsys, "show", "gpt-6-preview")
    assert code == 1 and "not in the price book" in out and "never $0" in out


def test_diff_since_lists_the_o3_cut(capsys):
    code, out, _ = _run(capsys, "diff", "--since", "2025-06-01")
    assert code == 0
    assert "2025-06-10  openai/o3-2025-04-16  [openai.yaml]  (OpenAI cut o3 by 80% on 2025-06-10)" in out
    assert "    standard: input 10 -> 2, cache_read 2.5 -> 0.5, output 40 -> 8, reasoning 40 -> 8" in out
    assert "2024-10-01" not in out
    code, out, _ = _run(capsys, "diff", "--since", "2099-01-01")
    assert code == 0 and out.strip() == "no prices change on or after 2099-01-01"


# --------------------------------------------------------------------------- coverage


def test_coverage_without_a_warehouse_says_so(tmp_path, capsys):
    code, _, err = _run(capsys, "coverage", "--home", str(tmp_path / "nowhere"))
    assert code == 2 and "no warehouse at" in err and "tokenledger run" in err


def test_coverage_lists_unpriced_models_and_suggests_aliases(tmp_path, capsys):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("create schema marts")
        con.execute(
            """
            create table marts.price_coverage as
            select * from (values
                ('openai', 'gpt-6-preview', 'unknown_model', 'standard', 12::bigint, 9000::bigint,
                 timestamptz '2026-11-26 10:00:00+00', timestamptz '2026-11-27 10:00:00+00'),
                ('anthropic', 'claude-3-sonnet-20240229', 'unknown_model', 'standard', 3::bigint, 4000::bigint,
                 timestamptz '2026-11-26 10:00:00+00', timestamptz '2026-11-26 11:00:00+00')
            ) as t(provider, model, unpriced_reasons, service_tiers, requests, tokens, first_seen, last_seen)
            """
        )
    code, out, _ = _run(capsys, "coverage", "--home", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[2].split()[:3] == ["openai/gpt-6-preview", "12", "9,000"]
    assert "anthropic/claude-3-sonnet-20240229" in lines[3]
    assert "a match rule says anthropic/claude-3-sonnet: add 'claude-3-sonnet-20240229' as its alias" in lines[3]
    assert lines[4].startswith(f"price a model the book lacks in {tmp_path / 'prices'}/*.yaml")
