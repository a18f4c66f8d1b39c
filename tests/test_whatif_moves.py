"""`tokenledger whatif --move-cluster` and `--move-feature`: traffic moved between self-hosted GPUs and APIs, against
hand-computed values, saved as estimates in marts.scenarios. The world is tests/test_breakeven.py's (November 2026).

marts.daily_spend has seen 2, 3 and 4 November (the 4th: gpu-a's idle GPU day), so November is observed from the 2nd
to the 4th: 3 days, 26 left of 30, and the month end is the month to date x (1 + 26 / 3).
"""

from __future__ import annotations

import datetime as dt
import decimal
from decimal import Decimal

import duckdb
import pytest
from test_breakeven import GPT_4O, MINI, build_world

from pipelines.cli.main import main as cli_main
from pipelines.insights.whatif import WhatIfError, run_move_cluster, run_move_feature
from pipelines.storage.database import connect
from pipelines.storage.home import Home

PLACES = Decimal(1).scaleb(-15)


def _month_end(spent: Decimal) -> Decimal:
    with decimal.localcontext(prec=60):
        return (spent + spent * 26 / 3).quantize(PLACES)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Home:
    return build_world(Home.at(tmp_path_factory.mktemp("moves") / "home").ensure())


def test_a_cluster_moved_to_an_api_model_against_its_whole_gpu_bill(world):
    with connect(world, read_only=True) as con:
        mini = run_move_cluster(con, "gpu-a", "openai/gpt-4o-mini-2024-07-18", "2026-11")
        negotiated = run_move_cluster(con, "self_hosted:gpu-a", "openai/gpt-4o-2024-08-06")
    span = mini.span
    assert (span.first_day, span.last_day, span.days_observed, span.days_in_month) == (dt.date(2026, 11, 2), dt.date(2026, 11, 4), 3, 30)
    # actual: gpu-a's GPU bill of 2..4 November, the idle 4th included: 3 x 4 GPUs x 24 h x $2.50 = $720 (its requests
    # were allocated only 8M / 960M of the 2nd's and 3rd's bills).
    assert mini.actual_usd == Decimal("720")
    assert (mini.requests, mini.repriced_requests, mini.unpriceable_requests, mini.tokens, mini.gpu_records) == (2, 2, 0, 8_000_000, 3)
    # scenario: a1 3M x 0.15 + 1M x 0.60 = 1.05, a2 1M x 0.15 + 3M x 0.60 = 1.95 on gpt-4o-mini.
    assert mini.scenario_usd == Decimal("3.00")
    assert mini.target_price_ids == [MINI] and mini.target_override_ids == []
    # Month end: 720 x (1 + 26/3) = 6,960 (the GPUs kept for 29 days at $240); 3 x (1 + 26/3) = 29.
    assert mini.month_end() == (Decimal("6960"), Decimal("29")) == (_month_end(Decimal(720)), _month_end(Decimal(3)))
    # gpt-4o at the negotiated 20% off: (17.50 + 32.50) x 0.8 = 40; 40 x (1 + 26/3) = 386.666666666666667.
    assert (negotiated.scenario_usd, negotiated.target_override_ids, negotiated.target_price_ids) == (Decimal("40"), ["negotiated-4o"], [GPT_4O])
    assert negotiated.month_end()[1] == Decimal("386.666666666666667")
    assert negotiated.scenario_id == "move_cluster:2026-11:gpu-a:openai/gpt-4o-2024-08-06"


def test_a_feature_moved_to_a_cluster_at_an_assumed_utilization(world):
    with connect(world, read_only=True) as con:
        result = run_move_feature(con, "support_chat", "gpu-a", Decimal("0.5"), "2026-11")
    # support_chat: o1 and o2 on gpt-4o-mini (6M x 0.15 + 2M x 0.60 = 2.10 each) and c1 on gpu-c, the only request of
    # gpu-c's day without capacity, which was allocated its whole bill: 1 x 24 h x $1.00 = $24. actual: 4.20 + 24 = 28.20.
    assert (result.requests, result.moved_requests, result.kept_requests, result.unpriced_requests) == (3, 2, 1, 0)
    assert (result.actual_usd, result.moved_actual_usd, result.moved_tokens) == (Decimal("28.2"), Decimal("4.2"), 16_000_000)
    # gpu-a's November: $720 for 2,880M tokens = $0.25 per 1M at 100%; at 50%, $0.50 per 1M: 16M tokens cost $8.00.
    assert (result.gpu_month_usd, result.capacity_tokens) == (Decimal("720"), 2_880_000_000)
    assert result.cost_per_1m_tokens_full_utilization_usd == Decimal("0.25")
    assert result.cluster_usd == Decimal("720") * 16_000_000 / (2_880_000_000 * Decimal("0.5")) == Decimal("8")
    # scenario: 28.20 - 4.20 + 8.00 = 32.00; month end 28.2 x (1 + 26/3) = 272.6 and 32 x (1 + 26/3) = 309.333333333333333.
    assert result.scenario_usd == Decimal("32")
    assert result.month_end() == (Decimal("272.6"), Decimal("309.333333333333333"))
    assert result.scenario_id == "move_feature:2026-11:support_chat:gpu-a:0.5"

    with connect(world, read_only=True) as con:
        # 60%: 16M x 0.25 / 0.6 per 1M = 6.666666666666667 (one rounding, half away from zero).
        assert run_move_feature(con, "support_chat", "gpu-a", Decimal("0.6")).cluster_usd == Decimal("6.666666666666667")


