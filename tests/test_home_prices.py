"""A home's own price files, `<home>/prices/*.yaml` (pricing/README.md, "Prices of your own"): a model the shipped
book lacks (released after it, or a fine-tuned model) is priced from the home's file at the next run or re-price,
named by its price_id and file; a home entry wins over a shipped model of the same name; a bad file stops the run
before it starts, naming the file. Before, a model the book did not know could not be priced at all: a negotiated
price only changes a known model's price, so a `unpriced: block` month could not be closed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
from helpers import envelope, land

from pipelines.cli.main import main
from pipelines.pricing.book import load_price_book
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

DAY = dt.date(2026, 11, 27)
USAGE = {"prompt_tokens": 12000, "completion_tokens": 800, "prompt_tokens_details": {"cached_tokens": 2000}}
OWN = """\
provider: openai
currency: USD
models:
  gpt-6-preview:
    aliases: [gpt-6-preview-latest]
    prices:
      - effective_from: 2026-11-01
        source: https://example.com/our-order-form
        standard: {input: 1.50, cache_read: 0.15, output: 9.00}
  gpt-4o-2024-08-06:                 # a shipped model: the home's price wins
    - effective_from: 2024-08-06
      source: https://example.com/our-order-form
      standard: {input: 2.00, cache_read: 1.00, output: 8.00}
"""


def _quiet(_: str) -> None:
    return None


def _costs(home: Home) -> dict:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = con.execute("select request_id, price_id, cost_usd, unpriced_reason from core.request_costs").fetchall()
    return {r[0]: (r[1], r[2].normalize() if r[2] is not None else None, r[3]) for r in rows}


def test_a_model_the_book_lacks_is_priced_from_the_homes_own_file(home: Home):
    land(home, "day.jsonl", [
        envelope("new", "openai", "gpt-6-preview", USAGE, timestamp=f"{DAY}T10:00:00Z"),
        envelope("alias", "openai", "gpt-6-preview-latest", USAGE, timestamp=f"{DAY}T10:01:00Z"),
        envelope("known", "openai", "gpt-4o-2024-08-06", USAGE, timestamp=f"{DAY}T10:02:00Z"),
    ])
    run_pipeline(home, progress=_quiet)
    # list prices: gpt-4o-2024-08-06 10,000 x 2.50 + 2,000 x 1.25 + 800 x 10 = 25,000 + 2,500 + 8,000 = 35,500 per 1M
    assert _costs(home) == {
        "new": (None, None, "unknown_model"),
        "alias": (None, None, "unknown_model"),
        "known": ("openai/gpt-4o-2024-08-06@2024-10-01/standard", Decimal("0.0355"), None),
    }
    (home.root / "prices").mkdir()
    (home.root / "prices" / "ours.yaml").write_text(OWN)
    run_pipeline(home, start=DAY, end=DAY, progress=_quiet)
    # gpt-6-preview: 10,000 x 1.50 + 2,000 x 0.15 + 800 x 9 = 15,000 + 300 + 7,200 = 22,500 per 1M
    # gpt-4o-2024-08-06 at the home's price: 10,000 x 2 + 2,000 x 1 + 800 x 8 = 20,000 + 2,000 + 6,400 = 28,400 per 1M
    assert _costs(home) == {
        "new": ("openai/gpt-6-preview@2026-11-01/standard", Decimal("0.0225"), None),
        "alias": ("openai/gpt-6-preview@2026-11-01/standard", Decimal("0.0225"), None),
        "known": ("openai/gpt-4o-2024-08-06@2024-08-06/standard", Decimal("0.0284"), None),
    }
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select distinct book_file, source from reference.prices where model = 'gpt-6-preview'").fetchall() == [
            ("prices/ours.yaml", "https://example.com/our-order-form")]


def test_a_bad_home_price_file_stops_the_run_naming_the_file(tmp_path, capsys):
    assert main(["init", "--home", str(tmp_path / "h")]) == 0
    (tmp_path / "h" / "prices").mkdir()
    (tmp_path / "h" / "prices" / "ours.yaml").write_text(OWN.replace("input: 1.50", "input: lots"))
    capsys.readouterr()
    assert main(["run", "--home", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err
    # one problem is one line naming the file, the entry and the field (it was "invalid price book:" and the problem
    # after an escaped newline, on one line)
    assert err.startswith("tokenledger: prices/ours.yaml: openai/gpt-6-preview") and "input" in err, err
    assert len(err.strip().splitlines()) == 1 and "\\n" not in err and "invalid price book" not in err, err
    # the prices commands read the home's files too
    (tmp_path / "h" / "prices" / "ours.yaml").write_text(OWN)
    assert main(["prices", "show", "openai/gpt-6-preview", "--home", str(tmp_path / "h")]) == 0
    assert "openai/gpt-6-preview@2026-11-01/standard" in capsys.readouterr().out


def test_the_shipped_book_alone_does_not_know_the_homes_models(tmp_path):
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "ours.yaml").write_text(OWN)
    assert load_price_book().resolve("openai", "gpt-6-preview") is None
    assert load_price_book(home_root=tmp_path).resolve("openai", "gpt-6-preview") == "gpt-6-preview"
    assert "prices/ours.yaml" in load_price_book(home_root=tmp_path).files


def _home_book(tmp_path, files: dict[str, str]):
    folder = tmp_path / "prices"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return load_price_book(home_root=tmp_path)


O3 = """\
provider: openai
currency: USD
models:
  o3-2025-04-16:
    - effective_from: 2025-04-16
      source: https://example.com/our-order-form
      standard: {input: 1.00, output: 4.00}
