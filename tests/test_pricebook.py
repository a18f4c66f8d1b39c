"""The shipped price book validates and prices what it should; each kind of mistake is reported with its file and entry."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal

import pytest

from pipelines.demo.gateway import UNKNOWN_MODELS
from pipelines.pricing.book import BUCKETS, PriceBookError, load_price_book


def _book(tmp_path, body: str, name: str = "acme.yaml"):
    folder = tmp_path / "book"
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    return folder


def _utc(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc)


def _cost(row: dict, **tokens: int) -> Decimal:
    """What core.request_costs charges: tokens x price per 1M, every bucket at the matched row's price."""
    return sum((Decimal(n) * row[f"{bucket}_per_mtok"] * Decimal("0.000001") for bucket, n in tokens.items()), Decimal(0))


@pytest.fixture(scope="module")
def book():
    return load_price_book()


VALID = """
    provider: acme
    currency: USD
    models:
      acme-1:
        - effective_from: 2025-01-01
          source: https://acme.example/pricing
          standard: {input: 1.10, cache_read: 0.275, output: 4.40}
        - effective_from: 2025-06-10
          source: https://acme.example/pricing
          standard: {input: 0.55, output: 2.20}
          batch: {input: 0.275, output: 1.10}
"""


# --------------------------------------------------------------------------- the shipped book


def test_shipped_book_validates_and_covers_the_demo_models(book):
    models = {model for _, model in book.models}
    assert {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "o3-2025-04-16", "claude-sonnet-4-5-20250929", "claude-3-5-sonnet-20241022"} <= models
    ids = book.prices["price_id"].to_pylist()
    assert len(ids) == len(set(ids))
    assert all(book.prices["source"].to_pylist())
    assert set(book.prices["currency"].to_pylist()) == {"USD"}


def test_shipped_book_covers_at_least_300_models_of_eight_providers(book):
    assert len(book.models) >= 300
    assert {"openai", "anthropic", "google", "aws_bedrock", "azure_openai", "mistral", "deepseek", "xai"} <= set(book.providers)
    assert any(name.startswith("imported/") for name in book.files)


def test_o3_is_priced_on_both_sides_of_the_2025_06_10_cut(book):
    before = book.lookup("openai", "o3-2025-04-16", _utc("2025-06-09T23:59:59"))
    after = book.lookup("openai", "o3-2025-04-16", _utc("2025-06-10T00:00:00"))
    assert before["price_id"] == "openai/o3-2025-04-16@2025-04-16/standard"
    assert (before["input_per_mtok"], before["cache_read_per_mtok"], before["output_per_mtok"]) == (10, Decimal("2.5"), 40)
    assert after["price_id"] == "openai/o3-2025-04-16@2025-06-10/standard"
    assert (after["input_per_mtok"], after["cache_read_per_mtok"], after["output_per_mtok"]) == (2, Decimal("0.5"), 8)
    assert _cost(before, input=1_000_000, output=100_000) == Decimal(14)
    assert _cost(after, input=1_000_000, output=100_000) == Decimal("2.8")
    # the imported alias `o3` follows the same cut, with the corrected launch cache price
    assert book.lookup("openai", "o3", _utc("2025-05-01"))["cache_read_per_mtok"] == Decimal("2.5")
    assert book.lookup("openai", "o3", _utc("2025-07-01"))["input_per_mtok"] == 2
    assert book.lookup("openai", "o3", _utc("2025-04-15")) is None


def test_anthropic_batch_is_half_of_standard_for_every_bucket(book):
    rows = [r for r in book.prices.to_pylist() if r["provider"] == "anthropic"]
    standard = {(r["model"], r["effective_from"], r["input_tokens_from"]): r for r in rows if r["service_tier"] == "standard"}
    batches = [r for r in rows if r["service_tier"] == "batch"]
    assert len(batches) >= 20
    for batch in batches:
        base = standard[(batch["model"], batch["effective_from"], batch["input_tokens_from"])]
        for bucket in BUCKETS:
            if base[f"{bucket}_per_mtok"] is not None:
                assert batch[f"{bucket}_per_mtok"] * 2 == base[f"{bucket}_per_mtok"], (batch["price_id"], bucket)
    row = book.lookup("anthropic", "claude-sonnet-4-5-20250929", _utc("2026-11-27"), "batch")
    assert _cost(row, input=1_000_000, output=1_000_000) == Decimal(9)


