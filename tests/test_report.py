"""The spend report: a self-contained page with a chart and a table per section, exact numbers, and
"no data yet" for every table the pipeline has not built."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal

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


def test_one_month_of_the_report(home):
    page = build_report(home, "2025-11", built_at=BUILT)
    assert "Data: event dates 2025-11-02 to 2025-11-02 (1 day, month 2025-11)" in page
    assert "Features: code_assist" in page
    # October: observed Oct 10-21 (12 days, 10 left of 31); support_chat spent 0.029568 -> 0.054208 > its 0.05 budget
    october = build_report(home, "2025-10", built_at=BUILT)
    row = re.search(r"<tr><td>feature</td><td>support_chat</td>(.*?)</tr>", october).group(1)
    assert "$0.05</td>" in row and "$0.03</td>" in row and '<td class="status-projected_over">projected_over</td>' in row


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
    (home.root / "budgets.yaml").write_text("features:\n  support_chat: plenty\n")
    try:
        page = build_report(home, "2025-10")
    finally:
        (home.root / "budgets.yaml").write_text("features:\n  support_chat: 0.05\nsegments:\n  enterprise: 1\n")
    assert "budgets.yaml: features.support_chat: expected a monthly amount in USD" in page
