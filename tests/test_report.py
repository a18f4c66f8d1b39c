"""The spend report: a self-contained page with a chart and a table per section, exact numbers, and
"no data yet" for every table the pipeline has not built."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from decimal import Decimal
from html import escape, unescape

import duckdb
import pytest
from helpers import envelope, land, sample_usage

from pipelines.cli.main import main as insights_main
from pipelines.ingest.privacy import create_key
from pipelines.report import build_report, write_report
from pipelines.report.data import load_report_data
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

# gpt-4o-2024-08-06 standard: input 2.50, cache read 1.25, output 10.00 per 1M. This usage is 976 input,
# 1,024 cached and 300 output tokens: 0.00672 USD, and the cache saved 1,024 x (2.50 - 1.25) = 0.00128 USD.
CHAT_USAGE = {"prompt_tokens": 2000, "completion_tokens": 300, "prompt_tokens_details": {"cached_tokens": 1024}}
OVERRIDES = """\
overrides:
  - id: openai-discount
    provider: openai
    effective_from: 2025-10-15
    discount_pct: 20
"""
BUILT = dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    """support_chat on gpt-4o (2 requests at list price on Oct 10, 3 at 20% off from Oct 15), one Anthropic
    search request with cache reads and writes, one unknown model, and one November request."""
    home = Home.at(tmp_path_factory.mktemp("report") / "home").ensure()
    create_key(home.secrets)
    (home.root / "price_overrides.yaml").write_text(OVERRIDES)
    (home.root / "budgets.yaml").write_text("features:\n  support_chat: 0.05\nsegments:\n  enterprise: 1\n")
    lines = [envelope(f"list_{n}", "openai", "gpt-4o-2024-08-06", CHAT_USAGE, timestamp=f"2025-10-10T09:0{n}:00Z") for n in range(2)]
    lines += [envelope(f"discounted_{n}", "openai", "gpt-4o-2024-08-06", CHAT_USAGE, timestamp=f"2025-10-20T09:0{n}:00Z") for n in range(3)]
    lines.append(envelope("cached", "anthropic", "claude-3-5-sonnet-20241022", sample_usage("anthropic_messages_usage.json"),
                          service_tier="standard", feature="search", customer_id="globex", user_segment="pro", timestamp="2025-10-20T11:00:00Z"))
    lines.append(envelope("mystery", "openai", "gpt-9-preview", CHAT_USAGE, feature="email_draft", timestamp="2025-10-21T10:00:00Z"))
    lines.append(envelope("november", "openai", "gpt-4o-2024-08-06", CHAT_USAGE, feature="code_assist", timestamp="2025-11-02T10:00:00Z"))
    land(home, "requests.jsonl", lines)
    run_pipeline(home, progress=lambda _: None)
    return home


def test_cache_savings_use_the_effective_rates_of_each_request(home):
    cache = {row["feature"]: row for row in load_report_data(home, "2025-10").cache.rows}
    chat = cache["support_chat"]
    # 2 x 0.00128 at list price + 3 x 0.00128 x 0.8 with the discount
    assert chat["saved_usd"] == Decimal("0.005632")
    assert chat["cached_tokens"] == 5 * 1024 and chat["write_premium_usd"] == 0
    # claude-3-5-sonnet: input 3.00, cache read 0.30, 5m write 3.75, 1h write 6.00 per 1M
    search = cache["search"]
    assert search["saved_usd"] == Decimal("0.0216")  # 8,000 x (3.00 - 0.30)
    assert search["write_premium_usd"] == Decimal("0.002625")  # 1,500 x 0.75 + 500 x 3.00
    assert search["net_saved_usd"] == Decimal("0.018975")


def test_unit_costs_are_exact_decimals(home):
    data = load_report_data(home, "2025-10")
    units = {row["feature"]: row for row in data.unit_costs.rows}
    # 2 x 0.00672 + 3 x 0.00672 x 0.8 = 0.029568 over 5 requests and 11,500 tokens; unit costs are money,
    # DECIMAL(38, 15): 0.029568 x 10^6 / 11,500 = 2.5711304347826086956... rounded to 15 places
    chat = units["support_chat"]
    assert chat["cost_usd"] == Decimal("0.029568")
    assert chat["cost_per_request_usd"] == Decimal("0.0059136")
    assert chat["cost_per_1m_tokens_usd"] == Decimal("2.571130434782609")
    email = units["email_draft"]
    assert (email["priced_requests"], email["cost_usd"], email["cost_per_request_usd"]) == (0, Decimal("0"), None)
    assert (data.requests, data.unpriced_requests, data.first_day, data.last_day) == (7, 1, dt.date(2025, 10, 10), dt.date(2025, 10, 21))
    assert data.features == ["email_draft", "search", "support_chat"]


def test_page_is_self_contained_and_names_every_feature(home):
    page = build_report(home, built_at=BUILT)
    assert "Data: event dates 2025-10-10 to 2025-11-02 (24 days, everything in the warehouse)" in page
    assert "Built 2026-11-02 06:30 UTC" in page
    for feature in ("code_assist", "email_draft", "search", "support_chat"):
        assert feature in page
    assert len(re.findall(r'<svg class="chart"', page)) >= 10
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "<script src" not in page and "@import" not in page and "url(" not in page
    assert page.count("<details class=\"data\"") >= 10


def test_a_model_without_a_price_is_never_shown_as_zero_dollars(home, capsys):
    """email_draft's only request is on an unknown model: its cost is n/a (never $0.00) in the report's model mix
    and in the run summary's cost per request, and the unpriced request is counted beside it."""
    from pipelines.cli.main import _print_spend_summary

    mix = _table_rows(_section(build_report(home, "2025-10", built_at=BUILT), "models"), "spend per feature and model")
    assert mix["email_draft"] == ["openai/gpt-9-preview", "n/a", "n/a", "1"]
    assert mix["search"][1:] == ["$0.02", "100.0%", "0"]  # a priced model beside it
    page = build_report(home, "2025-10", built_at=BUILT)
    # the model mix and the daily trend said $0.00 and a 0.0% share for it; the day's total counts only priced spend
    models = _table_rows(_section(page, "models"), "spend per model")
    assert models["openai"] == ["gpt-9-preview", "1", "2,300", "n/a", "n/a", "1"]  # the last openai row: unpriced sorts last
    trend = _section(page, "trend")
    header = re.search(r"<summary>Table: daily spend per feature, USD</summary><table><thead><tr>(.*?)</tr>", trend, re.S).group(1)
    features = [unescape(cell) for cell in re.findall(r"<th[^>]*>(.*?)</th>", header)][1:-1]
    day = dict(zip(features, _table_rows(trend, "daily spend per feature, USD")["2025-10-21"]))
    assert day["email_draft"] == "n/a"
    assert day["support_chat"] == "$0.00"  # no request that day: nothing spent
    _print_spend_summary(home)
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("email_draft"))
    assert line.split() == ["email_draft", "1", "n/a", "n/a", "1"]


