"""Tests for the synthetic envelope gateway logs."""

from __future__ import annotations

import datetime
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from pipelines.demo.gateway import FEATURES, SEGMENTS, UNKNOWN_MODELS, GenerationSummary, generate_gateway_logs

START = datetime.date(2026, 11, 20)
ENVELOPE_FIELDS = {
    "request_id": str, "timestamp": str, "provider": str, "model": str, "service_tier": str,
    "feature": str, "user_id": str, "user_segment": str, "customer_id": str,
    "conversation_id": str, "latency_ms": int, "status": str, "usage": dict,
}
PRICED_MODELS = {
    "openai": {
        "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14",
        "o3-2025-04-16", "o4-mini-2025-04-16", "gpt-5-2025-08-07", "gpt-5-mini-2025-08-07",
    },
    "anthropic": {
        "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-3-5-haiku-20241022",
        "claude-opus-4-1-20250805",
    },
}
REASONING_MODELS = {"o3-2025-04-16", "o4-mini-2025-04-16", "gpt-5-2025-08-07", "gpt-5-mini-2025-08-07"}
CHAT_KEYS = ["prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details"]
RESPONSES_KEYS = ["input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens"]
ANTHROPIC_KEYS = [
    "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation",
    "output_tokens", "server_tool_use", "service_tier",
]


def read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def token_counts(value: object) -> list[int]:
    if isinstance(value, dict):
        return [n for item in value.values() for n in token_counts(item)]
    return [value] if isinstance(value, int) else []