def test_anthropic_one_hour_cache_writes_cost_twice_input(book):
    rows = [r for r in book.prices.to_pylist() if r["provider"] == "anthropic" and r["cache_write_1h_per_mtok"] is not None]
    assert len(rows) >= 30
    for row in rows:
        assert row["cache_write_1h_per_mtok"] == 2 * row["input_per_mtok"], row["price_id"]


def test_gemini_long_context_prices_the_whole_request_at_the_higher_tier(book):
    at = _utc("2025-08-01T12:00:00")
    under = book.lookup("google", "gemini-2.5-pro", at, total_input_tokens=200_000)
    over = book.lookup("google", "gemini-2.5-pro", at, total_input_tokens=200_001)
    assert under["price_id"].endswith("/standard/input<=200000") and over["price_id"].endswith("/standard/input>200000")
    assert _cost(under, input=200_000, output=2_000) == Decimal("0.27")
    # one token over the threshold: every token, output included, at $2.50 / $15
    assert _cost(over, input=200_001, output=2_000) == Decimal("0.5300025")
    # Gemini 1.5 Pro: a 128K cliff, before and after the 2024-10-01 cut
    assert book.lookup("google", "gemini-1.5-pro-002", _utc("2024-09-30"), total_input_tokens=128_001)["input_per_mtok"] == 7
    assert book.lookup("google", "gemini-1.5-pro-002", _utc("2024-10-01"), total_input_tokens=128_001)["input_per_mtok"] == Decimal("2.5")
    assert book.lookup("google", "gemini-1.5-pro", _utc("2024-10-01"), total_input_tokens=128_000)["input_per_mtok"] == Decimal("1.25")


def test_claude_sonnet_4_and_4_5_have_the_200k_cliff(book):
    for provider, name in [("anthropic", "claude-sonnet-4-20250514"), ("anthropic", "claude-sonnet-4-5-20250929"), ("anthropic", "claude-sonnet-4-0")]:
        over = book.lookup(provider, name, _utc("2025-10-01"), total_input_tokens=250_000)
        assert (over["input_per_mtok"], over["output_per_mtok"]) == (6, Decimal("22.5")), name


def test_an_unknown_model_is_flagged_never_zero(book):
    for provider, name in UNKNOWN_MODELS.items():
        assert book.resolve(provider, name) is None
        assert book.lookup(provider, name, _utc("2026-11-27")) is None
    # a known model outside its price history, or in a tier it is not sold in, has no price either
    assert book.lookup("openai", "gpt-4o-2024-08-06", _utc("2024-08-05")) is None
    assert book.lookup("openai", "gpt-4o-2024-08-06", _utc("2026-11-27"), "priority") is None


def test_bedrock_regional_inference_profiles_resolve_to_the_same_model(book):
    model = "anthropic.claude-3-5-sonnet-20241022-v2:0"
    for prefix in ("", "us.", "eu.", "apac.", "global."):
        assert book.resolve_exact("aws_bedrock", prefix + model) == model
    # where Bedrock prices the global profile apart from the regional one, the two stay apart
    regional = book.lookup("aws_bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", _utc("2026-11-27"))
    global_ = book.lookup("aws_bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", _utc("2026-11-27"))
    assert (regional["input_per_mtok"], global_["input_per_mtok"]) == (Decimal("3.3"), 3)


@pytest.mark.parametrize(("model", "regional", "global_"), [("openai.gpt-5.4", "2.75", "2.5"), ("openai.gpt-5.5", "5.5", "5")])
def test_bedrock_global_profiles_of_openai_models_are_not_billed_the_geographic_premium(book, model, regional, global_):
    """Bedrock's global cross-Region profiles cost about 10% less than the geographic ones
    (https://docs.aws.amazon.com/bedrock/latest/userguide/global-cross-region-inference.html); the import gives the
    geographic price, 1.1 x OpenAI's own. A real-shaped Converse request on each id, priced by hand:
    100,000 input (20,000 of them cache reads) and 2,000 output tokens."""
    at = _utc("2026-11-27")
    us = book.lookup("aws_bedrock", f"us.{model}", at)
    everywhere = book.lookup("aws_bedrock", f"global.{model}", at)
    assert (us["input_per_mtok"], everywhere["input_per_mtok"]) == (Decimal(regional), Decimal(global_))
    tokens = {"input": 80_000, "cache_read": 20_000, "output": 2_000}
    # gpt-5.4 global: 80,000 x 2.50 + 20,000 x 0.25 + 2,000 x 15 per 1M = 0.20 + 0.005 + 0.03 = 0.235 USD
    # (geographic: 0.2585, 10% more); gpt-5.5 global: 0.40 + 0.01 + 0.06 = 0.47 USD (geographic 0.517).
    expected = {"openai.gpt-5.4": (Decimal("0.235"), Decimal("0.2585")), "openai.gpt-5.5": (Decimal("0.47"), Decimal("0.517"))}[model]
    assert (_cost(everywhere, **tokens), _cost(us, **tokens)) == expected
    assert everywhere["price_id"].startswith(f"aws_bedrock/global.{model}@")