def test_a_chart_label_of_a_cost_below_a_hundredth_of_a_cent_keeps_its_digits():
    """Chart tooltips and axis labels printed $0.00000228 (a 7-in / 3-out gpt-4o-mini request) as "$0."."""
    from pipelines.report.blocks import axis_usd

    assert [axis_usd(v) for v in (0.00000228, 0.00005, 0.0537, 0.5, 12.5, 0)] == ["$0.0000023", "$0.00005", "$0.0537", "$0.5", "$12.5", "$0"]


def test_one_month_of_the_report(home):
    page = build_report(home, "2025-11", built_at=BUILT)
    assert "Data: event dates 2025-11-02 to 2025-11-02 (1 day, month 2025-11)" in page
    assert "Features: code_assist" in page
    # a month without requests in a warehouse that has others: not "none yet ... run tokenledger run to fill the warehouse"
    assert "Data: no requests in 2025-01 (run `tokenledger run` if its logs have landed since the last run)" in build_report(
        home, "2025-01", built_at=BUILT)
    # October: the data has moved on to Nov 2, so October is over: observed Oct 10-31 (22 days, none left);
    # support_chat spent 0.029568 and is projected at that, under its 0.05 budget (projected past the 21st it was
    # 0.054208, over it)
    october = build_report(home, "2025-10", built_at=BUILT)
    assert "22 days observed (2025-10-10 .. 2025-10-31), 0 days left of 31" in october
    row = re.search(r"<tr><td>feature</td><td>support_chat</td>(.*?)</tr>", october).group(1)
    assert row.count("$0.03</td>") == 2 and '<td class="status-on_track">on_track</td>' in row


