"""One request identity rule across files, sources and runs (README, "One request, many records").

A request is (source, request_id); of all its records, in any landed file, the final one by (occurred_at,
source_file, source_row) counts, and the others are in audit.duplicate_requests. Sources that log the
provider's own response id (settings.yaml same_call_sources) count one provider call once. The result does not
depend on the order files land in or on how runs are split: the property test lands the same files in
shuffled batches over several runs, with a file first landed in an older version and corrected later, and
gets the warehouse of one run over the final files.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from helpers import envelope
from test_otel_adapter import chat, doc, span

from pipelines.ingest.privacy import create_key, load_key, pseudonymize
from pipelines.runner import run_pipeline
from pipelines.storage.home import Home

LITELLM_ROW = json.loads((Path(__file__).resolve().parent / "fixtures" / "litellm" / "litellm_spendlogs_row.json").read_text())
T = "2026-11-27T10:15:02.120Z"
START_NS = int(dt.datetime(2026, 11, 27, 11, 0, tzinfo=dt.timezone.utc).timestamp()) * 10**9


def _openai(request_id: str, prompt: int, completion: int, timestamp: str = T) -> str:
    return envelope(request_id, "openai", "gpt-4o-2024-08-06", {"prompt_tokens": prompt, "completion_tokens": completion}, timestamp=timestamp)


def _claude(request_id: str, output: int, timestamp: str) -> str:
    usage = {"input_tokens": 100, "cache_read_input_tokens": 0, "output_tokens": output}
    return envelope(request_id, "anthropic", "claude-3-5-sonnet-20241022", usage, timestamp=timestamp)


def _litellm(request_id: str, prompt: int, completion: int) -> str:
    record = dict(LITELLM_ROW, metadata=dict(LITELLM_ROW["metadata"]), request_id=request_id, prompt_tokens=prompt,
                  completion_tokens=completion, total_tokens=prompt + completion, startTime="2026-11-27T11:00:00.000Z",
                  endTime="2026-11-27T11:00:01.000Z", completionStartTime="2026-11-27T11:00:00.500Z")
    return json.dumps(record)


def _otel(response_id: str, span_id: str) -> str:
    attributes = chat("anthropic", **{"gen_ai.response.id": response_id, "gen_ai.request.model": "claude-3-5-sonnet-20241022",
                                       "gen_ai.response.model": "claude-3-5-sonnet-20241022", "gen_ai.usage.input_tokens": 8120,
                                       "gen_ai.usage.output_tokens": 350})
    return doc(span(attributes, span_id=span_id, startTimeUnixNano=str(START_NS), endTimeUnixNano=str(START_NS + 10**9)))


# The files, by path under landing/gateway/: X is in a.jsonl and b.jsonl; stream S is split over two hourly
# files; C's two records disagree; ids 1 and 2 are both an envelope's and LiteLLM's; the provider call
# msg_same is logged by LiteLLM and by OTel.
FINAL = {
    "envelope/a.jsonl": [_openai("X", 1000, 100), _openai("Y", 2000, 10)],
    "envelope/b.jsonl": [_openai("X", 1000, 100)],
    "envelope/h10.jsonl": [_claude("S", 1, "2026-11-27T10:59:59.500Z")],
    "envelope/h11.jsonl": [_claude("S", 250, "2026-11-27T11:00:00.200Z")],
    "envelope/c1.jsonl": [_openai("C", 100, 10)],
    "envelope/c2.jsonl": [_openai("C", 50, 300)],
    "envelope/numbered.jsonl": [_openai("1", 10, 1), _openai("2", 20, 2), _openai("3", 30, 3)],
    "litellm/spend.jsonl": [_litellm("1", 500, 5), _litellm("2", 600, 6), _litellm("msg_same", 8120, 350)],
    "otel/spans.jsonl": [_otel("msg_same", "00f067aa0ba902b7"), _otel("msg_otel_only", "00f067aa0ba902b8")],
}
OLDER = {"envelope/a.jsonl": [_openai("X", 9999, 999), _openai("Y", 2000, 10), _openai("Z", 5, 5)]}
"""a.jsonl as first delivered: X with other usage and a Z the corrected file no longer holds."""


def _new_home(path: Path) -> Home:
    home = Home.at(path).ensure()
    create_key(home.secrets)
    return home


def _land(home: Home, relative: str, lines: list[str]) -> None:
    path = home.landing / "gateway" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(home: Home) -> None:
    run_pipeline(home, progress=lambda _: None)


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _ledger(home: Home) -> tuple[list[tuple], list[tuple], list[tuple]]:
    return (
        _query(home, "select source, request_id, source_file, input_tokens, output_tokens, cost_usd from core.request_costs order by all"),
        _query(home, "select * from marts.daily_spend order by all"),
        _query(home, "select source, request_id, source_file, reason, kept_source, kept_source_file from audit.duplicate_requests order by all"),
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Home:
    """Every final file landed at once, one run."""
    home = _new_home(tmp_path_factory.mktemp("identity") / "clean")
    for relative, lines in FINAL.items():
        _land(home, relative, lines)
    _run(home)
    return home


def test_the_final_record_of_each_request_counts_and_the_others_are_recorded(clean):
    core, _, duplicates = _ledger(clean)
    counted = {(source, request_id): (source_file, inp, out) for source, request_id, source_file, inp, out, _ in core}
    assert counted[("envelope", "X")] == ("gateway/envelope/b.jsonl", 1000, 100)  # same time and usage: the later file name
    assert counted[("envelope", "S")] == ("gateway/envelope/h11.jsonl", 100, 250)  # the stream's final usage, across files
    assert counted[("envelope", "C")] == ("gateway/envelope/c2.jsonl", 50, 300)  # a conflict: the final record counts
    # two sources, one request id each: two requests, and the day is not blocked
    assert counted[("envelope", "1")][1:] == (10, 1) and counted[("litellm", "1")][1:] == (500, 5)
    # one provider call logged by LiteLLM and by OTel: once, from the first source of same_call_sources
    assert counted[("litellm", "msg_same")] == ("gateway/litellm/spend.jsonl", 8120, 350)
    assert ("otel", "msg_same") not in counted and ("otel", "msg_otel_only") in counted
    assert len(core) == 11  # X Y S C 1 2 3 from the envelope, 1 2 msg_same from LiteLLM, msg_otel_only
    assert duplicates == [
        ("envelope", "C", "gateway/envelope/c1.jsonl", "conflict", "envelope", "gateway/envelope/c2.jsonl"),
        ("envelope", "S", "gateway/envelope/h10.jsonl", "superseded", "envelope", "gateway/envelope/h11.jsonl"),
        ("envelope", "X", "gateway/envelope/a.jsonl", "superseded", "envelope", "gateway/envelope/b.jsonl"),
        ("otel", "msg_same", "gateway/otel/spans.jsonl", "same_call", "litellm", "gateway/litellm/spend.jsonl"),
    ]
    # each file wrote its own records: nothing lost, nothing billed twice
    loaded = _query(clean, "select sum(rows_loaded) from audit.ingested_files where path like 'gateway/%'")[0][0]
    assert loaded == len(core) + len(duplicates)


def test_ids_a_gateway_numbers_per_day_are_other_requests_on_another_day(tmp_path):
    """Records are resolved within their UTC event date (README): a gateway whose ids restart each day (1, 2, 3 on
    2026-12-01 and again on 2026-12-02) logs six requests. One run over both days' files, one run per day, and one file
    holding both days all give two days of three requests; a run over both days kept only the second day's (the first
    day's were `conflict` records of the second's, and 2026-12-01 was gone from marts.daily_spend)."""
    days = ("2026-12-01", "2026-12-02")
    lines = {day: [_openai(str(n), 100 * n, n, f"{day}T10:00:0{n}Z") for n in (1, 2, 3)] for day in days}
    together, split, one_file = (_new_home(tmp_path / name) for name in ("together", "split", "one_file"))
    for day in days:
        _land(together, f"envelope/{day}.jsonl", lines[day])
    _run(together)
    for day in days:
        _land(split, f"envelope/{day}.jsonl", lines[day])
        _run(split)
    _land(one_file, "envelope/both.jsonl", lines[days[0]] + lines[days[1]])
    _run(one_file)
    per_day = "select cast(event_date as varchar), sum(requests) from marts.daily_spend group by all order by all"
    for home in (together, split, one_file):
        assert _query(home, per_day) == [(days[0], 3), (days[1], 3)], home.root.name
        assert _query(home, "select count(*) from audit.duplicate_requests") == [(0,)]
        assert _query(home, "select count(*), sum(input_tokens) from core.request_costs") == [(6, 1200)]
    assert _query(one_file, "select rows_duplicate from audit.ingested_files where path like '%both.jsonl'") == [(0,)]
    costs = "select request_id, occurred_at, cost_usd from core.request_costs order by all"
    assert _query(together, costs) == _query(split, costs) == [tuple(r) for r in _query(one_file, costs)]


def test_a_self_hosted_request_numbered_per_day_shares_its_own_days_gpu_bill(tmp_path):
    """A self-hosted request id used on two days is two requests, each sharing its own day's GPU bill (the GPU
    allocation is joined on the request's event date): request 1 of 2026-12-01 gets that day's $10 and request 1
    of 2026-12-02 that day's $20, once each."""
    home = _new_home(tmp_path / "gpu")
    usage = {"input_tokens": 900, "output_tokens": 100}
    lines = [envelope("1", "self_hosted:gpu-a", "llama-3.1-8b", usage, timestamp=f"{day}T10:00:00Z") for day in ("2026-12-01", "2026-12-02")]
    _land(home, "envelope/requests.jsonl", lines)
    gpu = home.landing / "gpu"
    gpu.mkdir(parents=True)
    # no capacity given: each day's whole bill goes to its one request (1 GPU x 10 h x $1 and x $2)
    (gpu / "capacity.csv").write_text(
        "cluster,date,gpu_type,gpu_count,hours,hourly_rate,currency,capacity_tokens_per_hour\n"
        "gpu-a,2026-12-01,A100,1,10,1.00,USD,\n"
        "gpu-a,2026-12-02,A100,1,10,2.00,USD,\n"
    )
    _run(home)
    rows = _query(home, "select cast(event_date as varchar), request_id, price_id, cost_usd, input_cost_usd, output_cost_usd "
                        "from core.request_costs order by all")
    assert rows == [
        ("2026-12-01", "1", "gpu:gpu-a:2026-12-01", Decimal("10"), Decimal("9"), Decimal("1")),
        ("2026-12-02", "1", "gpu:gpu-a:2026-12-02", Decimal("20"), Decimal("18"), Decimal("2")),
    ]
    assert _query(home, "select sum(cost_usd) from marts.daily_spend") == [(Decimal("30"),)]