def test_match_rules_catch_names_no_alias_lists(book):
    assert book.resolve_exact("anthropic", "claude-3-5-sonnet-20240620") == "claude-3-5-sonnet-20240620"
    assert book.resolve_exact("anthropic", "claude-3-sonnet-20240229") is None
    assert book.resolve("anthropic", "claude-3-sonnet-20240229") == "claude-3-sonnet"
    assert book.resolve("anthropic", "Claude-3-Sonnet-20240229") == "claude-3-sonnet"
    # a curated model's rules come before the imported ones
    assert book.resolve("anthropic", "claude-3.5-sonnet-v2") == "claude-3-5-sonnet-20240620"
    assert book.resolve("google", "gemini-2.5-pro-preview-tts") != "gemini-2.5-pro"


def test_azure_derivations_are_explicit_and_match_openai(book):
    azure = book.lookup("azure_openai", "gpt-4o-2024-08-06", _utc("2026-11-27"))
    openai = book.lookup("openai", "gpt-4o-2024-08-06", _utc("2026-11-27"))
    assert azure["note"].startswith("derived from openai/gpt-4o")
    assert (azure["input_per_mtok"], azure["output_per_mtok"]) == (openai["input_per_mtok"], openai["output_per_mtok"])
    assert book.resolve("azure_openai", "gpt-35-turbo") == "gpt-3.5-turbo"


# --------------------------------------------------------------------------- the schema


def test_versions_chain_and_reasoning_defaults_to_output(tmp_path):
    rows = {r["price_id"]: r for r in load_price_book(_book(tmp_path, VALID)).prices.to_pylist()}
    first = rows["acme/acme-1@2025-01-01/standard"]
    assert first["effective_to"].date().isoformat() == "2025-06-10"
    assert first["input_per_mtok"] == Decimal("1.10") and first["reasoning_per_mtok"] == Decimal("4.40")
    assert rows["acme/acme-1@2025-06-10/standard"]["effective_to"] is None
    assert rows["acme/acme-1@2025-06-10/batch"]["output_per_mtok"] == Decimal("1.10")


def test_long_context_is_a_cliff_band(tmp_path):
    body = VALID + """
      acme-long:
        - effective_from: 2025-01-01
          source: https://acme.example/pricing
          standard:
            input: 3.00
            output: 15.00
            long_context: {above_input_tokens: 200000, input: 6.00, output: 22.50}
    """
    rows = {r["price_id"]: r for r in load_price_book(_book(tmp_path, body)).prices.to_pylist()}
    base = rows["acme/acme-long@2025-01-01/standard/input<=200000"]
    long = rows["acme/acme-long@2025-01-01/standard/input>200000"]
    assert (base["input_tokens_from"], base["input_tokens_to"]) == (0, 200001)
    assert long["input_tokens_from"] == 200001 and long["input_per_mtok"] == Decimal("6.00")
    assert long["reasoning_per_mtok"] == Decimal("22.50")


def test_null_means_not_sold_and_image_buckets_load(tmp_path):
    body = VALID + """
      acme-embed:
        - effective_from: 2025-01-01
          source: https://acme.example/pricing
          standard: {input: 0.02, output: null}
      acme-image:
        - effective_from: 2025-01-01
          source: https://acme.example/pricing
          standard: {input: 5, output: 40, image_input: 10, image_output: 40}
    """
    book = load_price_book(_book(tmp_path, body))
    embed = book.lookup("acme", "acme-embed", _utc("2025-02-01"))
    assert embed["output_per_mtok"] is None and embed["reasoning_per_mtok"] is None
    assert book.lookup("acme", "acme-image", _utc("2025-02-01"))["image_output_per_mtok"] == 40


