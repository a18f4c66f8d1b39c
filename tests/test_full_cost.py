"""Full cost (overhead, idle GPU), energy and carbon through the real pipeline, every number computed by hand.

One day, 2026-11-27: three API requests and three self-hosted ones on two clusters, six overhead records (one
per base and restriction, one in EUR, one in GBP without a rate), grid intensity for one region and a home
energy.yaml for the API figures, so no number here depends on the shipped figures except the H100 SXM default.

List prices used: gpt-4o-2024-08-06 $2.50 / $10 per 1M input / output; gpt-4o-mini-2024-07-18 $0.15 / $0.60;
claude-sonnet-4-5-20250929 $3 / $15.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import duckdb
import pytest
from helpers import envelope, land

from pipelines.ingest.privacy import create_key
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

NOV_27 = dt.date(2026, 11, 27)
ZERO = Decimal("0")
D = Decimal


def _request(request_id, provider, model, usage, feature, segment) -> str:
    return envelope(request_id, provider, model, usage, feature=feature, user_id=f"user_{request_id}", user_segment=segment)


REQUESTS = [
    # 1000 x 2.50 + 100 x 10 per 1M = 0.0035
    _request("a1", "openai", "gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 100}, "support_chat", "enterprise"),
    # 2000 x 3 + 200 x 15 per 1M = 0.009
    _request("a2", "anthropic", "claude-sonnet-4-5-20250929", {"input_tokens": 2000, "output_tokens": 200}, "support_chat", "pro"),
    # 10000 x 0.15 + 1000 x 0.60 per 1M = 0.0021
    _request("a3", "openai", "gpt-4o-mini-2024-07-18", {"prompt_tokens": 10000, "completion_tokens": 1000}, "code_assist", "enterprise"),
    # gpu-a: 4 GPUs x 24 h x $2.50 = $240; capacity 4 x 24 x 100,000 = 9.6M tokens; 3M served: utilization 0.3125,
    # allocated 240 x 3 / 9.6 = $75 (s1 1.2M tokens: $30, s2 1.8M: $45), idle $165.
    _request("s1", "self_hosted:gpu-a", "llama-3.1-70b", {"input_tokens": 1_000_000, "output_tokens": 200_000}, "summarize", "enterprise"),
    _request("s2", "self_hosted:gpu-a", "llama-3.1-70b", {"input_tokens": 1_500_000, "output_tokens": 300_000}, "summarize", "pro"),
    # gpu-b: 1 GPU x 10 h x $3 = $30, no capacity: the whole bill goes to b1 (100 tokens).
    _request("b1", "self_hosted:gpu-b", "llama-3.1-8b", {"input_tokens": 60, "output_tokens": 40}, "code_assist", "enterprise"),
]

GPU_CSV = """cluster,date,gpu_type,gpu_count,hours,hourly_rate,currency,capacity_tokens_per_hour,avg_power_watts
gpu-a,2026-11-27,H100-80GB,4,24,2.50,USD,100000,600
gpu-b,2026-11-27,h100-sxm5-80gb,1,10,3.00,USD,,
"""

OVERHEAD_CSV = """category,period_start,period_end,amount,currency,allocate_by,provider,cluster,description
egress,2026-11-27,2026-11-28,10.00,USD,cost,,,
storage,2026-11-01,2026-12-01,100.00,USD,tokens,,,model disks
observability,2026-11-27,2026-11-28,50.00,EUR,requests,,,
engineering,2026-11-27,2026-11-28,12.34,USD,feature:support_chat,,,
load_balancing,2026-11-27,2026-11-28,1.00,USD,tokens,,gpu-a,
other,2026-11-27,2026-11-28,0.01,USD,cost,anthropic,,
other,2026-11-27,2026-11-28,5.00,GBP,cost,,,no rate for this one
egress,2026-11-27,2026-11-28,5.00,USD,bandwidth,,,
"""

SETTINGS_YAML = """pue: 1.2
clusters:
  gpu-a: {region: US-East-1, pue: 1.1}
"""

CARBON_CSV = """date,region,gco2e_per_kwh
2026-11-20,us-east-1,380
2026-11-27,us-east-1,400
2026-11-28,us-east-1,999
2026-11-27,eu-west-1,-20
"""

ENERGY_YAML = """api:
  - match: "openai/gpt-4o-mini*"
    wh_per_request: 0.5
    gco2e_per_request: 0.2
    applies_to: a test figure
    source: https://example.org/test-figure
    published: 2026-01-01
  - match: "openai/gpt-4o-2024-08-06"
    wh_per_request: 0.34
    applies_to: a test figure without carbon
    source: https://example.org/test-figure
    published: 2026-01-01
