"""What-if re-pricing and growth projections against hand-computed values from the published price book."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
from helpers import envelope, land, sample_usage

from pipelines.cli.main import main as insights_main
from pipelines.ingest.privacy import create_key
from pipelines.insights.whatif import ALL_FEATURES, WhatIfError, run_whatif
from pipelines.runner import run_pipeline
from pipelines.storage.database import connect
from pipelines.storage.home import Home

# gpt-4o-2024-08-06, standard, since 2024-10-01: input 2.50, cache read 1.25, output 10.00 USD per 1M tokens.
# The usage below is 976 uncached input + 1,024 cached + 300 output tokens:
#   976 x 2.50 + 1,024 x 1.25 + 300 x 10.00 = 6,720 per 1M -> 0.00672 USD per request.
CHAT_USAGE = {"prompt_tokens": 2000, "completion_tokens": 300, "prompt_tokens_details": {"cached_tokens": 1024}}
# claude-haiku-4-5-20251001, standard, from 2025-10-15 (no price before): input 1.00, cache read 0.10, output 5.00:
#   976 x 1.00 + 1,024 x 0.10 + 300 x 5.00 = 2,578.4 per 1M -> 0.0025784 USD per request.
# gpt-4o-mini-2024-07-18, standard: input 0.15, cache read 0.075, output 0.60, no cache-write price (writes bill as input).
# The Anthropic sample (claude-3-5-sonnet-20241022, 0.016635 USD) is 120 input, 8,000 cache read, 1,500 5-minute and
# 500 1-hour cache writes and 350 output tokens; on gpt-4o-mini:
#   120 x 0.15 + 8,000 x 0.075 + (1,500 + 500) x 0.15 + 350 x 0.60 = 1,128 per 1M -> 0.001128 USD.


def _quiet(_: str) -> None:
    return None


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    home = Home.at(tmp_path_factory.mktemp("whatif") / "home").ensure()
    create_key(home.secrets)
    lines = []
    for n in range(2):
        lines.append(envelope(f"early_{n}", "openai", "gpt-4o-2024-08-06", CHAT_USAGE, timestamp=f"2025-10-10T09:0{n}:00Z"))
    for n in range(3):
        lines.append(envelope(f"late_{n}", "openai", "gpt-4o-2024-08-06", CHAT_USAGE, timestamp=f"2025-10-20T09:0{n}:00Z"))
    lines.append(envelope("mystery", "openai", "gpt-9-preview", CHAT_USAGE, timestamp="2025-10-20T10:00:00Z"))
    lines.append(envelope("cached", "anthropic", "claude-3-5-sonnet-20241022", sample_usage("anthropic_messages_usage.json"),
                          service_tier="standard", feature="search", timestamp="2025-10-20T11:00:00Z"))
    lines.append(envelope("september", "openai", "gpt-4o-2024-08-06", CHAT_USAGE, timestamp="2025-09-30T12:00:00Z"))
    land(home, "october.jsonl", lines)
    run_pipeline(home, progress=_quiet)
    return home


def test_share_of_a_feature_repriced_on_another_model(home):
    with connect(home, read_only=True) as con:
        result = run_whatif(con, "support_chat", "claude-haiku-4-5-20251001", Decimal("0.6"), "2025-10")
    assert (result.requests, result.unpriced_requests, result.repriced_requests, result.kept_requests) == (6, 1, 3, 2)
    assert result.target_price_ids == ["anthropic/claude-haiku-4-5-20251001@2025-10-15/standard"]
    assert result.actual_usd == Decimal("0.0336")  # 5 x 0.00672
    assert result.repriced_actual_usd == Decimal("0.02016")  # the 3 requests after 2025-10-15
    assert result.target_usd == Decimal("0.0077352")  # 3 x 0.0025784
    # 0.0336 - 0.6 x 0.02016 + 0.6 x 0.0077352
    assert result.scenario_usd == Decimal("0.02614512")
    # the warehouse has data since 2025-09-30, so October is observed from the 1st to the 20th: 20 days, 11 left of 31,
    # and the month end is the month to date x 31 / 20 = x 1.55
    span = result.span
    assert (span.first_day, span.last_day, span.days_observed, span.days_remaining, span.days_in_month) == (
        dt.date(2025, 10, 1), dt.date(2025, 10, 20), 20, 11, 31,
    )
    assert result.month_end(1) == (Decimal("0.05208"), Decimal("0.040524936"))
    assert result.month_end(3) == (Decimal("0.15624"), Decimal("0.121574808"))
    assert result.month_end(10) == (Decimal("0.5208"), Decimal("0.40524936"))


def test_cache_writes_bill_as_input_on_a_model_without_cache_write_prices(home):
    with connect(home, read_only=True) as con:
        result = run_whatif(con, "search", "openai/gpt-4o-mini-2024-07-18", month="2025-10")
    assert result.share == 1 and result.repriced_requests == 1
    assert result.actual_usd == Decimal("0.016635")
    assert result.target_usd == Decimal("0.001128")
    assert result.scenario_usd == Decimal("0.001128")


def test_bad_what_ifs_say_what_is_wrong(home):
    with connect(home, read_only=True) as con:
        with pytest.raises(WhatIfError, match=r"priced under several providers \(azure_openai/gpt-4o-mini, openai/gpt-4o-mini-2024-07-18\)"):
            run_whatif(con, "support_chat", "gpt-4o-mini", month="2025-10")
        with pytest.raises(WhatIfError, match="'gpt-99' is not in the price book"):
            run_whatif(con, "support_chat", "gpt-99", month="2025-10")
        with pytest.raises(WhatIfError, match=r"no feature 'nope' in the data \(features: search, support_chat\)"):
            run_whatif(con, "nope", "gpt-4o-mini-2024-07-18", month="2025-10")
        with pytest.raises(WhatIfError, match="share must be in"):
            run_whatif(con, "support_chat", "gpt-4o-mini-2024-07-18", Decimal("1.5"))
        with pytest.raises(WhatIfError, match="no spend in 2025-12"):
            run_whatif(con, "support_chat", "gpt-4o-mini-2024-07-18", month="2025-12")


def test_whatif_command_saves_estimates_that_the_scenarios_asset_keeps(home, capsys):
    code = insights_main(["whatif", "--home", str(home.root), "--feature", "support_chat", "--to-model",
                          "anthropic/claude-haiku-4-5-20251001", "--share", "60%", "--month", "2025-10"])
    out = capsys.readouterr().out
    assert code == 0
    assert "month to date: 0.03 USD as is -> 0.03 USD" in out and " 10x volume" in out
    assert insights_main(["whatif", "--home", str(home.root), "--feature", "support_chat", "--to-model", "gpt-4o-mini"]) == 2
    assert "priced under several providers" in capsys.readouterr().err

    from pipelines.definitions import defs
    from pipelines.defs.resources import TokenledgerHome
    from pipelines.defs.stages import finish_run
    from pipelines.storage.database import publish

    definitions = defs()
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            list(definitions.assets), selection=dg.AssetSelection.assets(["marts", "scenarios"]), instance=instance,
            resources={"tokenledger": TokenledgerHome(home=str(home.root))},
        )
        assert result.success
        assert finish_run(home, instance, result.run_id)  # as the publish sensor does after the run: one mart, no day
    publish(home)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        switch = con.execute(
            "select growth_factor, actual_usd, scenario_usd, baseline_month_end_usd, scenario_month_end_usd, delta_month_end_usd, is_estimate "
            "from marts.scenarios where kind = 'model_switch' and share < 1 order by growth_factor"  # this test's 60% switch
        ).fetchall()
        growth = con.execute(
            "select feature, growth_factor, actual_usd, baseline_month_end_usd, scenario_month_end_usd, is_estimate, description "
            "from marts.scenarios where kind = 'growth' and growth_factor in (1, 10) order by feature, growth_factor"
        ).fetchall()
    assert switch == [
        (1, Decimal("0.0336"), Decimal("0.02614512"), Decimal("0.05208"), Decimal("0.040524936"), Decimal("-0.011555064"), True),
        (2, Decimal("0.0336"), Decimal("0.02614512"), Decimal("0.10416"), Decimal("0.081049872"), Decimal("-0.023110128"), True),
        (3, Decimal("0.0336"), Decimal("0.02614512"), Decimal("0.15624"), Decimal("0.121574808"), Decimal("-0.034665192"), True),
        (10, Decimal("0.0336"), Decimal("0.02614512"), Decimal("0.5208"), Decimal("0.40524936"), Decimal("-0.11555064"), True),
    ]
    # growth of the latest month (2025-10): all features 0.0336 + 0.016635 = 0.050235; month end x 1.55, then x 10
    assert [row[:6] for row in growth] == [
        (ALL_FEATURES, 1, Decimal("0.050235"), Decimal("0.07786425"), Decimal("0.07786425"), True),
        (ALL_FEATURES, 10, Decimal("0.050235"), Decimal("0.07786425"), Decimal("0.7786425"), True),
        ("search", 1, Decimal("0.016635"), Decimal("0.02578425"), Decimal("0.02578425"), True),
        ("search", 10, Decimal("0.016635"), Decimal("0.02578425"), Decimal("0.2578425"), True),
        ("support_chat", 1, Decimal("0.0336"), Decimal("0.05208"), Decimal("0.05208"), True),
        ("support_chat", 10, Decimal("0.0336"), Decimal("0.05208"), Decimal("0.5208"), True),
    ]
    assert all(row[6].startswith("estimate: ") for row in growth)


def test_a_saved_whatif_waits_for_no_run_it_is_refused_while_one_writes(home, capsys):
    """A saved scenario writes the working warehouse and publishes it. Without the home's run lock it published a run's
    half-built state between two of its steps (new days' spend beside the old whole-history marts). While a run (here
    the lock a run holds) writes, a saved what-if is refused at once; --no-save only reads and still runs."""
    from pipelines.storage.lock import run_lock

    args = ["whatif", "--home", str(home.root), "--feature", "support_chat", "--to-model", "anthropic/claude-haiku-4-5-20251001",
            "--month", "2025-10"]
    published = home.warehouse.stat().st_mtime_ns
    with run_lock(home):
        assert insights_main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"tokenledger: another tokenledger run is writing {home.root}") and err.count("\n") == 1, err
        assert insights_main([*args, "--no-save"]) == 0
        assert "saved to marts.scenarios" not in capsys.readouterr().out
    assert home.warehouse.stat().st_mtime_ns == published
    assert insights_main(args) == 0
    assert "saved to marts.scenarios" in capsys.readouterr().out