def test_sections_without_their_table_say_no_data_yet(home, tmp_path):
    copy = Home.at(tmp_path / "copy")
    copy.root.mkdir()
    shutil.copyfile(home.warehouse, copy.warehouse)
    with duckdb.connect(str(copy.warehouse)) as con:
        for table in ("marts.billing_reconciliation", "marts.cost_per_outcome", "marts.revenue_ratio", "marts.spend_anomalies", "marts.scenarios"):
            con.execute(f"drop table if exists {table}")
    page = build_report(copy, built_at=BUILT)
    for table in ("marts.billing_reconciliation", "marts.cost_per_outcome", "marts.revenue_ratio", "marts.spend_anomalies", "marts.scenarios"):
        assert f"no data yet: {table} has not been built" in page, table
    assert "support_chat" in page and '<svg class="chart"' in page


def test_empty_home_renders_a_page_that_says_so(tmp_path):
    path = write_report(Home.at(tmp_path / "empty"))
    page = path.read_text()
    assert path.name == "spend-report.html" and path.parent.name == "reports"
    assert "Data: none yet" in page and page.count("no warehouse yet") >= 8


def test_report_command_writes_the_file(home, tmp_path, capsys):
    out = tmp_path / "out" / "october.html"
    assert insights_main(["report", "--home", str(home.root), "--month", "2025-10", "--out", str(out)]) == 0
    assert f"report written to {out}" in capsys.readouterr().out
    assert "month 2025-10" in out.read_text()
    mistyped = tmp_path / "no-such-home"  # a mistyped --home: refused, no folder made (it wrote an empty report there)
    assert insights_main(["report", "--home", str(mistyped)]) == 2
    assert capsys.readouterr().err.startswith(f"tokenledger: no home at {mistyped}: run `tokenledger init") and not mistyped.exists()
    (home.root / "budgets.yaml").write_text("features:\n  support_chat: plenty\n")
    try:
        page = build_report(home, "2025-10")
    finally:
        (home.root / "budgets.yaml").write_text("features:\n  support_chat: 0.05\nsegments:\n  enterprise: 1\n")
    assert "budgets.yaml: features.support_chat: expected a monthly amount in USD" in page


