"""Self-hosted versus API: marts.self_host_breakeven through the real pipeline, every number computed by hand, the
compare_with rules of model_tiers.yaml and `tokenledger breakeven`.

One small world (November 2026), run once through Dagster:

- gpu-a: 4 H100 x 24 h x $2.50/h = $240 a day, 10M tokens per GPU-hour = 960M tokens a day, billed on 2, 3 and
  4 November (the 4th idle): $720 and 2,880M tokens of capacity in the month. It serves llama-3.1-8b:
  a1 3M input + 1M output tokens (2 Nov), a2 1M input + 3M output tokens (3 Nov).
- gpu-b: 1 H100 x 24 h x $4.00/h = $96 for 24M tokens of capacity (2 Nov), serving llama-3.1-8b (b1, 0.5M + 0.5M)
  and mistral-7b (b2, 1M input), which no compare_with rule reaches.
- gpu-c: 1 L4 x 24 h x $1.00/h = $24 without a capacity (2 Nov), serving llama-3.1-8b (c1, 1M + 1M).
- support_chat on openai/gpt-4o-mini-2024-07-18: o1 and o2, 6M input + 2M output tokens each.

List prices used (USD per 1M tokens, standard tier, in force in November 2026):
  gpt-4o-mini-2024-07-18  input 0.15, output 0.60
  gpt-4o-2024-08-06       input 2.50, output 10.00 (the home negotiated 20% off from 1 November 2026)
  claude-haiku-4-5        input 1.00, output 5.00
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest
from helpers import envelope, land

from pipelines.cli.main import main as cli_main
from pipelines.ingest.privacy import create_key
from pipelines.pricing.tiers import ModelTiersError, load_tier_rules
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

MINI = "openai/gpt-4o-mini-2024-07-18@2026-10-12/standard"
GPT_4O = "openai/gpt-4o-2024-08-06@2024-10-01/standard"
RATIO = Decimal("0.000000001")


def _tokens(inputs: int, outputs: int) -> dict:
    return {"input_tokens": inputs, "output_tokens": outputs}


def _openai(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion}


REQUESTS = [
    envelope("a1", "self_hosted:gpu-a", "llama-3.1-8b", _tokens(3_000_000, 1_000_000), feature="summarize", timestamp="2026-11-02T10:00:00Z"),
    envelope("a2", "self_hosted:gpu-a", "llama-3.1-8b", _tokens(1_000_000, 3_000_000), feature="summarize", timestamp="2026-11-03T10:00:00Z"),
    envelope("b1", "self_hosted:gpu-b", "llama-3.1-8b", _tokens(500_000, 500_000), feature="summarize", timestamp="2026-11-02T11:00:00Z"),
    envelope("b2", "self_hosted:gpu-b", "mistral-7b", _tokens(1_000_000, 0), feature="summarize", timestamp="2026-11-02T12:00:00Z"),
    envelope("c1", "self_hosted:gpu-c", "llama-3.1-8b", _tokens(1_000_000, 1_000_000), feature="support_chat", timestamp="2026-11-02T13:00:00Z"),
    envelope("o1", "openai", "gpt-4o-mini-2024-07-18", _openai(6_000_000, 2_000_000), feature="support_chat", timestamp="2026-11-02T14:00:00Z"),
    envelope("o2", "openai", "gpt-4o-mini-2024-07-18", _openai(6_000_000, 2_000_000), feature="support_chat", timestamp="2026-11-03T14:00:00Z"),
]

GPU_CSV = """cluster,date,gpu_type,gpu_count,hours,hourly_rate,currency,capacity_tokens_per_hour
gpu-a,2026-11-02,H100,4,24,2.50,USD,10000000
gpu-a,2026-11-03,H100,4,24,2.50,USD,10000000
gpu-a,2026-11-04,H100,4,24,2.50,USD,10000000
gpu-b,2026-11-02,H100,1,24,4.00,USD,1000000
gpu-c,2026-11-02,L4,1,24,1.00,USD,
"""

# gpu-a's model is compared with two API models, every other llama with one.
# mistral-7b first matches the shipped "*mistral-7b*" rule, which has no compare_with: it is not compared.
TIERS_YAML = """rules:
  - {match: "self_hosted:gpu-a/*", tier: small, compare_with: [openai/gpt-4o-mini-2024-07-18, openai/gpt-4o-2024-08-06]}
  - {match: "*llama*", tier: small, compare_with: [openai/gpt-4o-mini-2024-07-18]}