def test_curated_wins_over_imported(tmp_path):
    folder = _book(tmp_path, VALID.replace("acme-1:", "acme-1:\n        aliases: [acme-stable]\n        prices:").replace("        - effective", "          - effective").replace("          source", "            source").replace("          standard", "            standard").replace("          batch", "            batch"))
    _book(tmp_path, """
        provider: acme
        currency: USD
        models:
          acme-1:
            - effective_from: 2020-01-01
              source: https://genai-prices.example
              standard: {input: 99, output: 99}
          acme-family:
            aliases: [acme-stable, acme-family-latest]
            match: [{starts_with: acme-}]
            prices:
              - effective_from: 2020-01-01
                source: https://genai-prices.example
                standard: {input: 2, output: 3}
    """, name="imported/acme.yaml")
    book = load_price_book(folder)
    assert book.shadowed == ("imported/acme.yaml: acme/acme-1",)
    assert book.lookup("acme", "acme-1", _utc("2025-02-01"))["book_file"] == "acme.yaml"
    assert book.resolve("acme", "acme-stable") == "acme-1"
    assert book.resolve("acme", "acme-family-latest") == "acme-family"
    assert book.resolve("acme", "acme-2-preview") == "acme-family"
    assert book.lookup("acme", "acme-2-preview", _utc("2025-02-01"))["book_file"] == "imported/acme.yaml"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (VALID.replace("2025-06-10", "2025-01-01"), "acme.yaml: acme/acme-1@2025-01-01: overlapping versions: two versions start on 2025-01-01"),
        (VALID.replace("output: 2.20", "output: -2.20"), "acme.yaml: acme/acme-1@2025-06-10/standard: negative price for output: -2.20"),
        (VALID.replace("cache_read: 0.275", "cached: 0.275"), "acme.yaml: acme/acme-1@2025-01-01/standard: unknown bucket key 'cached'"),
        (VALID.replace("    currency: USD\n", ""), "acme.yaml: missing 'currency'"),
        (VALID.replace("currency: USD", "currency: dollars"), "acme.yaml: currency must be a 3-letter ISO code, got 'dollars'"),
        (VALID.replace("          source: https://acme.example/pricing\n          standard: {input: 0.55", "          standard: {input: 0.55"),
         "acme.yaml: acme/acme-1@2025-06-10: missing source"),
        (VALID.replace(", output: 2.20}", "}"), "acme.yaml: acme/acme-1@2025-06-10/standard: output price is required (write null if not sold)"),
        (VALID.replace("    models:", "    owner: acme\n    models:"), "acme.yaml: unknown key 'owner'"),
        (VALID.replace("effective_from: 2025-06-10", "effective_from: 2025-06-31"), "acme.yaml: acme/acme-1: version without a valid effective_from (YYYY-MM-DD, a time with its UTC offset, or unknown): '2025-06-31'"),
        (VALID.replace("input: 0.55", "input: cheap"), "acme.yaml: acme/acme-1@2025-06-10/standard: input is not a number: 'cheap'"),
    ],
    ids=["overlap", "negative", "unknown-bucket", "missing-currency", "bad-currency", "missing-source", "missing-output",
         "unknown-file-key", "bad-date", "not-a-number"],
)
def test_validation_errors_name_file_and_entry(tmp_path, body, message):
    with pytest.raises(PriceBookError) as caught:
        load_price_book(_book(tmp_path, body))
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path):
    body = VALID.replace("output: 2.20", "output: -2.20").replace("cache_read: 0.275", "cached: 0.275")
    with pytest.raises(PriceBookError) as caught:
        load_price_book(_book(tmp_path, body))
    assert "negative price for output" in str(caught.value) and "unknown bucket key 'cached'" in str(caught.value)


