"""Issue #17, "batch/flex/priority history before 2026-10-12": genai-prices 0.2.3 dates most tier prices from the day
it added them (2026-10-12 / 14 / 15). `tier_history` in pricing/corrections.yaml carries a tier's first imported block
back to the model's earlier versions whose standard block is exactly the same, for the providers whose tier is a fixed
discount on standard. Real-shaped requests are priced by hand through the shipped book and through the pipeline; a
synthetic book exercises the rule's edges.

Sources: OpenAI's Batch API costs 50% of the synchronous price (platform.openai.com/docs/guides/batch) and flex is
priced at Batch API rates (platform.openai.com/docs/guides/flex-processing); Anthropic's Message Batches API costs 50%
less than standard calls (anthropic.com/news/message-batches-api); Gemini Batch Mode is 50% of the standard rate
(developers.googleblog.com, 2025-07-07) and Flex inference 50% less than standard (ai.google.dev/gemini-api/docs/
optimization). OpenAI's priority price is set per model: it is carried back only for gpt-5.4 and gpt-5.4-mini (OpenAI's
pricing page as read on 2026-03-28, github.com/BerriAI/litellm/pull/24748) and gpt-5.5 (OpenAI's priority processing
page on 2026-05-21, github.com/BerriAI/litellm/pull/28449). Usage objects: tests/fixtures/formats.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from helpers import envelope, land, sample_usage
from test_platform_tiers import bucket_prices, request_cost

from pipelines.pricing.book import load_price_book
from pipelines.pricing.corrections import corrections_file_problems
from pipelines.pricing.genai_import import ImportedModel, ImportResult
from pipelines.pricing.imported_yaml import UNDATED_FROM, render_imported_file
from pipelines.pricing.tier_history import tier_history
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home, shipped_dir


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def book():
    return load_price_book()


# --------------------------------------------------------------------------- by hand, through the shipped book


def test_an_openai_gpt_5_1_batch_request_from_before_the_import_is_priced_at_the_batch_price(book):
    """The OpenAI sample response on `gpt-5.1` in batch on 2026-04-01: 2,006 prompt tokens of which 1,920 cached, 300
    completion tokens. genai-prices' batch block (from 2026-10-14) is carried back to the undated version, whose
    standard prices ($1.25 / $0.125 cached / $10) are the same: 86 x 0.625 + 1,920 x 0.0625 + 300 x 5 = 53.75 + 120 +
    1,500 = 1,673.75 per 1M. Before the rule this request was unpriced (no batch price before 2026-10-14). (This test
    used gpt-4o, whose history the book now curates: it served gpt-4o-2024-05-13 at $5 / $15 until 2024-10-02.)"""
    batch = book.lookup("openai", "gpt-5.1", _at("2026-04-01"), "batch", 2006)
    assert request_cost(batch, input=86, cache_read=1920, output=300) == Decimal("0.00167375")
    assert batch["price_id"] == "openai/gpt-5.1@undated/batch"
    assert "batch: as from 2026-10-14 (https://platform.openai.com/docs/guides/batch)" in batch["note"]
    assert bucket_prices(batch) == bucket_prices(book.lookup("openai", "gpt-5.1", _at("2026-11-27"), "batch", 2006))


def test_an_anthropic_batch_request_gets_the_batch_price_only_where_standard_is_the_same(book):
    """Claude Opus 4.6 on the Anthropic sample usage (120 input, 8,000 cache reads, 1,500 5-minute and 500 1-hour cache
    writes, 350 output) in batch on 2026-04-01: the 2026-03-13 version has the standard price of the 2026-10-14 one,
    so it gains its batch block: 120 x 2.5 + 8,000 x 0.25 + 1,500 x 3.125 + 500 x 5 + 350 x 12.5 = 300 + 2,000 +
    4,687.5 + 2,500 + 4,375 = 13,862.5 per 1M. The undated version before it has a >200K band the later ones lack, so
    it keeps no batch price: a batch request on 2026-03-01 stays unpriced."""
    batch = book.lookup("anthropic", "claude-opus-4-6", _at("2026-04-01"), "batch", 10120)
    tokens = {"input": 120, "cache_read": 8000, "cache_write_5m": 1500, "cache_write_1h": 500, "output": 350}
    assert request_cost(batch, **tokens) == Decimal("0.0138625")
    assert batch["price_id"] == "anthropic/claude-opus-4-6@2026-03-13/batch"
    assert "Message Batches API" in batch["note"]
    assert book.lookup("anthropic", "claude-opus-4-6", _at("2026-03-01"), "batch", 10120) is None
    assert book.lookup("anthropic", "claude-opus-4-6", _at("2026-03-01"), "standard", 10120) is not None


def test_a_gemini_batch_and_flex_request_before_genai_prices_dates_are_priced(book):
    """gemini-2.5-flash in batch on 2025-09-01 (Batch Mode launched 2025-07-07): 1,000 input and 200 output tokens at
    $0.15 / $1.25, half of standard: 150 + 250 = 400 per 1M."""
    batch = book.lookup("google", "gemini-2.5-flash", _at("2025-09-01"), "batch")
    assert request_cost(batch, input=1000, output=200) == Decimal("0.0004")
    assert batch["price_id"] == "google/gemini-2.5-flash@undated/batch"
    # genai-prices' own Gemini flex prices (the 3.8 Flash TTS models), carried back; the other Gemini flex prices come
    # from the platform_tiers rule and follow every standard version (tests/test_price_service_tiers.py)
    tts = {"gemini-3.8-flash-tts", "gemini-3.8-flash-lite-tts"}
    flex = [r for r in book.prices.to_pylist() if r["provider"] == "google" and r["service_tier"] == "flex" and r["model"] in tts]
    assert flex and all(r["effective_from"] is None or r["effective_from"].date() >= dt.date(2026, 10, 15) for r in flex)
    assert any(r["effective_from"] is None for r in flex)


def test_o3_before_its_2025_06_10_cut_keeps_no_batch_or_flex_price():
    """The imported o3 (the curated o3-2025-04-16 wins in the shipped book, so read the imported files alone): the
    2025-04-16 version is $10 / $2.50 cached / $40, not the $2 / $0.50 / $8 of the versions that price batch and flex,
    so it gains neither; the 2025-06-10 version gains both."""
    imported = load_price_book(shipped_dir("pricing") / "list" / "imported")
    for tier in ("batch", "flex"):
        assert imported.lookup("openai", "o3", _at("2025-05-01"), tier) is None
        row = imported.lookup("openai", "o3", _at("2025-07-01"), tier)
        assert (row["price_id"], row["input_per_mtok"], row["output_per_mtok"]) == (f"openai/o3@2025-06-10/{tier}", 1, 4)
    assert imported.lookup("openai", "o3", _at("2025-05-01"), "standard")["input_per_mtok"] == 10


def test_priority_and_the_providers_without_a_rule_keep_genai_prices_dates(book):
    """No source ties OpenAI's priority price in general, xAI's or Mistral's batch price to the standard price: they
    still start when genai-prices added them (gpt-4o's priority price has no dated record of OpenAI's page)."""
    before = _at("2026-10-01")
    assert book.lookup("openai", "gpt-4o", before, "priority") is None
    assert book.lookup("openai", "gpt-4.1-2025-04-14", before, "priority") is None
    assert book.lookup("openai", "gpt-4o", _at("2026-10-12"), "priority") is not None
    assert book.lookup("xai", "grok-4.20", before, "batch") is None
    assert book.lookup("mistral", "mistral-large-latest", before, "batch") is None


def test_openai_priority_history_where_a_dated_record_of_the_price_exists(book):
    """gpt-5.4 in priority on 2026-05-01, a Responses usage of 10,000 input tokens (6,000 of them cached) and 800
    output tokens. OpenAI's priority price as its pricing page was read on 2026-03-28 and 2026-04-03 (LiteLLM pull
    requests 24748 and 25003): $5.00 / cached $0.50 / $30.00, the price genai-prices gives from 2026-10-12:
    4,000 x 5.00 + 6,000 x 0.50 + 800 x 30.00 = 20,000 + 3,000 + 24,000 = 47,000 per 1M ($0.047).
    gpt-5.4-mini ($1.50 / $0.15 / $9.00): 6,000 + 900 + 7,200 = 14,100 per 1M. gpt-5.5 on 2026-06-01 ($12.50 / $1.25 /
    $75.00, OpenAI's priority processing page on 2026-05-21, LiteLLM pull request 28449): 50,000 + 7,500 + 60,000 =
    117,500 per 1M."""
    tokens = {"input": 4000, "cache_read": 6000, "output": 800}
    gpt54 = book.lookup("openai", "gpt-5.4", _at("2026-05-01"), "priority", 10000)
    mini = book.lookup("openai", "gpt-5.4-mini", _at("2026-05-01"), "priority", 10000)
    gpt55 = book.lookup("openai", "gpt-5.5", _at("2026-06-01"), "priority", 10000)
    assert [request_cost(r, **tokens) for r in (gpt54, mini, gpt55)] == [Decimal("0.047"), Decimal("0.0141"), Decimal("0.1175")]
    assert gpt54["price_id"] == "openai/gpt-5.4@undated/priority" and gpt55["price_id"] == "openai/gpt-5.5@undated/priority"
    assert "priority: as from 2026-10-12 (https://github.com/BerriAI/litellm/pull/24748)" in gpt54["note"]
    assert "https://github.com/BerriAI/litellm/pull/28449" in gpt55["note"]


def test_the_dated_gpt_4o_snapshots_price_priority_like_their_undated_name(book):
    """OpenAI's responses name the snapshot that served them, so a curated snapshot must not lose a tier its imported
    twin has. A priority request on 2026-11-27 of 2,006 prompt tokens (1,920 cached) and 300 completion tokens on
    `gpt-4o-2024-11-20` at $4.25 / cached $2.125 / $17 (genai-prices 0.2.3 from 2026-10-12, as on `gpt-4o`; LiteLLM
    1.110.2 the same on the snapshot): 86 x 4.25 + 1,920 x 2.125 + 300 x 17 = 365.5 + 4,080 + 5,100 = 9,545.5 per 1M.
    `gpt-4o-2024-05-13` ($8.75 / $26.25, no cache price, listed by name on OpenAI's priority table): 2,006 x 8.75 +
    300 x 26.25 = 17,552.5 + 7,875 = 25,427.5 per 1M. Both were unpriced in priority before (the curated entries
    dropped the tier their imported twins had). `gpt-4o-2024-08-06` is left without it: a new version would rename
    the standard price_id of pricing/README.md's worked example (see "Known gaps" there)."""
    at = _at("2026-11-27")
    rows = {name: book.lookup("openai", name, at, "priority", 2006) for name in ("gpt-4o", "gpt-4o-2024-11-20")}
    assert {name: request_cost(row, input=86, cache_read=1920, output=300) for name, row in rows.items()} == dict.fromkeys(
        rows, Decimal("0.0095455")
    )
    assert rows["gpt-4o-2024-11-20"]["price_id"] == "openai/gpt-4o-2024-11-20@2026-10-12/priority"
    old = book.lookup("openai", "gpt-4o-2024-05-13", at, "priority", 2006)
    assert request_cost(old, input=2006, output=300) == Decimal("0.0254275")
    assert book.lookup("openai", "gpt-4o-2024-11-20", _at("2026-10-11"), "priority", 2006) is None  # no dated record before
    assert book.lookup("openai", "gpt-4o-2024-11-20", at, "standard", 2006)["price_id"] == "openai/gpt-4o-2024-11-20@2026-10-12/standard"


# --------------------------------------------------------------------------- through the pipeline


def test_tier_history_requests_are_priced_by_the_pipeline(home: Home):
    chat = sample_usage("openai_chat_completions_usage.json")  # 2006 prompt (1920 cached), 300 completion
    messages = sample_usage("anthropic_messages_usage.json")  # 120 in, 8000 cache read, 1500 + 500 cache write, 350 out
    when = "2026-04-01T09:00:00Z"
    lines = [
        envelope("oa-batch", "openai", "gpt-5.1", chat, service_tier="batch", timestamp=when),
        envelope("an-batch", "anthropic", "claude-opus-4-6", messages, service_tier="batch", timestamp=when),
        envelope("luna-batch", "openai", "gpt-5.6-luna", chat, service_tier="batch", timestamp=when),
    ]
    land(home, "tier_history.jsonl", lines)
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert con.execute("select reason from audit.rejected_rows").fetchall() == []
        rows = {r[0]: r[1:] for r in con.execute(
            "select request_id, price_id, cost_usd, unpriced_reason, price_confidence from core.request_costs").fetchall()}
    priced = {k: (v[0], v[1].normalize() if v[1] is not None else None, v[2], v[3]) for k, v in rows.items()}
    assert priced == {
        "oa-batch": ("openai/gpt-5.1@undated/batch", Decimal("0.00167375"), None, "undated"),
        "an-batch": ("anthropic/claude-opus-4-6@2026-03-13/batch", Decimal("0.0138625"), None, "dated"),
        # gpt-5.6-luna's undated standard price ($1) is not the $0.20 of the versions that price batch
        "luna-batch": (None, None, "no_price_at_time", None),
    }


# --------------------------------------------------------------------------- the rule's edges, on a synthetic book

STANDARD = {"input": Decimal("2"), "cache_read": Decimal("0.5"), "output": Decimal("8"), "web_search_per_1k": Decimal("10")}
BATCH = {"input": Decimal("1"), "cache_read": Decimal("0.5"), "output": Decimal("4"), "web_search_per_1k": Decimal("10")}


def _version(start: dt.date, **blocks) -> dict:
    return {"effective_from": start, "source": "https://example.com/list", "note_parts": [], **blocks}


def _synthetic() -> dict:
    """One provider, five models: the same standard throughout; a price cut; a long-context band that differs; a
    fee that differs; time-of-day windows."""
    cliff = {**STANDARD, "long_context": {"above_input_tokens": 200000, "input": Decimal("4"), "output": Decimal("12")}}
    model = lambda name, versions: ImportedModel("acme", name, name, [], [], versions)  # noqa: E731
    return {"acme": [
        model("same", [_version(UNDATED_FROM, standard=dict(STANDARD)), _version(dt.date(2025, 3, 1), standard=dict(STANDARD)),
                       _version(dt.date(2026, 10, 14), standard=dict(STANDARD), batch=dict(BATCH))]),
        model("cut", [_version(UNDATED_FROM, standard={**STANDARD, "input": Decimal("10")}),
                      _version(dt.date(2025, 6, 10), standard=dict(STANDARD)),
                      _version(dt.date(2026, 10, 14), standard=dict(STANDARD), batch=dict(BATCH))]),
        model("band", [_version(UNDATED_FROM, standard=cliff), _version(dt.date(2026, 10, 14), standard=dict(STANDARD), batch=dict(BATCH))]),
        model("fee", [_version(UNDATED_FROM, standard={**STANDARD, "web_search_per_1k": Decimal("25")}),
                      _version(dt.date(2026, 10, 14), standard=dict(STANDARD), batch=dict(BATCH))]),
        model("hours", [_version(UNDATED_FROM, standard=dict(STANDARD), windows=[{"utc": "16:30-00:30", "standard": dict(BATCH)}]),
                        _version(dt.date(2026, 10, 14), standard=dict(STANDARD), batch=dict(BATCH))]),
    ]}


def _rule(**overrides) -> dict:
    return {"provider": "acme", "tiers": ["batch"], "reason": "batch is half of standard", "source": "https://example.com/batch",
            **overrides}


def test_the_rule_copies_only_to_versions_with_the_same_standard_block(tmp_path):
    book, result = _synthetic(), ImportResult(version="test", files=[], models={})
    assert tier_history(book, _rule(), "tier_history[0] acme", result) == []
    assert result.platform == ["tier_history[0] acme/batch: carried back to 3 earlier versions of 2 models; 3 earlier "
                               "versions with another standard price left without batch; 1 with time-of-day windows skipped"]
    (tmp_path / "acme.yaml").write_text(render_imported_file("acme", book["acme"], "test", ["acme"]))
    priced = load_price_book(tmp_path)
    found = {(name, day): priced.lookup("acme", name, _at(day), "batch")
             for name in ("same", "cut", "band", "fee", "hours") for day in ("2024-01-01", "2025-07-01")}
    assert {key for key, row in found.items() if row is not None} == {("same", "2024-01-01"), ("same", "2025-07-01"), ("cut", "2025-07-01")}
    row = found[("same", "2024-01-01")]
    assert (row["price_id"], row["input_per_mtok"], row["web_search_per_1k"]) == ("acme/same@undated/batch", 1, 10)
    assert row["note"] == "batch: as from 2026-10-14 (https://example.com/batch): batch is half of standard"
    assert found[("cut", "2025-07-01")]["price_id"] == "acme/cut@2025-06-10/batch"


def test_a_models_list_limits_the_rule_and_names_what_it_cannot_apply():
    book, result = _synthetic(), ImportResult(version="test", files=[], models={})
    problems = tier_history(book, _rule(tiers=["batch", "flex"], models=["same", "ghost"]), "tier_history[2] acme", result)
    assert problems == ["tier_history[2] acme: ghost: no such imported model",
                        "tier_history[2] acme/flex: same has no flex price to carry back: take it off the list"]
    assert result.platform[0] == "tier_history[2] acme/batch: carried back to 2 earlier versions of 1 model"
    assert "batch" not in book["acme"][1].versions[1]  # "cut" is not on the list
    assert tier_history(book, _rule(provider="nobody"), "tier_history[3] nobody", result) == [
        "tier_history[3] nobody: no imported provider nobody (known: acme)"]


def test_a_bad_rule_is_refused_by_the_check_naming_the_rule(tmp_path):
    path = tmp_path / "corrections.yaml"
    path.write_text(textwrap.dedent("""
        tier_history:
          - {provider: openai, tiers: [batch], reason: r, source: https://x}
          - {provider: openai, tiers: [standard, turbo], reason: r, source: https://x, since: 2024-04-15}
          - {provider: 7, tiers: batch, models: [a, a], source: https://x, checked: soon}
          - {provider: google, tiers: [flex, flex], reason: r, source: https://x, models: []}
          - just text
    """))
    assert corrections_file_problems(path) == [
        "corrections.yaml: tier_history[1] openai: unknown key 'since' (known: checked, models, provider, reason, source, tiers)",
        "corrections.yaml: tier_history[1] openai: tiers must be a non-empty list of batch, flex, priority, got ['standard', 'turbo']",
        "corrections.yaml: tier_history[2] 7: missing 'reason'",
        "corrections.yaml: tier_history[2] 7: provider must be text, got 7",
        "corrections.yaml: tier_history[2] 7: tiers must be a non-empty list of batch, flex, priority, got 'batch'",
        "corrections.yaml: tier_history[2] 7: models lists a more than once",
        "corrections.yaml: tier_history[2] 7: checked is not a date (YYYY-MM-DD)",
        "corrections.yaml: tier_history[3] google: tiers lists flex more than once",
        "corrections.yaml: tier_history[3] google: models must be a non-empty list of model names, got []",
        "corrections.yaml: tier_history[4]: expected a mapping",
    ]


def test_the_import_applies_the_rule_and_fails_naming_it(tmp_path):
    """Through the real import: a rule for a model genai-prices lacks stops it, naming the rule; the shipped rules
    report what they carried back."""
    pytest.importorskip("genai_prices")
    from pipelines.pricing.book import PriceBookError
    from pipelines.pricing.genai_import import import_genai_prices

    path = tmp_path / "corrections.yaml"
    path.write_text("tier_history:\n  - {provider: openai, tiers: [batch], models: [gpt-7], reason: r, source: https://x}\n")
    with pytest.raises(PriceBookError, match=r"tier_history\[0\] openai: gpt-7: no such imported model"):
        import_genai_prices(tmp_path / "imported", path)
    result = import_genai_prices(tmp_path / "imported", shipped_dir("pricing") / "corrections.yaml")
    assert [line for line in result.platform if line.startswith("tier_history")] == [
        "tier_history[0] openai/batch: carried back to 71 earlier versions of 45 models; 4 earlier versions with another "
        "standard price left without batch",
        "tier_history[1] openai/flex: carried back to 20 earlier versions of 20 models; 4 earlier versions with another "
        "standard price left without flex",
        "tier_history[2] anthropic/batch: carried back to 14 earlier versions of 14 models; 2 earlier versions with another "
        "standard price left without batch",
        "tier_history[3] google/batch: carried back to 20 earlier versions of 20 models; 2 earlier versions with another "
        "standard price left without batch",
        "tier_history[4] google/flex: carried back to 2 earlier versions of 2 models",
        "tier_history[5] openai/priority: carried back to 2 earlier versions of 2 models",
        "tier_history[6] openai/priority: carried back to 1 earlier version of 1 model",
    ]
    assert Path(tmp_path / "imported" / "openai.yaml").is_file()