"""

OVERRIDES_YAML = """overrides:
  - {id: negotiated-4o, provider: openai, model: gpt-4o-2024-08-06, effective_from: 2026-11-01, discount_pct: 20}
"""


def build_world(home: Home) -> Home:
    """The world above, landed and run through the pipeline."""
    create_key(home.secrets)
    land(home, "november.jsonl", REQUESTS)
    (home.landing / "gpu").mkdir(parents=True, exist_ok=True)
    (home.landing / "gpu" / "capacity.csv").write_text(GPU_CSV)
    (home.root / "model_tiers.yaml").write_text(TIERS_YAML)
    (home.root / "price_overrides.yaml").write_text(OVERRIDES_YAML)
    run_pipeline(home, progress=lambda _: None)
    return home


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Home:
    return build_world(Home.at(tmp_path_factory.mktemp("breakeven") / "home").ensure())


def _rows(home: Home) -> dict[tuple[str, str], dict]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        cursor = con.execute("select * from marts.self_host_breakeven")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    assert {row["month"] for row in rows} == {"2026-11"}
    return {(row["cluster"], f"{row['compare_provider']}/{row['compare_model']}"): row for row in rows}


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    return (numerator / denominator).quantize(RATIO, rounding=ROUND_HALF_UP)


def test_break_even_utilization_of_a_4_gpu_cluster_by_hand(world):
    rows = _rows(world)
    assert set(rows) == {
        ("gpu-a", "openai/gpt-4o-mini-2024-07-18"), ("gpu-a", "openai/gpt-4o-2024-08-06"),
        ("gpu-b", "openai/gpt-4o-mini-2024-07-18"), ("gpu-c", "openai/gpt-4o-mini-2024-07-18"),
    }
    row = rows["gpu-a", "openai/gpt-4o-mini-2024-07-18"]

    # The month's GPU bill, idle 4 November included: 3 days x 4 GPUs x 24 h x $2.50 = 3 x $240 = $720.
    gpu_cost = 3 * 4 * 24 * Decimal("2.50")
    assert gpu_cost == Decimal("720")
    # Capacity: 3 days x 4 GPUs x 24 h x 10M tokens per GPU-hour = 2,880M tokens.
    capacity = 3 * 4 * 24 * 10_000_000
    # Served: a1 3M + 1M, a2 1M + 3M = 8M tokens, every bucket.
    served = (3_000_000 + 1_000_000) + (1_000_000 + 3_000_000)
    # On gpt-4o-mini: a1 3 x 0.15 + 1 x 0.60 = 1.05, a2 1 x 0.15 + 3 x 0.60 = 1.95: $3.00 for 8M tokens.
    api_cost = (3 * Decimal("0.15") + 1 * Decimal("0.60")) + (1 * Decimal("0.15") + 3 * Decimal("0.60"))
    assert api_cost == Decimal("3.00")
    full_per_1m = gpu_cost * 1_000_000 / capacity  # $0.25 per 1M tokens at 100% utilization
    api_per_1m = api_cost * 1_000_000 / served  # $0.375 per 1M tokens on the API
    assert (full_per_1m, api_per_1m) == (Decimal("0.25"), Decimal("0.375"))
    # Break-even: 0.25 / 0.375 = 2/3: from 66.7% utilization on, a self-hosted token costs less than the API's.
    breakeven = _ratio(full_per_1m, api_per_1m)
    assert breakeven == Decimal("0.666666667")

    assert row["self_hosted_models"] == "llama-3.1-8b"
    assert (row["requests"], row["tokens_served"], row["capacity_tokens"]) == (2, served, capacity)
    assert row["gpu_cost_usd"] == gpu_cost
    assert row["utilization"] == _ratio(Decimal(served), Decimal(capacity)) == Decimal("0.002777778")  # 8 / 2,880
    assert row["cost_per_1m_tokens_usd"] == Decimal("90")  # 720 / 8M tokens x 1M: the idle GPUs are paid for
    assert row["cost_per_1m_tokens_full_utilization_usd"] == full_per_1m
    assert (row["compared_requests"], row["api_priced_requests"], row["api_unpriceable_requests"], row["api_priced_tokens"]) == (2, 2, 0, served)
    assert row["api_cost_usd"] == api_cost
    assert row["api_cost_per_1m_tokens_usd"] == api_per_1m
    assert row["breakeven_utilization"] == breakeven
    assert row["self_hosted_cheaper"] is False  # $90 per 1M at 0.28% utilization
    assert row["api_price_ids"] == [MINI] and row["api_override_ids"] == []
    assert row["compare_rules"] == "model_tiers.yaml#1"


def test_negotiated_prices_win_over_list_prices(world):
    row = _rows(world)["gpu-a", "openai/gpt-4o-2024-08-06"]
    # List: a1 3 x 2.50 + 1 x 10 = 17.50, a2 1 x 2.50 + 3 x 10 = 32.50: $50; 20% off: $40 for 8M tokens = $5 per 1M.
    api_cost = (3 * Decimal("2.50") + 1 * Decimal("10") + 1 * Decimal("2.50") + 3 * Decimal("10")) * Decimal("0.8")
    assert row["api_cost_usd"] == api_cost == Decimal("40")
    assert row["api_cost_per_1m_tokens_usd"] == Decimal("5")
    # 0.25 / 5 = 5% utilization is enough to beat the negotiated gpt-4o price.
    assert row["breakeven_utilization"] == Decimal("0.05")
    assert row["api_price_ids"] == [GPT_4O] and row["api_override_ids"] == ["negotiated-4o"]


def test_no_break_even_when_the_api_is_cheaper_even_at_full_utilization(world):
    rows = _rows(world)
    gpu_b = rows["gpu-b", "openai/gpt-4o-mini-2024-07-18"]
    # gpu-b: $96 for 24M tokens = $4.00 per 1M at 100%; b1 on gpt-4o-mini: 0.5 x 0.15 + 0.5 x 0.60 = $0.375 for 1M
    # tokens. 4.00 / 0.375 = 10.67 > 1: the API is cheaper even at 100% utilization.
    assert gpu_b["cost_per_1m_tokens_full_utilization_usd"] == Decimal("4")
    assert gpu_b["api_cost_usd"] == gpu_b["api_cost_per_1m_tokens_usd"] == Decimal("0.375")
    assert gpu_b["breakeven_utilization"] is None
    # b2 (mistral-7b) is served and counted in the cluster's tokens, but not compared: 2 requests, 2M tokens, 1 compared.
    assert (gpu_b["self_hosted_models"], gpu_b["requests"], gpu_b["tokens_served"], gpu_b["compared_requests"]) == ("llama-3.1-8b", 2, 2_000_000, 1)
    assert gpu_b["utilization"] == Decimal("0.083333333")  # 2M / 24M
    assert gpu_b["cost_per_1m_tokens_usd"] == Decimal("48")  # 96 / 2M x 1M
    # gpu-c gives no capacity: no utilization, no cost at 100%, no break-even; the actual cost per 1M is known.
    gpu_c = rows["gpu-c", "openai/gpt-4o-mini-2024-07-18"]
    assert (gpu_c["capacity_tokens"], gpu_c["utilization"], gpu_c["cost_per_1m_tokens_full_utilization_usd"]) == (None, None, None)
    assert gpu_c["breakeven_utilization"] is None
    assert gpu_c["cost_per_1m_tokens_usd"] == Decimal("12")  # 24 / 2M x 1M
    assert gpu_c["api_cost_usd"] == Decimal("0.75")  # 1 x 0.15 + 1 x 0.60


def test_money_columns_are_decimal(world):
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        types = dict(con.execute(
            "select column_name, data_type from information_schema.columns where table_schema = 'marts' "
            "and table_name = 'self_host_breakeven' and (column_name like '%_usd' or column_name in ('utilization', 'breakeven_utilization'))"
        ).fetchall())
    assert len(types) == 7
    assert {name: kind for name, kind in types.items() if name.endswith("_usd")} == {
        name: "DECIMAL(38,15)" for name in types if name.endswith("_usd")
    }
    assert types["utilization"] == types["breakeven_utilization"] == "DECIMAL(38,9)"


def test_breakeven_command_prints_the_mart_and_compares_on_the_fly(world, capsys):
    assert cli_main(["breakeven", "--home", str(world.root), "--cluster", "gpu-a"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("gpu-a")]
    # Cheapest break-even first: the negotiated gpt-4o (5.0%), then gpt-4o-mini (66.7%).
    assert [line.split()[2] for line in lines] == ["openai/gpt-4o-2024-08-06", "openai/gpt-4o-mini-2024-07-18"]
    assert lines[0].split()[-1] == "5.0%" and lines[1].split()[-1] == "66.7%"
    assert "negotiated: negotiated-4o" in out and "gpu-b" not in out

    assert cli_main(["breakeven", "--home", str(world.root), "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("gpu-b")] == ["cheaper"]  # "API cheaper"
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("gpu-c")] == ["n/a"]

    # On the fly with claude-haiku-4-5: a1 3 x 1 + 1 x 5 = 8, a2 1 x 1 + 3 x 5 = 16: $24 for 8M tokens = $3 per 1M;
    # 0.25 / 3 = 0.083333333. Every self-hosted model is compared, mistral-7b too; nothing is saved.
    from pipelines.insights.whatif import breakeven
    from pipelines.storage.database import connect

    with connect(world, read_only=True) as con:
        rows = {row["cluster"]: row for row in breakeven(con, compare_with=["claude-haiku-4-5", "anthropic/claude-haiku-4-5-20251001"])}
    assert set(rows) == {"gpu-a", "gpu-b", "gpu-c"}
    assert rows["gpu-a"]["compare_with"] == "anthropic/claude-haiku-4-5-20251001"
    assert (rows["gpu-a"]["api_cost_usd"], rows["gpu-a"]["breakeven_utilization"]) == (Decimal("24"), Decimal("0.083333333"))
    assert (rows["gpu-b"]["self_hosted_models"], rows["gpu-b"]["compared_requests"]) == ("llama-3.1-8b, mistral-7b", 2)
    assert cli_main(["breakeven", "--home", str(world.root), "--cluster", "self_hosted:gpu-a", "--compare-with", "claude-haiku-4-5"]) == 0
    out = capsys.readouterr().out
    assert "anthropic/claude-haiku-4-5-20251001" in out and out.splitlines()[1].split()[-1] == "8.3%"
    assert len(_rows(world)) == 4

    assert cli_main(["breakeven", "--home", str(world.root), "--compare-with", "gpt-4o-mini"]) == 2
    assert "--compare-with 'gpt-4o-mini' is priced under several providers" in capsys.readouterr().err
    assert cli_main(["breakeven", "--home", str(world.root), "--month", "2026-10"]) == 0
    assert "no self-hosted traffic compared with an API model for 2026-10" in capsys.readouterr().out
    # a cluster the data does not know is named as such (it said "no traffic compared: add compare_with")
    assert cli_main(["breakeven", "--home", str(world.root), "--cluster", "gpu-z"]) == 2
    assert capsys.readouterr().err == "tokenledger: no cluster 'gpu-z' in the data (--cluster; clusters: gpu-a, gpu-b, gpu-c)\n"


# -- compare_with in model_tiers.yaml ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ('  - {match: "*llama*", tier: small, compare_with: [gpt-99]}\n',
         "model_tiers.yaml: rule 1 (*llama*): compare_with 'gpt-99' is not in the price book (`tokenledger prices list` shows every model)"),
        ('  - {match: "*llama*", tier: small, compare_with: [gpt-4o-mini]}\n',
         "model_tiers.yaml: rule 1 (*llama*): compare_with 'gpt-4o-mini' is priced under several providers "
         "(azure_openai/gpt-4o-mini, openai/gpt-4o-mini-2024-07-18): name one as provider/model"),
        ('  - {match: "*llama*", tier: small, compare_with: openai/gpt-4o-mini-2024-07-18}\n',
         "model_tiers.yaml: rule 1 (*llama*): compare_with must be a non-empty list of provider/model names, got 'openai/gpt-4o-mini-2024-07-18'"),
        ('  - {match: "*llama*", tier: small, compare_with: []}\n',
         "model_tiers.yaml: rule 1 (*llama*): compare_with must be a non-empty list of provider/model names, got []"),
        ('  - {match: "*llama*", tier: small, compare_with: [5, "openai/"]}\n',
         "model_tiers.yaml: rule 1 (*llama*): compare_with names a model as text (provider/model or model), got 5\n"
         "model_tiers.yaml: rule 1 (*llama*): compare_with names a model as text (provider/model or model), got 'openai/'"),
        ('  - {match: "*llama*", tier: small, compare_with: [gpt-4o-2024-08-06, gpt-4o-2024-08-06]}\n',
         "model_tiers.yaml: rule 1 (*llama*): compare_with names 'gpt-4o-2024-08-06' twice"),
        ('  - {match: "*llama*", compare_with: [gpt-4o-2024-08-06]}\n',
         "model_tiers.yaml: rule 1: expected exactly the keys match, tier and compare_with, got {'match': '*llama*', 'compare_with': "
         "['gpt-4o-2024-08-06']}"),
        ('  - {match: "*mistral*", tier: small}\n  - {match: "*llama*", tier: small, compare_with: [openai/gpt-4o-2024-08-06, nope/gpt-4o-2024-08-06]}\n',
         "model_tiers.yaml: rule 2 (*llama*): compare_with 'nope/gpt-4o-2024-08-06' is not in the price book "
         "(`tokenledger prices list` shows every model)"),
    ],
)
def test_compare_with_errors_name_the_file_the_rule_and_the_name(tmp_path, rules, message):
    (tmp_path / "model_tiers.yaml").write_text("rules:\n" + rules)
    with pytest.raises(ModelTiersError) as caught:
        load_tier_rules(tmp_path)
    assert str(caught.value) == message


def test_compare_with_resolves_names_and_a_bad_one_stops_the_run_before_it_starts(home, capsys):
    (home.root / "model_tiers.yaml").write_text(
        'rules:\n  - {match: "*llama*", tier: small, compare_with: [openai/gpt-4o-mini-2024-07-18, openai/gpt-4o-mini, '
        "claude-haiku-4-5]}\n"
    )
    rules = load_tier_rules(home.root).to_pylist()
    assert rules[0]["compare_with"] == [
        {"provider": "openai", "model": "gpt-4o-mini-2024-07-18"}, {"provider": "anthropic", "model": "claude-haiku-4-5-20251001"},
    ]
    # The shipped rules carry none.
    assert {rule["rule_source"].split("#")[0] for rule in rules if rule["compare_with"]} == {"model_tiers.yaml"}
    (home.root / "model_tiers.yaml").write_text('rules:\n  - {match: "*llama*", tier: small, compare_with: [gpt-99]}\n')
    assert cli_main(["run", "--home", str(home.root)]) == 2
    assert capsys.readouterr().err == (
        "tokenledger: model_tiers.yaml: rule 1 (*llama*): compare_with 'gpt-99' is not in the price book "
        "(`tokenledger prices list` shows every model)\n"
    )