"""


def test_a_replaced_shipped_entry_no_longer_hides_what_its_aliases_hid(tmp_path):
    """The shipped curated o3-2025-04-16 answers to `o3` and so hides the imported `o3`. A home entry that replaces
    it (without that alias) left `o3` unknown to every layer: its requests became unknown_model."""
    assert load_price_book().resolve_exact("openai", "o3") == "o3-2025-04-16"
    book = _home_book(tmp_path, {"o3.yaml": O3})
    assert book.resolve_exact("openai", "o3-2025-04-16") == "o3-2025-04-16"
    assert book.rows_for("openai", "o3-2025-04-16")[0]["book_file"] == "prices/o3.yaml"
    assert book.resolve_exact("openai", "o3") == "o3"  # the imported entry answers to it again
    assert "imported/openai.yaml: openai/o3" not in book.shadowed


def test_home_price_files_refuse_another_currency_skip_dot_files_and_read_yml(tmp_path):
    import pytest

    from pipelines.pricing.book import PriceBookError

    (tmp_path / "prices").mkdir()
    os_link = tmp_path / "prices" / ".#ours.yaml"  # an editor's lock file while ours.yaml is edited: a dangling symlink
    os_link.symlink_to("root@host.1234:1700000000")
    (tmp_path / "prices" / "._ours.yaml").write_bytes(b"\x00\x05\x16\x07")  # a macOS AppleDouble file
    assert load_price_book(home_root=tmp_path).resolve("openai", "gpt-6-preview") is None
    assert _home_book(tmp_path, {"ours.yml": OWN}).resolve("openai", "gpt-6-preview") == "gpt-6-preview"
    with pytest.raises(PriceBookError, match=r"prices/euro\.yaml: currency EUR: prices must be in USD"):
        _home_book(tmp_path, {"euro.yaml": O3.replace("USD", "EUR").replace("o3-2025-04-16", "o9")})


def test_home_price_files_over_the_size_limit_are_named(tmp_path):
    import pytest

    from pipelines.pricing.book import PriceBookError

    (tmp_path / "prices").mkdir()
    for n in range(9):
        (tmp_path / "prices" / f"big{n}.yaml").write_text("# " + "x" * 1_000_000 + "\n")
    with pytest.raises(PriceBookError, match=r"Largest: prices/big\d\.yaml \(1,000,003 bytes\)"):
        load_price_book(home_root=tmp_path)


SONNET = """\
provider: anthropic
currency: USD
models:
  our-sonnet:
    aliases: [claude-sonnet-4-5-20250929]   # the home prices the shipped model's dated name under its own entry
    prices:
      - effective_from: 2025-09-29
        source: https://example.com/our-order-form
        standard: {input: 2.00, cache_read: 0.20, cache_write_5m: 2.50, cache_write_1h: 4.00, output: 10.00}
"""


def test_a_same_as_entry_copies_the_price_the_home_gives_its_target_name(tmp_path):
    """Vertex's `claude-sonnet-4-5@20250929` is priced as `anthropic/claude-sonnet-4-5-20250929`. When the home's own
    entry takes that name as an alias, Anthropic's requests got the home's price but the Vertex copy kept the shipped
    one: the copy looked its target up among every entry, the shadowed shipped one included."""
    shipped = [row for row in load_price_book().rows_for("google", "claude-sonnet-4-5@20250929") if row["service_tier"] == "standard"]
    assert {(row["input_per_mtok"], row["output_per_mtok"]) for row in shipped} == {(Decimal(3), Decimal(15)), (Decimal(6), Decimal("22.5"))}
    book = _home_book(tmp_path, {"sonnet.yaml": SONNET})
    assert book.resolve_exact("anthropic", "claude-sonnet-4-5-20250929") == "our-sonnet"
    vertex = book.rows_for("google", "claude-sonnet-4-5@20250929")
    assert {(row["service_tier"], row["input_per_mtok"], row["output_per_mtok"]) for row in vertex} == {("standard", 2, 10)}
    assert all("same price as anthropic/claude-sonnet-4-5-20250929" in row["note"] for row in vertex)


def test_a_price_file_rewritten_at_the_same_size_and_time_is_read_again(tmp_path):
    """A long-lived process (Dagster's) reuses the book while its files are unchanged. It judged that by name, size and
    modification time, so a file rewritten within one tick of the clock at the same size kept the old prices."""
    import os

    first = _home_book(tmp_path, {"o3.yaml": O3})
    assert first.rows_for("openai", "o3-2025-04-16")[0]["input_per_mtok"] == 1
    path = tmp_path / "prices" / "o3.yaml"
    stat = path.stat()
    path.write_text(O3.replace("input: 1.00", "input: 7.00"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert load_price_book(home_root=tmp_path).rows_for("openai", "o3-2025-04-16")[0]["input_per_mtok"] == 7