"""


OUTCOMES = [
    {"outcome_id": "o1", "timestamp": "2026-11-27T12:00:00Z", "outcome_type": "ticket_resolved", "feature": "support_chat", "request_id": "a1"},
    {"outcome_id": "o2", "timestamp": "2026-11-27T12:00:00Z", "outcome_type": "summary_exported", "feature": "summarize", "request_id": "s2"},
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = Home.at(tmp_path_factory.mktemp("full_cost") / "home").ensure()
    create_key(home.secrets)
    land(home, "day.jsonl", REQUESTS)
    for folder, name, text in (
        ("gpu", "capacity.csv", GPU_CSV),
        ("overhead", "november.csv", OVERHEAD_CSV),
        ("carbon", "grid.csv", CARBON_CSV),
        ("fx", "rates.csv", "date,currency,rate\n2026-10-01,EUR,0.92\n"),
        ("outcomes", "events.jsonl", "\n".join(json.dumps(o) for o in OUTCOMES) + "\n"),
    ):
        (home.landing / folder).mkdir(parents=True, exist_ok=True)
        (home.landing / folder / name).write_text(text)
    (home.root / "settings.yaml").write_text(SETTINGS_YAML)
    (home.root / "energy.yaml").write_text(ENERGY_YAML)
    summary = run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        yield summary, con, home


def _rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


COLUMNS = (
    "feature, user_segment, requests, inference_usd, self_hosted_usd, idle_capacity_usd, egress_usd, storage_usd, "
    "observability_usd, load_balancing_usd, engineering_usd, other_usd"
)


def test_overhead_is_allocated_by_each_base_to_the_cent(world):
    summary, con, _ = world
    rows = _rows(con, f"select {COLUMNS} from marts.full_cost where event_date = '2026-11-27' order by feature, user_segment")
    # Bases on 2026-11-27 in (feature, segment) order:      cost       tokens    requests
    #   code_assist  / enterprise  a3 + b1                  30.0021     11,100    2
    #   summarize    / enterprise  s1                       30       1,200,000    1
    #   summarize    / pro         s2                       45       1,800,000    1
    #   support_chat / enterprise  a1                        0.0035      1,100    1
    #   support_chat / pro         a2                        0.009       2,200    1
    # Each share = round(cents x weight through this row / total) - the same through the row before.
    # egress $10.00 by cost (total 105.0146): round(1000 x 30.0021 / 105.0146) = 286; round(1000 x 60.0021 / ...) =
    #   571 -> 285; round(1000 x 105.0021 / ...) = 1000 -> 429; then 0 and 0.
    # storage $100.00 over 30 days: day 27 gets round(10000 x 27 / 30) - round(10000 x 26 / 30) = 9000 - 8667 = 333
    #   cents, by tokens (3,015,400): 1, 133, 199, 0, 0.
    # observability 50.00 EUR / 0.92 = 54.3478... USD = 5435 cents by requests (6): 1812, 906, 905, 906, 906.
    # engineering $12.34 charged to support_chat, over its segments by requests: 617 and 617.
    # load_balancing $1.00 on gpu-a's requests by tokens (1.2M, 1.8M): 40 and 60.
    # other $0.01 on anthropic's requests by cost: all to support_chat / pro. The GBP record has no rate: not allocated.
    # idle: gpu-a's $165 by tokens on gpu-a: 165 x 1.2 / 3 = 66 and 99.
    assert rows == [
        ("code_assist", "enterprise", 2, D("0.0021"), D("30"), ZERO, D("2.86"), D("0.01"), D("18.12"), ZERO, ZERO, ZERO),
        ("summarize", "enterprise", 1, ZERO, D("30"), D("66"), D("2.85"), D("1.33"), D("9.06"), D("0.40"), ZERO, ZERO),
        ("summarize", "pro", 1, ZERO, D("45"), D("99"), D("4.29"), D("1.99"), D("9.05"), D("0.60"), ZERO, ZERO),
        ("support_chat", "enterprise", 1, D("0.0035"), ZERO, ZERO, ZERO, ZERO, D("9.06"), ZERO, D("6.17"), ZERO),
        ("support_chat", "pro", 1, D("0.009"), ZERO, ZERO, ZERO, ZERO, D("9.06"), ZERO, D("6.17"), D("0.01")),
    ]
    totals = dict(_rows(con, "select feature, sum(total_usd) from marts.full_cost where event_date = '2026-11-27' group by 1"))
    assert totals["summarize"] == D("30") + 66 + D("2.85") + D("1.33") + D("9.06") + D("0.40") + 45 + 99 + D("4.29") + D("1.99") + D("9.05") + D("0.60")


def test_every_record_is_allocated_exactly_and_nothing_is_dropped(world):
    summary, con, _ = world
    # The other 29 days of the storage bill have no usage: their 10000 - 333 cents stay visible, unallocated.
    assert _rows(
        con, "select count(*), sum(storage_usd), min(event_date), max(event_date) from marts.full_cost where feature = 'unallocated_overhead'"
    ) == [(29, D("96.67"), dt.date(2026, 11, 1), dt.date(2026, 11, 30))]
    per_category = _rows(
        con,
        "select sum(egress_usd), sum(storage_usd), sum(observability_usd), sum(engineering_usd), sum(load_balancing_usd), sum(other_usd), "
        "sum(idle_capacity_usd) from marts.full_cost",
    )
    assert per_category == [(D("10.00"), D("100.00"), D("54.35"), D("12.34"), D("1.00"), D("0.01"), D("165"))]
    assert _rows(con, "select overhead_id, amount_cents, unconverted_reason from core.overhead where currency <> 'USD' order by 1") == [
        ("observability:2026-11-27..2026-11-28:requests", 5435, None),
        ("other:2026-11-27..2026-11-28:cost:no rate for this one", None, "no_fx_rate:GBP"),
    ]
    assert (
        "core/overhead overhead_in_usd: 1 overhead record(s) without a USD rate in reference.fx_rates "
        "(e.g. other 2026-11-27 GBP); add rates under landing/fx"
    ) in summary.warnings
    assert not [w for w in summary.warnings if "every_cent_allocated" in w]


def test_cluster_day_energy_and_carbon_with_pue_and_grid_intensity(world):
    summary, con, _ = world
    rows = _rows(
        con,
        "select feature, provider, model, requests, kwh, basis, kg_co2e, carbon_basis, pue, grid_region, gco2e_per_kwh, intensity_date "
        "from marts.energy_carbon where event_date = '2026-11-27' order by provider, feature, model",
    )
    # gpu-a: 4 GPUs x 24 h x 600 W (measured) x PUE 1.1 / 1000 = 63.36 kWh; utilization 0.3125 -> 19.8 kWh to
    # the requests, 43.56 kWh idle. Grid us-east-1 on 2026-11-27: 400 g/kWh -> 7.92 kg and 17.424 kg.
    # gpu-b: 1 x 10 h x 700 W (the H100 SXM default, estimated) x PUE 1.2 (settings' pue) = 8.4 kWh, all to b1
    # (no capacity); no region for gpu-b: carbon unknown.
    # API: a1 0.34 Wh (no carbon figure), a3 0.5 Wh and 0.2 g; claude has no figure: unknown, never zero.
    us = ("us-east-1", D("400"), NOV_27)
    none = (None, None, None)
    assert rows == [
        ("support_chat", "anthropic", "claude-sonnet-4-5-20250929", 1, None, "unknown", None, "unknown", None, *none),
        ("code_assist", "openai", "gpt-4o-mini-2024-07-18", 1, D("0.0005"), "estimated", D("0.0002"), "estimated", None, *none),
        ("support_chat", "openai", "gpt-4o-2024-08-06", 1, D("0.00034"), "estimated", None, "unknown", None, *none),
        ("idle_capacity", "self_hosted:gpu-a", "(idle)", 0, D("43.56"), "measured", D("17.424"), "measured", D("1.1"), *us),
        ("summarize", "self_hosted:gpu-a", "llama-3.1-70b", 2, D("19.8"), "measured", D("7.92"), "measured", D("1.1"), *us),
        ("code_assist", "self_hosted:gpu-b", "llama-3.1-8b", 1, D("8.4"), "estimated", None, "unknown", D("1.2"), *none),
    ]


def test_unit_economics_show_energy_per_request_beside_full_cost_without_mixing_bases_silently(world):
    summary, con, _ = world
    rows = _rows(
        con,
        "select user_segment, requests, cost_usd, full_cost_usd, kwh_measured, kwh_estimated, unknown_energy_requests, wh_per_request, "
        "energy_basis from marts.unit_economics where month = '2026-11' order by 1",
    )
    enterprise, pro = rows
    # enterprise: a1, a3, b1, s1. Inference 0.0035 + 0.0021 + 30 + 30; full cost adds idle 66 and overhead
    # 2.86 + 0.01 + 18.12 + 2.85 + 1.33 + 9.06 + 0.40 + 9.06 + 6.17 = 49.86.
    assert enterprise[:4] == ("enterprise", 4, D("60.0056"), D("60.0056") + 66 + D("49.86"))
    # s1's 7.92 kWh measured; b1 8.4 + a3 0.0005 + a1 0.00034 estimated: (7.92 + 8.40084) x 1000 / 4 Wh per request.
    assert enterprise[4] == pytest.approx(7.92)
    assert enterprise[5] == pytest.approx(8.40084)
    assert enterprise[6:] == (0, pytest.approx(4080.21), "measured+estimated")
    # pro: s2 11.88 kWh measured; a2 (claude) unknown and left out of the per-request figure, which says so.
    assert pro[4:] == (pytest.approx(11.88), None, 1, pytest.approx(11880.0), "measured+unknown")
    per_outcome = _rows(
        con,
        "select user_segment, outcomes, cost_per_outcome_usd, full_cost_per_outcome_usd, wh_per_outcome from marts.unit_economics "
        "where month = '2026-11' order by 1",
    )
    # One outcome each (o1 on a1, enterprise; o2 on s2, pro): all of the segment's cost and known energy over it.
    # pro's full cost: s2 45 + idle 99 + a2 0.009 + overhead 4.29 + 1.99 + 9.05 + 0.60 + 9.06 + 6.17 + 0.01 = 175.179.
    assert per_outcome == [
        ("enterprise", 1, D("60.0056"), D("175.8656"), pytest.approx(16320.84)),
        ("pro", 1, D("45.009"), D("175.179"), pytest.approx(11880.0)),
    ]


def test_bad_overhead_and_carbon_rows_are_kept_in_the_audit_with_file_row_field_and_reason(world):
    summary, con, _ = world
    rows = _rows(
        con,
        "select regexp_extract(source_file, '[^/]+$'), row_number, field, reason from audit.rejected_rows "
        "where source_file like '%overhead%' or source_file like '%carbon%' order by 1",
    )
    assert rows == [
        ("grid.csv", 4, "gco2e_per_kwh", "must not be negative: '-20'"),
        ("november.csv", 8, "allocate_by", "not cost, tokens, requests or feature:<name>: 'bandwidth'"),
    ]


def test_a_second_run_changes_nothing_while_a_reader_holds_the_warehouse(world):
    summary, con, home = world
    before = _rows(con, "select * from marts.full_cost order by all")
    energy = _rows(con, "select * from marts.energy_carbon order by all")
    run_pipeline(home, progress=lambda _: None)  # `con` stays open on the published warehouse meanwhile
    with duckdb.connect(str(home.warehouse), read_only=True) as fresh:
        assert _rows(fresh, "select * from marts.full_cost order by all") == before
        assert _rows(fresh, "select * from marts.energy_carbon order by all") == energy


def test_cost_per_outcome_can_show_inference_only_or_full_cost(world):
    summary, con, _ = world
    columns = {row[0] for row in _rows(con, "describe marts.cost_per_outcome")}
    assert {"cost_usd", "cost_per_outcome_usd", "full_cost_usd", "full_cost_per_outcome_usd", "wh_per_outcome", "energy_basis"} <= columns


def test_hostile_overhead_records_are_rejected_with_field_and_reason(tmp_path):
    from pipelines.records.business import parse_overhead

    data = (
        "category,period_start,period_end,amount,currency,allocate_by,provider,cluster\n"
        "gpu_rent,2026-11-01,2026-12-01,1,USD,cost,,\n"
        "egress,2026-11-01,2026-11-01,1,USD,cost,,\n"
        "egress,2026-11-01,2026-12-01,1,USD,weight,,\n"
        "egress,2026-11-01,2026-12-01,1,USD,feature:,,\n"
        "egress,2026-11-01,2026-12-01,1,USD,cost,openai,gpu-a\n"
        "egress,2026-11-01,2026-12-01,1e11,USD,cost,,\n"
        "egress,2026-11-01,2026-12-01,-3.50,USD,cost,,\n"
    ).encode()
    result = parse_overhead(data, "overhead.csv")
    assert [(r["row_number"], r["field"]) for r in result.rejected.to_pylist()] == [
        (1, "category"), (2, "period_end"), (3, "allocate_by"), (4, "allocate_by"), (5, "cluster"), (6, "amount"),
    ]
    # A credit (negative amount) is a record like any other: it is allocated with the same rounding, sign kept.
    assert result.rows.column("amount").to_pylist() == [D("-3.5")]
    assert json.loads(result.rejected.column("record")[0].as_py())["category"] == "gpu_rent"


def test_a_warehouse_made_before_the_energy_columns_is_upgraded_by_the_next_run(tmp_path):
    """A warehouse whose reference.gpu_capacity has no avg_power_watts and that has no energy or full-cost mart yet
    (as one made before they existed) gets them on the next run, instead of failing to create them."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    land(home, "day.jsonl", [r for r in REQUESTS if '"self_hosted:gpu-a"' in r])
    (home.landing / "gpu").mkdir(parents=True)
    (home.landing / "gpu" / "capacity.csv").write_text(GPU_CSV)
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.work_warehouse)) as con:
        con.execute("drop table marts.energy_carbon")
        con.execute("drop table marts.full_cost")
        con.execute("alter table reference.gpu_capacity drop column avg_power_watts")
    (home.landing / "gpu" / "capacity.csv").write_text(GPU_CSV.replace(",600\n", ",650\n"))  # a corrected GPU file
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        # 4 GPUs x 24 h x 650 W x PUE 1.2 (no settings) / 1000 = 74.88 kWh, 31.25% of it to the requests: 23.4 kWh.
        assert _rows(con, "select feature, kwh, basis from marts.energy_carbon where provider = 'self_hosted:gpu-a' order by 1") == [
            ("idle_capacity", D("51.48"), "measured"),
            ("summarize", D("23.4"), "measured"),
        ]
        # gpu-a's $240 bill, and gpu-b's $30 as idle capacity (no request ran there this time)
        assert _rows(con, "select feature, sum(self_hosted_usd + idle_capacity_usd) from marts.full_cost group by 1 order by 1") == [
            ("idle_capacity", D("30")), ("summarize", D("240")),
        ]