def test_an_experiment_counts_a_request_id_once_per_day_not_once(tmp_path):
    """The experiment feed reaches a request through its user and its conversation: it counts once, by its user,
    per (source, request_id, event_date). A gateway numbering its requests per day logs request 1 on two days for
    user p_u1 (both counted), and request 2 tagged into the experiment on 2026-12-01 by user p_u2 does not hide
    p_u1's untagged request 2 of 2026-12-02 from the feed."""
    home = _new_home(tmp_path / "experiment")
    days = ("2026-12-01", "2026-12-02")
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}  # 1000 x 2.50 + 100 x 10 per 1M = $0.0035

    def request(request_id: str, day: str, user: str, **fields) -> str:
        return envelope(request_id, "openai", "gpt-4o-2024-08-06", usage, timestamp=f"{day}T10:00:00Z", user_id=user,
                        conversation_id="c7", **fields)

    _land(home, "envelope/requests.jsonl", [
        request("1", days[0], "u1"), request("1", days[1], "u1"),
        request("2", days[0], "u2", tags={"experiment": "e", "variant": "new"}), request("2", days[1], "u1"),
    ])
    users = dict(zip(("u1", "u2"), pseudonymize(pa.array(["u1", "u2"]), load_key(home.secrets)).to_pylist()))
    feed = home.landing / "experiments"
    feed.mkdir(parents=True)
    (feed / "assign.jsonl").write_text("\n".join(json.dumps(row) for row in [
        {"experiment": "e", "variant": "new", "user_id": "u1", "assigned_at": "2026-11-30T00:00:00Z"},
        {"experiment": "e", "variant": "new", "conversation_id": "c7", "assigned_at": "2026-11-30T00:00:00Z"},
    ]) + "\n")
    _run(home)
    units = _query(home, "select unit_type, unit_id, requests, cost_usd from core.experiment_units order by all")
    assert units == sorted([("user_id", users["u1"], 3, Decimal("0.0105")), ("user_id", users["u2"], 1, Decimal("0.0035"))])