def test_alias_claimed_by_two_models_is_rejected(tmp_path):
    body = VALID + """
      acme-2:
        aliases: [acme-latest]
        prices:
          - effective_from: 2025-01-01
            source: https://acme.example/pricing
            standard: {input: 1, output: 2}
      acme-3:
        aliases: [acme-latest]
        prices:
          - effective_from: 2025-01-01
            source: https://acme.example/pricing
            standard: {input: 1, output: 2}
    """
    with pytest.raises(PriceBookError, match="acme.yaml: acme/acme-3: alias 'acme-latest' \\(acme\\) is claimed by two models: acme-2 and acme-3"):
        load_price_book(_book(tmp_path, body))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{begins: acme-}", "acme.yaml: acme/acme-2: match: unknown rule 'begins'"),
        ("{regex: 'acme-(['}", "acme.yaml: acme/acme-2: match: regex 'acme-([' does not compile"),
        ("{all: []}", "acme.yaml: acme/acme-2: match: 'all' needs a non-empty list of rules"),
    ],
    ids=["unknown-kind", "bad-regex", "empty-all"],
)
def test_bad_match_rules_are_rejected(tmp_path, rule, message):
    body = VALID + f"""
      acme-2:
        match: [{rule}]
        prices:
          - effective_from: 2025-01-01
            source: https://acme.example/pricing
            standard: {{input: 1, output: 2}}
    """
    with pytest.raises(PriceBookError) as caught:
        load_price_book(_book(tmp_path, body))
    assert message in str(caught.value)


def test_a_model_defined_twice_in_one_layer_is_rejected(tmp_path):
    _book(tmp_path, VALID, name="acme-more.yaml")
    with pytest.raises(PriceBookError, match="acme.yaml: acme/acme-1: defined twice \\(also in acme-more.yaml\\)"):
        load_price_book(_book(tmp_path, VALID))


def test_prices_are_decimals_never_floats(tmp_path):
    rows = load_price_book(_book(tmp_path, VALID)).prices.to_pylist()
    assert all(isinstance(r["input_per_mtok"], Decimal) for r in rows)
    assert rows[0]["cache_read_per_mtok"] == Decimal("0.275")


# --------------------------------------------------------------------------- start dates and time-of-day windows

WINDOWED = """
    provider: acme
    currency: USD
    models:
      acme-1:
        - effective_from: unknown
          source: https://acme.example/pricing
          standard: {input: 1.00, output: 4.00}
        - effective_from: 2025-06-10
          source: https://acme.example/pricing
          standard: {input: 2.00, output: 8.00}
          batch: {input: 1.00, output: 4.00}
          windows:
            - {utc: "22:00-02:00", note: night, standard: {input: 1.00, output: 4.00}}
            - {utc: "09:00-12:00", days: [sat, sun], standard: {input: 3.00, output: 12.00}}
"""


def test_every_price_of_the_shipped_book_holds_each_minute_of_the_week_once(book):
    weeks: dict[tuple, list] = {}
    for row in book.prices.to_pylist():
        band = (row["provider"], row["model"], row["service_tier"], row["effective_from"], row["input_tokens_from"])
        weeks.setdefault(band, []).extend(row["utc_segments"])
    for band, held in weeks.items():
        minutes = sum((h["minute_to"] - h["minute_from"]) * bin(h["days"]).count("1") for h in held)
        assert minutes == 7 * 1440, band
        if len(held) > 1:
            week = [0] * (7 * 1440)
            for h in held:
                for day in (d for d in range(7) if h["days"] >> d & 1):
                    for minute in range(h["minute_from"], h["minute_to"]):
                        week[day * 1440 + minute] += 1
            assert set(week) == {1}, band
    assert any(len(held) > 1 for held in weeks.values())  # DeepSeek's windows are in the shipped book


def test_an_unknown_start_is_stored_as_null_and_named_undated(tmp_path):
    loaded = load_price_book(_book(tmp_path, WINDOWED))
    first = loaded.lookup("acme", "acme-1", _utc("2020-01-01T00:00:00"))
    assert first["price_id"] == "acme/acme-1@undated/standard" and first["effective_from"] is None
    assert first["effective_to"] == _utc("2025-06-10T00:00:00")
    assert loaded.lookup("acme", "acme-1", _utc("2025-06-09T23:59:59"))["input_per_mtok"] == 1