def test_gpu_costs_at_the_documented_bounds_are_shared_exactly(tmp_path):
    """The largest GPU day the records accept (100,000 GPUs x 24 h x $10,000 = $24,000,000,000) shared by requests of
    10^12 tokens each: the shares were formed as bill x tokens in 10^-15 USD units, beyond 128 bits, and the run failed
    with DuckDB's overflow. Without capacity the whole bill is shared by tokens; the three requests' shares
    (1 : 1 : 2 of 4 x 10^12 tokens) are $6,000,000,000, $6,000,000,000 and $12,000,000,000 exactly."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    big = {"input_tokens": 10**12 // 2, "output_tokens": 10**12 // 2}
    land(home, "bounds.jsonl", [
        _request("g1", "self_hosted:gpu-max", "llama-3.1-405b", big, "summarize", "enterprise"),
        _request("g2", "self_hosted:gpu-max", "llama-3.1-405b", big, "summarize", "pro"),
        _request("g3", "self_hosted:gpu-max", "llama-3.1-405b", {"input_tokens": 10**12, "output_tokens": 10**12}, "summarize", "pro"),
    ])
    (home.landing / "gpu").mkdir(parents=True)
    (home.landing / "gpu" / "max.csv").write_text(
        "cluster,date,gpu_type,gpu_count,hours,hourly_rate,currency,capacity_tokens_per_hour,avg_power_watts\n"
        "gpu-max,2026-11-27,H100-80GB,100000,24,10000,USD,,\n"
    )
    run_pipeline(home, progress=lambda _: None)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        costs = con.execute("select request_id, cost_usd from core.request_costs order by request_id").fetchall()
    assert costs == [("g1", D("6000000000")), ("g2", D("6000000000")), ("g3", D("12000000000"))]