def load(line: str) -> dict | None:
    """The record of a good line, None for a bad one."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if "request_id" not in record or not record["timestamp"].endswith("Z"):
        return None
    return record if min(token_counts(record["usage"])) >= 0 else None


def parse(files: list[Path]) -> dict[str, object]:
    """Classify every line the way an ingester would: bad, duplicate or a new good request."""
    good, bad, duplicates = [], 0, 0
    seen: dict[str, str] = {}
    for path in files:
        for line in read_lines(path):
            record = load(line)
            if record is None:
                bad += 1
            elif record["request_id"] in seen:
                assert seen[record["request_id"]] == line, "a repeated request_id must be an exact duplicate"
                duplicates += 1
            else:
                seen[record["request_id"]] = line
                good.append(record)
    return {"good": good, "bad": bad, "duplicates": duplicates}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationSummary, dict[str, object]]:
    landing = tmp_path_factory.mktemp("home") / "landing"
    summary = generate_gateway_logs(landing, start=START, days=2, requests_per_day=30_000, files_per_day=2)
    return summary, parse(summary.files)


@pytest.fixture(scope="module")
def records(generated: tuple[GenerationSummary, dict[str, object]]) -> list[dict]:
    return generated[1]["good"]


def test_same_seed_gives_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    def generate(folder: str, seed: int) -> list[bytes]:
        summary = generate_gateway_logs(
            tmp_path / folder, start=START, days=2, requests_per_day=3_000, files_per_day=2, seed=seed
        )
        return [path.read_bytes() for path in summary.files]

    first = generate("a", 7)
    assert first == generate("b", 7)
    assert first != generate("c", 8)


def test_files_are_laid_out_by_day(generated: tuple[GenerationSummary, dict[str, object]]) -> None:
    summary, _ = generated
    folders = [path.parent for path in summary.files]
    assert [path.name for path in summary.files] == ["requests-000.jsonl.gz", "requests-001.jsonl.gz"] * 2
    assert [folder.name for folder in folders] == ["2026-11-20", "2026-11-20", "2026-11-21", "2026-11-21"]
    assert all(folder.parent.parts[-3:] == ("landing", "gateway", "envelope") for folder in folders)
    assert all(path.read_bytes()[4:8] == b"\0\0\0\0" for path in summary.files), "gzip mtime must be 0"


def test_summary_counts_match_file_contents(generated: tuple[GenerationSummary, dict[str, object]]) -> None:
    summary, parsed = generated
    unknown = sum(record["model"] in UNKNOWN_MODELS.values() for record in parsed["good"])
    assert summary.bad_lines == parsed["bad"] == 4 * len(summary.files)
    assert summary.duplicate_lines == parsed["duplicates"] == len(summary.files)
    assert summary.requests == len(parsed["good"]) + parsed["duplicates"] == 2 * 30_000 + len(summary.files)
    assert summary.unknown_model_requests == unknown
    assert 0.001 < unknown / len(parsed["good"]) < 0.006


def test_every_file_has_each_kind_of_bad_line(generated: tuple[GenerationSummary, dict[str, object]]) -> None:
    summary, _ = generated
    for path in summary.files:
        lines = read_lines(path)
        assert all(line.strip() for line in lines), "no blank lines"
        invalid = without_id = naive_timestamp = negative = 0
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                invalid += 1
                continue
            without_id += "request_id" not in record
            naive_timestamp += datetime.datetime.fromisoformat(record["timestamp"]).tzinfo is None
            negative += min(token_counts(record["usage"])) < 0
        assert (invalid, without_id, naive_timestamp, negative) == (1, 1, 1, 1), path


def test_no_bad_lines_when_asked_and_plain_jsonl(tmp_path: Path) -> None:
    summary = generate_gateway_logs(
        tmp_path / "landing", start=START, days=1, requests_per_day=2_000, bad_lines=False, compress=False
    )
    assert [path.name for path in summary.files] == ["requests-000.jsonl"]
    parsed = parse(summary.files)
    assert (summary.requests, summary.bad_lines, summary.duplicate_lines) == (2_000, 0, 0)
    assert (len(parsed["good"]), parsed["bad"], parsed["duplicates"]) == (2_000, 0, 0)


def test_good_lines_carry_the_envelope(records: list[dict]) -> None:
    for record in records:
        for field, kind in ENVELOPE_FIELDS.items():
            assert isinstance(record[field], kind), (field, record)
        assert set(record) - set(ENVELOPE_FIELDS) <= {"tags"}
        assert record["timestamp"][-5] == "." and record["timestamp"].endswith("Z")
        moment = datetime.datetime.fromisoformat(record["timestamp"])
        assert moment.utcoffset() == datetime.timedelta(0)
        assert record["request_id"].startswith(f"req_{moment:%Y%m%d}_")
        assert record["provider"] in PRICED_MODELS
        assert record["model"] in PRICED_MODELS[record["provider"]] | {UNKNOWN_MODELS[record["provider"]]}
        assert record["feature"] in FEATURES
        assert record["user_segment"] in SEGMENTS
        assert record["status"] in {"ok", "error"}
        assert record["latency_ms"] > 0
        if "tags" in record:
            assert record["tags"]["environment"] == "prod" and record["tags"]["experiment"]


def test_population_and_mix_look_like_a_product(records: list[dict]) -> None:
    customer_of_user, segment_of_user = {}, {}
    for record in records:
        assert customer_of_user.setdefault(record["user_id"], record["customer_id"]) == record["customer_id"]
        assert segment_of_user.setdefault(record["user_id"], record["user_segment"]) == record["user_segment"]
    assert 300 <= len(customer_of_user) <= 400
    assert 50 <= len({record["customer_id"] for record in records}) <= 60
    assert {record["feature"] for record in records} == set(FEATURES)
    segments = Counter(record["user_segment"] for record in records)
    assert segments["enterprise"] > segments["team"] > segments["pro"] > segments["free"] > 0
    openai = [record for record in records if record["provider"] == "openai"]
    responses = sum("input_tokens" in record["usage"] for record in openai) / len(openai)
    assert 0.2 < responses < 0.4
    batch = [record for record in records if record["service_tier"] == "batch"]
    assert {record["feature"] for record in batch} == {"summarize"}
    assert {record["provider"] for record in batch} == {"openai", "anthropic"}
    assert 0.02 < len(batch) / len(records) < 0.08
    assert 0.002 < sum(record["status"] == "error" for record in records) / len(records) < 0.05
    assert 0.05 < sum("tags" in record for record in records) / len(records) < 0.6
    hours = Counter(record["timestamp"][11:13] for record in records)
    assert max(hours.values()) > 2 * min(hours.values()), "traffic follows a daily cycle"


def test_openai_usage_is_consistent(records: list[dict]) -> None:
    default_tiers = set()
    for record in (r for r in records if r["provider"] == "openai"):
        usage = record["usage"]
        if "prompt_tokens" in usage:
            assert list(usage) == CHAT_KEYS
            prompt, output = usage["prompt_tokens"], usage["completion_tokens"]
            cached = usage["prompt_tokens_details"]["cached_tokens"]
            details = usage["completion_tokens_details"]
            reasoning = details["reasoning_tokens"]
            predicted = details["accepted_prediction_tokens"] + details["rejected_prediction_tokens"]
            assert predicted <= output
        else:
            assert list(usage) == RESPONSES_KEYS
            prompt, output = usage["input_tokens"], usage["output_tokens"]
            cached = usage["input_tokens_details"]["cached_tokens"]
            reasoning = usage["output_tokens_details"]["reasoning_tokens"]
        assert 200 <= prompt <= 60_000 and 50 <= output <= 4_000
        assert 0 <= cached <= prompt
        assert 0 <= reasoning <= output
        assert usage["total_tokens"] == prompt + output
        if record["model"] not in REASONING_MODELS:
            assert reasoning == 0
        default_tiers.add(record["service_tier"])
    assert default_tiers == {"default", "batch"}


def test_anthropic_usage_is_consistent(records: list[dict]) -> None:
    without_breakdown = with_writes = 0
    anthropic = [r for r in records if r["provider"] == "anthropic"]
    for record in anthropic:
        usage = record["usage"]
        assert [key for key in ANTHROPIC_KEYS if key in usage] == list(usage)
        assert set(ANTHROPIC_KEYS) - set(usage) <= {"cache_creation"}
        assert min(token_counts(usage)) >= 0
        prompt = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
        assert 200 <= prompt <= 60_000
        if "cache_creation" in usage:
            parts = usage["cache_creation"]
            assert parts["ephemeral_5m_input_tokens"] + parts["ephemeral_1h_input_tokens"] == usage[
                "cache_creation_input_tokens"
            ]
        else:
            without_breakdown += 1
        with_writes += usage["cache_creation_input_tokens"] > 0
        expected_tier = "batch" if record["service_tier"] == "batch" else "standard"
        assert usage["service_tier"] == expected_tier
        assert record["service_tier"] in {"standard", "batch"}
    assert 0.1 < without_breakdown / len(anthropic) < 0.3
    assert 0 < with_writes / len(anthropic) < 0.5


def test_caching_is_heavy_where_system_prompts_are_long(records: list[dict]) -> None:
    def cached_share(feature: str) -> float:
        cached = prompt = 0
        for record in (r for r in records if r["feature"] == feature and r["provider"] == "openai"):
            usage = record["usage"]
            details = usage.get("prompt_tokens_details") or usage["input_tokens_details"]
            cached += details["cached_tokens"]
            prompt += usage.get("prompt_tokens", usage.get("input_tokens"))
        return cached / prompt

    assert cached_share("support_chat") > 0.5
    assert cached_share("agent_workflows") > 0.5
    assert cached_share("summarize") < 0.2


def test_rejects_nonsense_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="files_per_day"):
        generate_gateway_logs(tmp_path, start=START, days=1, requests_per_day=10, files_per_day=0)