# -- full cost, self-hosted vs API, energy and carbon ------------------------------------------------------------
#
# One day of requests, 2026-11-27, and an idle GPU day after it:
# - support_chat: a1 on gpt-4o-mini (1M input x 0.15 + 100k output x 0.60 per 1M = $0.21), two outcomes;
# - summarize: s1 on self_hosted:gpu-a (2M input + 400k output = 2.4M tokens);
# - HOSTILE (a feature named like markup): h1 on claude-sonnet-4-5 (2,000 x 3 + 200 x 15 per 1M = $0.009), no
#   published energy figure: unknown.
# gpu-a: 1 GPU x 10 h x $2 = $20 on the 27th (capacity 10M tokens: 24% used, $4.80 to s1, $15.20 idle, which goes
# to summarize) and 1 GPU x 5 h x $2 = $10 on the 28th (no tokens: feature idle_capacity). The month: $30 for 2.4M
# of 15M tokens (16%): $12.50 per 1M, $2.00 per 1M at 100%. s1 on gpt-4o-mini: 2M x 0.15 + 0.4M x 0.60 = $0.54,
# $0.225 per 1M: API cheaper even at 100%; on gpt-4o: 2M x 2.50 + 0.4M x 10 = $9, $3.75 per 1M: break-even 2 / 3.75.
# Overhead: egress $9 by requests (3 requests, $3 each), engineering $12.34 on support_chat, storage $5 restricted to
# a cluster nobody used (unallocated_overhead).
# Energy at 500 W, PUE 1.2: 6 kWh on the 27th (24% = 1.44 kWh to s1, 4.56 idle) and 3 kWh on the 28th; at 500
# gCO2e/kWh: 0.72 kg for summarize, 3.78 kg idle. a1: 0.5 Wh and 0.2 gCO2e from the home energy.yaml (estimated).
HOSTILE = '<script>alert("f")</script>&co'
FULL_COST_REQUESTS = [
    envelope("a1", "openai", "gpt-4o-mini-2024-07-18", {"prompt_tokens": 1_000_000, "completion_tokens": 100_000}),
    envelope("s1", "self_hosted:gpu-a", "llama-3.1-70b", {"input_tokens": 2_000_000, "output_tokens": 400_000}, feature="summarize"),
    envelope("h1", "anthropic", "claude-sonnet-4-5-20250929", {"input_tokens": 2000, "output_tokens": 200}, feature=HOSTILE),
]
FULL_COST_LANDING = {
    ("gpu", "capacity.csv"): (
        "cluster,date,gpu_type,gpu_count,hours,hourly_rate,currency,capacity_tokens_per_hour,avg_power_watts\n"
        "gpu-a,2026-11-27,H100,1,10,2.00,USD,1000000,500\n"
        "gpu-a,2026-11-28,H100,1,5,2.00,USD,1000000,500\n"
    ),
    ("overhead", "november.csv"): (
        "category,period_start,period_end,amount,currency,allocate_by,provider,cluster,description\n"
        "egress,2026-11-27,2026-11-28,9.00,USD,requests,,,response egress\n"
        "engineering,2026-11-27,2026-11-28,12.34,USD,feature:support_chat,,,on-call\n"
        "storage,2026-11-27,2026-11-28,5.00,USD,tokens,,gpu-unused,disks\n"
    ),
    ("carbon", "grid.csv"): "date,region,gco2e_per_kwh\n2026-11-27,us-east-1,500\n",
    ("outcomes", "events.jsonl"): "".join(
        json.dumps({"outcome_id": f"o{n}", "timestamp": "2026-11-27T12:00:00Z", "outcome_type": "ticket_resolved",
                    "feature": "support_chat", "request_id": "a1"}) + "\n"
        for n in range(2)
    ),
}
FULL_COST_CONFIG = {
    "model_tiers.yaml": 'rules:\n  - {match: "llama-3.1-70b*", tier: medium, '
                        "compare_with: [openai/gpt-4o-mini-2024-07-18, openai/gpt-4o-2024-08-06]}\n",
    "settings.yaml": "pue: 1.2\nclusters:\n  gpu-a: {region: us-east-1}\n",
    "energy.yaml": (
        'api:\n  - match: "openai/gpt-4o-mini*"\n    wh_per_request: 0.5\n    gco2e_per_request: 0.2\n'
        "    applies_to: a test figure\n    source: https://example.org/test-figure\n    published: 2026-01-01\n"
    ),
}


@pytest.fixture(scope="module")
def full_cost_home(tmp_path_factory) -> Home:
    home = Home.at(tmp_path_factory.mktemp("report_full_cost") / "home").ensure()
    create_key(home.secrets)
    land(home, "day.jsonl", FULL_COST_REQUESTS)
    for (folder, name), text in FULL_COST_LANDING.items():
        (home.landing / folder).mkdir(parents=True, exist_ok=True)
        (home.landing / folder / name).write_text(text)
    for name, text in FULL_COST_CONFIG.items():
        (home.root / name).write_text(text)
    run_pipeline(home, progress=lambda _: None)
    return home