def test_an_outcome_naming_a_request_id_used_on_several_days_links_the_request_nearest_before_it(tmp_path):
    """Request n1 on 2026-11-10, -11 and -20 (a gateway numbering its requests per day), each 1,000 in / 100 out on
    gpt-4o ($0.0035). An outcome of 2026-11-11 12:00 naming n1 linked all three ($0.0105, its last request nine days
    after it); it links the request of that id at or before it, else the first after it."""
    home = _new_home(tmp_path / "outcomes")
    days = ("2026-11-10", "2026-11-11", "2026-11-20")
    _land(home, "envelope/requests.jsonl", [_openai("n1", 1000, 100, f"{day}T10:00:00Z") for day in days])
    outcomes = home.landing / "outcomes"
    outcomes.mkdir(parents=True)
    (outcomes / "events.jsonl").write_text("\n".join(json.dumps(
        {"outcome_id": outcome_id, "timestamp": at, "outcome_type": "resolved", "feature": "support_chat", "request_id": "n1"})
        for outcome_id, at in (("same-day", "2026-11-11T12:00:00Z"), ("before-its-day", "2026-11-11T09:00:00Z"),
                               ("before-all", "2026-11-09T23:00:00Z"))) + "\n")
    _run(home)
    linked = _query(home, "select outcome_id, linked_requests, direct_cost_usd, cast(timezone('UTC', first_request_at) as varchar), "
                          "cast(timezone('UTC', last_request_at) as varchar) from marts.outcome_costs order by all")
    assert linked == [
        ("before-all", 1, Decimal("0.0035"), "2026-11-10 10:00:00", "2026-11-10 10:00:00"),  # none before: the first after
        ("before-its-day", 1, Decimal("0.0035"), "2026-11-10 10:00:00", "2026-11-10 10:00:00"),  # the latest before it
        ("same-day", 1, Decimal("0.0035"), "2026-11-11 10:00:00", "2026-11-11 10:00:00"),
    ]
    per_day = "select cast(event_date as varchar), outcomes from marts.latency_cost order by 1"
    assert _query(home, per_day) == [("2026-11-10", 2), ("2026-11-11", 1), ("2026-11-20", 0)]