def test_moves_that_cannot_be_computed_say_why(world):
    with connect(world, read_only=True) as con:
        with pytest.raises(WhatIfError, match=r"no cluster 'gpu-z' in the data \(--move-cluster; clusters: gpu-a, gpu-b, gpu-c\)"):
            run_move_cluster(con, "gpu-z", "openai/gpt-4o-mini-2024-07-18")
        with pytest.raises(WhatIfError, match="'gpt-4o-mini' is priced under several providers"):
            run_move_cluster(con, "gpu-a", "gpt-4o-mini")
        with pytest.raises(WhatIfError, match=r"cluster 'gpu-c' has GPU records in 2026-11 without capacity_tokens_per_hour"):
            run_move_feature(con, "support_chat", "gpu-c", Decimal("0.5"))
        with pytest.raises(WhatIfError, match="feature 'summarize' has no priced API request in 2026-11 to move"):
            run_move_feature(con, "summarize", "gpu-a", Decimal("0.5"))
        with pytest.raises(WhatIfError, match=r"no feature 'nope' in the data"):
            run_move_feature(con, "nope", "gpu-a", Decimal("0.5"))
        with pytest.raises(WhatIfError, match=r"--utilization must be in \(0, 1\], got 1.5"):
            run_move_feature(con, "support_chat", "gpu-a", Decimal("1.5"))
        with pytest.raises(WhatIfError, match="no spend in 2026-10"):
            run_move_cluster(con, "gpu-a", "openai/gpt-4o-mini-2024-07-18", "2026-10")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "whatif: give one of --feature F --to-model M, --move-cluster C --to-model M or --move-feature F --to-cluster C "
             "--utilization U (got none)"),
        (["--feature", "support_chat", "--move-cluster", "gpu-a", "--to-model", "openai/gpt-4o-mini-2024-07-18"],
         "(got --feature and --move-cluster)"),
        (["--move-cluster", "gpu-a"], "whatif: --move-cluster needs --to-model"),
        (["--move-cluster", "gpu-a", "--to-model", "openai/gpt-4o-mini-2024-07-18", "--share", "0.5"],
         "whatif: --share does not go with --move-cluster (it takes --to-model)"),
        (["--move-feature", "support_chat", "--to-cluster", "gpu-a"], "whatif: --move-feature needs --utilization"),
        (["--move-feature", "support_chat", "--to-model", "openai/gpt-4o-mini-2024-07-18", "--to-cluster", "gpu-a", "--utilization", "0.5"],
         "whatif: --to-model does not go with --move-feature (it takes --to-cluster and --utilization)"),
        (["--feature", "support_chat", "--to-cluster", "gpu-a"], "whatif: --to-cluster does not go with --feature (it takes --share and --to-model)"),
        (["--feature", "support_chat"], "whatif: --feature needs --to-model"),
    ],
)
def test_whatif_argument_combinations_are_checked(world, capsys, arguments, message):
    assert cli_main(["whatif", "--home", str(world.root), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tokenledger: whatif: ") and message in err


def test_moves_are_saved_as_estimates_and_replaced_when_saved_again(world, capsys):
    for _ in range(2):
        assert cli_main(["whatif", "--home", str(world.root), "--move-cluster", "gpu-a", "--to-model", "openai/gpt-4o-mini-2024-07-18"]) == 0
        assert cli_main(["whatif", "--home", str(world.root), "--move-feature", "support_chat", "--to-cluster", "gpu-a",
                         "--utilization", "50%", "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    assert "month to date: 720.00 USD as is -> 3.00 USD (-99.6%)" in out
    assert "month to date: 28.20 USD as is -> 32.00 USD (+13.5%)" in out
    assert "saved to marts.scenarios as move_feature:2026-11:support_chat:gpu-a:0.5" in out
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        rows = con.execute(
            "select kind, feature, to_model, share, growth_factor, requests, repriced_requests, actual_usd, scenario_usd, "
            "baseline_month_end_usd, scenario_month_end_usd, delta_month_end_usd, is_estimate, description "
            "from marts.scenarios where kind like 'move_%' order by kind"
        ).fetchall()
    assert [row[:13] for row in rows] == [
        ("move_cluster", "(cluster gpu-a)", "openai/gpt-4o-mini-2024-07-18", Decimal("1"), 1, 2, 2, Decimal("720"), Decimal("3"),
         Decimal("6960"), Decimal("29"), Decimal("-6931"), True),
        ("move_feature", "support_chat", "self_hosted:gpu-a", Decimal("1"), 1, 3, 2, Decimal("28.2"), Decimal("32"),
         Decimal("272.6"), Decimal("309.333333333333333"), Decimal("36.733333333333333"), True),
    ]
    cluster, feature = rows[0][13], rows[1][13]
    assert cluster.startswith("estimate: cluster gpu-a's traffic of 2026-11-02..2026-11-04 (2 requests) moved to openai/gpt-4o-mini-2024-07-18")
    assert "whole GPU bill of those days (3 GPU records, idle included)" in cluster
    assert feature.startswith("estimate: support_chat's 2 priced API requests of 2026-11-02..2026-11-04 (16000000 tokens) served on cluster gpu-a")
    assert "(0.25 USD per 1M tokens) divided by 50% utilization" in feature