def _section(page: str, anchor: str) -> str:
    return re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S).group(1)


def _table_rows(html: str, caption: str) -> dict[str, list[str]]:
    """A data table's rows by their first cell, every cell as the page shows it (unescaped)."""
    body = re.search(rf"<summary>Table: {re.escape(caption)}</summary><table>.*?<tbody>(.*?)</tbody>", html, re.S).group(1)
    rows = [[unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in re.findall(r"<tr>(.*?)</tr>", body)]
    return {row[0]: row[1:] for row in rows}


def test_full_cost_section_stacks_every_category_per_feature(full_cost_home):
    page = build_report(full_cost_home, built_at=BUILT)
    section = _section(page, "full-cost")
    assert "Full cost of this period: <b>$56.56</b> = $30.22 inference" in section and "$26.34 overhead" in section
    assert "inference-only" in section and 'data-chart="stacked-bar"' in section
    for category in ("inference (API)", "self-hosted", "idle capacity", "egress", "storage", "engineering"):
        assert f'class="legend">{category}</text>' in section, category
    assert 'class="legend">observability</text>' not in section  # a category nobody was charged is left out of the chart
    rows = _table_rows(section, "full cost per feature and category, USD")
    # requests, inference, self-hosted, idle, egress, storage, observability, load balancing, engineering, other, total
    assert rows["summarize"] == ["1", "$0.00", "$4.80", "$15.20", "$3.00", "$0.00", "$0.00", "$0.00", "$0.00", "$0.00", "$23.00"]
    assert rows["support_chat"] == ["1", "$0.21", "$0.00", "$0.00", "$3.00", "$0.00", "$0.00", "$0.00", "$12.34", "$0.00", "$15.55"]
    assert rows[HOSTILE][1] == "$0.01" and rows[HOSTILE][-1] == "$3.01"
    assert rows["idle_capacity"] == ["0", "$0.00", "$0.00", "$10.00", *["$0.00"] * 6, "$10.00"]
    assert rows["unallocated_overhead"] == ["0", "$0.00", "$0.00", "$0.00", "$0.00", "$5.00", *["$0.00"] * 4, "$5.00"]
    assert rows["total"] == ["3", "$0.22", "$4.80", "$25.20", "$9.00", "$5.00", "$0.00", "$0.00", "$12.34", "$0.00", "$56.56"]
    assert set(list(rows)[-3:-1]) == {"unallocated_overhead", "idle_capacity"}  # the rows without requests come last
    # the other sections say they are inference only; cost per outcome is shown both ways
    assert "Daily inference cost" in _section(page, "trend")
    units = _section(page, "unit-costs")
    assert "Inference only" in units
    # 2 outcomes: $0.21 / 2 inference only, $15.55 / 2 full cost
    outcome = _table_rows(units, "cost per outcome, inference only and full cost")["support_chat"]
    assert outcome == ["ticket_resolved", "2", "1", "$0.21", "$0.1050", "$15.55", "$7.78"]


def test_self_hosted_section_draws_the_breakeven_per_cluster(full_cost_home):
    section = _section(build_report(full_cost_home, built_at=BUILT), "self-hosted")
    assert '<h3 class="feature">gpu-a</h3>' in section and section.count('data-chart="breakeven"') == 1
    assert "2,400,000 tokens served of 15,000,000 capacity (utilization 16.0%), GPU bill $30.00: $12.50 per 1M tokens" in section
    assert "$2.00 at 100%" in section
    assert section.count('class="api-line"') == 2 and section.count('class="breakeven"') == 1 and 'class="actual"' in section
    assert "break-even 53.3%" in section  # 2.00 / 3.75
    assert "openai/gpt-4o-mini-2024-07-18: $0.2250 per 1M · API cheaper even at 100%" in section
    rows = _table_rows(section, "self-hosted vs API: gpu-a")
    # month, utilization, self-hosted per 1M, at 100%, API per 1M, break-even, cheaper now, GPU bill, tokens, priced, API cost
    assert rows["openai/gpt-4o-mini-2024-07-18"] == [
        "2026-11", "16.0%", "$12.50", "$2.00", "$0.2250", "API cheaper even at 100%", "API", "$30.00", "2,400,000", "1", "$0.54"]
    assert rows["openai/gpt-4o-2024-08-06"] == [
        "2026-11", "16.0%", "$12.50", "$2.00", "$3.75", "53.3%", "API", "$30.00", "2,400,000", "1", "$9.00"]
    # without a compare_with rule the section says how to get one
    no_rows = build_report(Home.at(full_cost_home.root), "2025-01", built_at=BUILT)
    assert "compare_with" in _section(no_rows, "self-hosted") and "docs/self-hosted.md" in _section(no_rows, "self-hosted")


def test_energy_section_keeps_bases_apart_and_counts_unknown(full_cost_home):
    section = _section(build_report(full_cost_home, built_at=BUILT), "energy")
    assert "<b>9.00 kWh</b> measured and <b>0.000500 kWh</b> estimated" in section
    assert "<b>1</b> of 3 requests have no energy figure: unknown, not zero" in section
    assert "pricing/energy.yaml" in section and "grid carbon intensity" in section
    assert 'data-chart="bar"' in section and "1.44 kWh measured" in section and "0.000500 kWh estimated" in section
    assert f"No energy figure at all for {escape(HOSTILE)} (1 requests)" in section
    rows = _table_rows(section, "energy and carbon per feature")
    # requests, kWh measured, kWh estimated, unknown energy, kg measured, kg estimated, unknown CO2e
    assert rows["summarize"] == ["1", "1.44 kWh", "", "0", "0.7200 kg", "", "0"]
    assert rows["support_chat"] == ["1", "", "0.000500 kWh", "0", "", "0.000200 kg", "0"]
    assert rows[HOSTILE] == ["1", "", "", "1", "", "", "1"]
    assert rows["idle_capacity"] == ["0", "7.56 kWh", "", "0", "3.78 kg", "", "0"]
    assert rows["total"] == ["3", "9.00 kWh", "0.000500 kWh", "1", "4.50 kg", "0.000200 kg", "1"]
    sources = _table_rows(section, "where the energy figures come from")
    assert sources["measured"] == ["avg_power_watts of the GPU records", "us-east-1", "500", "1", "9.00 kWh"]


def test_hostile_feature_names_are_escaped_in_the_new_sections(full_cost_home):
    page = build_report(full_cost_home, built_at=BUILT)
    assert "<script>alert(" not in page
    for anchor in ("full-cost", "energy"):
        assert escape(HOSTILE) in _section(page, anchor), anchor


def test_new_sections_without_their_mart_say_no_data_yet(full_cost_home, tmp_path):
    copy = Home.at(tmp_path / "copy")
    copy.root.mkdir()
    shutil.copyfile(full_cost_home.warehouse, copy.warehouse)
    tables = ("marts.full_cost", "marts.self_host_breakeven", "marts.energy_carbon")
    with duckdb.connect(str(copy.warehouse)) as con:
        for table in tables:
            con.execute(f"drop table {table}")
    page = build_report(copy, built_at=BUILT)
    for anchor, table in zip(("full-cost", "self-hosted", "energy"), tables):
        assert f"no data yet: {table} has not been built" in _section(page, anchor), table
    assert "model_tiers.yaml" in _section(page, "self-hosted")


def test_chargeback_section_without_chargeback_yaml_says_how_to_get_statements(home):
    section = _section(build_report(home, built_at=BUILT), "chargeback")
    assert "no chargeback statements yet: add chargeback.yaml to the home folder" in section
    assert "tokenledger run" in section and "<table>" not in section


def test_control_characters_and_reordering_marks_in_names_are_shown_as_escapes(tmp_path):
    """A feature named with ESC sequences, NUL and RIGHT-TO-LEFT OVERRIDE (U+202E, which shows 'evil\u202eexe.txt' as
    'eviltxt.exe') passed HTML escaping untouched: the page showed what the log did not say. Escaped as on the terminal."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    name = "evil\x1b[2J\u202eexe.txt\x00"
    land(home, "day.jsonl", [envelope("r1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 10, "completion_tokens": 2},
                                      timestamp="2026-10-10T10:00:00Z", feature=name)])
    run_pipeline(home, progress=lambda _: None)
    page = build_report(home, built_at=BUILT)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]", page)
    assert escape("evil\\x1b[2J\\u202eexe.txt\\x00") in page


def test_invisible_characters_cannot_make_two_names_look_alike(tmp_path, capsys):
    """A zero-width space, byte-order mark, soft hyphen, word joiner, tag character, Hangul filler or variation
    selector in a feature made rows that all read 'support_chat' (or 'support chat') and split its spend between them; they are shown as escapes, on the page and on the terminal,
    and an error line stays one line whatever a path holds."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    names = ["support_chat", "support\u200bchat", "support_chat\ufeff", "support\u00adchat", "support\u2060_chat",
             "support_chat\U000e0041", "support\u3164chat", "support_chat\ufe0f"]  # a tag character, a Hangul filler, a variation selector
    land(home, "day.jsonl", [envelope(f"r{n}", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 10, "completion_tokens": 2},
                                      timestamp="2026-10-10T10:00:00Z", feature=name) for n, name in enumerate(names)])
    run_pipeline(home, progress=lambda _: None)
    page = build_report(home, built_at=BUILT)
    assert not re.search("[\u00ad\u200b\u2060\ufeff\U000e0041\u3164\ufe0f]", page)
    for shown in ("support\\u200bchat", "support_chat\\ufeff", "support\\xadchat", "support\\u2060_chat", "support_chat\\U000e0041",
                  "support\\u3164chat", "support_chat\\ufe0f"):
        assert escape(shown) in page
    assert insights_main(["sql", "select 1", "--home", str(tmp_path / "none\nforged line")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_closed_month_says_whether_its_figures_are_restated(tmp_path):
    """The page of a closed month shows today's marts; the header says what was closed and what changed since."""
    from pipelines.finance.close import close_month

    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    land(home, "october.jsonl", [envelope(f"oct_{n}", "openai", "gpt-4o-2024-08-06", CHAT_USAGE, timestamp=f"2025-10-10T09:0{n}:00Z") for n in range(2)])
    run_pipeline(home, progress=lambda _: None)
    close_month(home, "2025-10", today=dt.date(2025, 11, 3))
    closed = build_report(home, "2025-10", built_at=BUILT)
    said = re.search(r'<p id="closes" class="closed">(.*?)</p>', closed).group(1)
    assert re.fullmatch(r"2025-10 was closed on \d{4}-\d\d-\d\d \d\d:\d\d UTC with \$0\.01 over 2 requests; unchanged since the close\.", said)
    assert 'id="closes"' not in build_report(home, "2025-11", built_at=BUILT)  # an open month says nothing

    land(home, "late.jsonl", [envelope("oct_late", "openai", "gpt-4o-2024-08-06", CHAT_USAGE, timestamp="2025-10-30T09:00:00Z")])
    run_pipeline(home, progress=lambda _: None)
    restated = unescape(re.search(r'<p id="closes" class="restated">(.*?)</p>', build_report(home, "2025-10", built_at=BUILT)).group(1))
    assert "The figures below are current and restate 2025-10: $0.01 over 2 requests at the close, $0.02 over 3 now" in restated
    everything = unescape(re.search(r'<p id="closes" class="restated">(.*?)</p>', build_report(home, built_at=BUILT)).group(1))
    assert everything.startswith("Closed months: 1 (2025-10 to 2025-10). The figures below are current and restate 2025-10: ")