@pytest.mark.parametrize(
    ("at", "tier", "price_id", "input_price"),
    [
        ("2025-06-10T21:59:59", "standard", "acme/acme-1@2025-06-10/standard", 2),       # a Tuesday
        ("2025-06-10T22:00:00", "standard", "acme/acme-1@2025-06-10/standard/utc22:00-02:00", 1),
        ("2025-06-11T01:59:00", "standard", "acme/acme-1@2025-06-10/standard/utc22:00-02:00", 1),
        ("2025-06-11T02:00:00", "standard", "acme/acme-1@2025-06-10/standard", 2),
        ("2025-06-11T10:00:00", "standard", "acme/acme-1@2025-06-10/standard", 2),       # Wednesday: no weekend window
        ("2025-06-14T10:00:00", "standard", "acme/acme-1@2025-06-10/standard/utc09:00-12:00[sat,sun]", 3),
        ("2025-06-15T11:59:00", "standard", "acme/acme-1@2025-06-10/standard/utc09:00-12:00[sat,sun]", 3),
        ("2025-06-10T23:00:00", "batch", "acme/acme-1@2025-06-10/batch", 1),            # the window prices standard only
    ],
)
def test_windows_price_their_hours_and_the_version_the_rest(tmp_path, at, tier, price_id, input_price):
    row = load_price_book(_book(tmp_path, WINDOWED)).lookup("acme", "acme-1", _utc(at), service_tier=tier)
    assert (row["price_id"], row["input_per_mtok"]) == (price_id, input_price)


def test_each_price_is_one_row_with_the_segments_it_holds(tmp_path):
    rows = {r["price_id"]: r for r in load_price_book(_book(tmp_path, WINDOWED)).prices.to_pylist()}
    assert rows["acme/acme-1@2025-06-10/standard/utc22:00-02:00"]["utc_segments"] == [
        {"minute_from": 0, "minute_to": 120, "days": 127}, {"minute_from": 1320, "minute_to": 1440, "days": 127}]
    assert rows["acme/acme-1@2025-06-10/standard"]["time_window"] == "outside 22:00-02:00 UTC, 09:00-12:00 sat,sun UTC"
    assert rows["acme/acme-1@undated/standard"]["time_window"] is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('utc: "22:00-02:00"', 'utc: "25:00-02:00"', "windows[0]: utc must be a UTC time range HH:MM-HH:MM of less than a day, got '25:00-02:00'"),
        ('utc: "22:00-02:00"', 'utc: "22:00-22:00"', "windows[0]: utc must be a UTC time range"),
        ("days: [sat, sun]", "days: [saturday]", "windows[1]: days must be a list of mon, tue, wed, thu, fri, sat, sun, got ['saturday']"),
        ('utc: "09:00-12:00", days: [sat, sun]', 'utc: "01:00-03:00"', "windows 01:00-03:00 and 22:00-02:00 overlap on mon"),
        ("note: night, standard:", "note: night, flex:", "windows[0]: prices flex, which the version does not"),
        ("note: night, standard: {input: 1.00, output: 4.00}", "note: night", "windows[0]: no tier priced in the window"),
        ("note: night,", "hours: 4,", "windows[0]: unknown key 'hours'"),
        ("effective_from: 2025-06-10", "effective_from: unknown", "overlapping versions: two versions start on undated"),
    ],
    ids=["bad-time", "empty", "bad-day", "overlap", "tier-not-sold", "no-tier", "unknown-key", "two-unknown"],
)
def test_window_and_start_mistakes_name_file_and_entry(tmp_path, old, new, message):
    assert old in WINDOWED
    with pytest.raises(PriceBookError) as caught:
        load_price_book(_book(tmp_path, WINDOWED.replace(old, new)))
    assert message in str(caught.value) and "acme.yaml: acme/acme-1@" in str(caught.value)


def test_windows_of_different_tiers_may_overlap(tmp_path):
    """Overlap is checked per tier: a standard window and a batch window over the same hours both load."""
    body = WINDOWED.replace(
        '            - {utc: "09:00-12:00", days: [sat, sun], standard: {input: 3.00, output: 12.00}}',
        '            - {utc: "23:00-01:00", batch: {input: 0.25, output: 1.00}}')
    loaded = load_price_book(_book(tmp_path, body))
    assert loaded.lookup("acme", "acme-1", _utc("2025-06-10T23:30:00"))["input_per_mtok"] == 1
    assert loaded.lookup("acme", "acme-1", _utc("2025-06-10T23:30:00"), service_tier="batch")["input_per_mtok"] == Decimal("0.25")
    assert loaded.lookup("acme", "acme-1", _utc("2025-06-10T21:30:00"), service_tier="batch")["input_per_mtok"] == 1