def test_same_call_sources_is_configurable(tmp_path):
    home = _new_home(tmp_path / "home")
    (home.root / "settings.yaml").write_text("same_call_sources: []\n")
    _land(home, "litellm/spend.jsonl", FINAL["litellm/spend.jsonl"])
    _land(home, "otel/spans.jsonl", FINAL["otel/spans.jsonl"])
    _run(home)
    assert _query(home, "select source from core.request_costs where request_id = 'msg_same' order by 1") == [("litellm",), ("otel",)]
    assert _query(home, "select count(*) from audit.duplicate_requests") == [(0,)]

    (home.root / "settings.yaml").write_text("same_call_sources: [otel, litellm]\n")
    run_pipeline(home, dt.date(2026, 11, 27), dt.date(2026, 11, 27), progress=lambda _: None)
    assert _query(home, "select source from core.request_costs where request_id = 'msg_same'") == [("otel",)]


@pytest.mark.parametrize("seed", [3, 11])
def test_shuffled_files_over_several_runs_give_the_warehouse_of_one_run(clean, tmp_path, seed):
    rng = random.Random(seed)
    order = list(FINAL)
    rng.shuffle(order)
    cut = sorted(rng.sample(range(1, len(order)), 2))
    batches = [order[: cut[0]], order[cut[0] : cut[1]], order[cut[1] :]]
    home = _new_home(tmp_path / "shuffled")
    _land(home, "envelope/a.jsonl", OLDER["envelope/a.jsonl"])  # an older a.jsonl first, corrected by its batch
    for batch in batches:
        for relative in batch:
            _land(home, relative, FINAL[relative])
        _run(home)
    assert _ledger(home) == _ledger(clean), f"batches {batches}"
    assert _query(home, "select count(*) from core.request_costs where request_id = 'Z'") == [(0,)]


def test_same_call_sources_are_checked_against_the_gateway_formats(tmp_path):
    from pipelines.ingest.gateway import ADAPTERS
    from pipelines.settings import GATEWAY_SOURCES, SettingsError, same_call_sources

    assert set(GATEWAY_SOURCES) == set(ADAPTERS)
    (tmp_path / "settings.yaml").write_text("same_call_sources: [litelm]\n")
    with pytest.raises(SettingsError, match=r"settings.yaml: same_call_sources must be a list of distinct gateway sources"):
        same_call_sources(tmp_path)
