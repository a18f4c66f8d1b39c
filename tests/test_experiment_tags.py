"""Every gateway format puts a request's experiment and variant into `tags.experiment` / `tags.variant`, found by
attribution.yaml's `experiment` and `variant` keys (or the defaults) the way the other dimensions are found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import envelope, litellm_csv, otel_line

from pipelines.adapters.attribution import AttributionConfig, AttributionConfigError
from pipelines.adapters.envelope import parse_envelope
from pipelines.adapters.helicone import parse_helicone
from pipelines.adapters.litellm import parse_litellm
from pipelines.adapters.otel import parse_otel
from pipelines.adapters.portkey import parse_portkey

FIXTURES = Path(__file__).resolve().parent / "fixtures"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}


def _sample(fmt: str, name: str) -> dict:
    return json.loads((FIXTURES / fmt / name).read_text())


def _jsonl(*records: dict) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _tags(result) -> list[dict | None]:
    assert result.rejected.num_rows == 0, result.rejected.to_pylist()
    return [None if t is None else json.loads(t) for t in result.rows["tags"].to_pylist()]


def test_envelope_tags_carry_experiment_and_variant_as_given():
    line = envelope("a", "openai", "gpt-4o-2024-08-06", USAGE, tags={"experiment": "cheap_model", "variant": "b", "env": "prod"})
    (tags,) = _tags(parse_envelope((line + "\n").encode(), "f.jsonl"))
    assert tags == {"experiment": "cheap_model", "variant": "b", "env": "prod"}


def test_litellm_request_tags_and_spend_logs_metadata_name_the_variant():
    # LiteLLM keeps per-request metadata under metadata.spend_logs_metadata and tags in request_tags
    # (SpendLogs schema, litellm/proxy/schema.prisma); the sample row is the fixture every LiteLLM test reads.
    base = _sample("litellm", "litellm_spendlogs_row.json")
    by_tag = dict(base, request_id="t", request_tags=["experiment:short_prompt", "variant:b", "env:prod"])
    by_meta = dict(base, request_id="m", request_tags=["env:prod"],
                   metadata=dict(base["metadata"], spend_logs_metadata={"experiment": "short_prompt", "variant": "a"}))
    neither = dict(base, request_id="n", request_tags=["env:prod"])
    for data, name in ((_jsonl(by_tag, by_meta, neither), "spend.jsonl"), (litellm_csv(by_tag, by_meta, neither), "spend.csv")):
        assert _tags(parse_litellm(data, name)) == [
            {"experiment": "short_prompt", "variant": "b", "env": "prod"},
            {"env": "prod", "experiment": "short_prompt", "variant": "a"},
            {"env": "prod"},
        ]


def test_helicone_properties_and_portkey_metadata_name_the_variant():
    helicone = dict(_sample("helicone", "helicone_request_response_rmt_row.json"), properties={"feature": "search", "experiment": "e1", "variant": "b"})
    assert _tags(parse_helicone(_jsonl(helicone), "rmt.jsonl")) == [{"feature": "search", "experiment": "e1", "variant": "b"}]
    portkey = dict(_sample("portkey", "portkey_log_export_row.json"), metadata={"team": "search", "experiment": "e1", "variant": "a"})
    assert _tags(parse_portkey(_jsonl(portkey), "logs.jsonl")) == [{"team": "search", "experiment": "e1", "variant": "a"}]


def test_configured_keys_copy_another_field_into_the_experiment_tags():
    config = AttributionConfig.from_mapping({"portkey": {"experiment": ["metadata.ab_test"], "variant": ["metadata.arm"]}})
    portkey = dict(_sample("portkey", "portkey_log_export_row.json"), metadata={"ab_test": "e2", "arm": "control"})
    assert _tags(parse_portkey(_jsonl(portkey), "logs.jsonl", config)) == [
        {"ab_test": "e2", "arm": "control", "experiment": "e2", "variant": "control"}
    ]


def test_otel_span_or_resource_attributes_name_the_variant():
    spans = [
        otel_line({"app.experiment": "e1", "app.variant": "b"}, {"service.name": "bot"}),
        otel_line({"variant": "a"}, {"service.name": "bot", "experiment": "e1"}),  # a resource attribute counts too
        otel_line({}, {"service.name": "bot"}),
    ]
    assert _tags(parse_otel(("\n".join(spans) + "\n").encode(), "t.jsonl")) == [
        {"service.name": "bot", "gen_ai.operation.name": "chat", "experiment": "e1", "variant": "b"},
        {"service.name": "bot", "gen_ai.operation.name": "chat", "experiment": "e1", "variant": "a"},
        {"service.name": "bot", "gen_ai.operation.name": "chat"},
    ]
    # OpenTelemetry's feature-flag conventions (feature_flag.key, feature_flag.result.variant) by configuration
    config = AttributionConfig.from_mapping({"otel": {"experiment": ["feature_flag.key"], "variant": ["feature_flag.result.variant"]}})
    line = otel_line({"feature_flag.key": "new-model", "feature_flag.result.variant": "on"}, {"service.name": "bot"})
    (tags,) = _tags(parse_otel((line + "\n").encode(), "t.jsonl", config))
    assert tags["experiment"] == "new-model" and tags["variant"] == "on"


def test_experiment_keys_are_checked_like_the_other_dimensions():
    with pytest.raises(AttributionConfigError, match=r"'litellm.experiment' has unknown key 'ab'"):
        AttributionConfig.from_mapping({"litellm": {"experiment": ["ab"]}})
    with pytest.raises(AttributionConfigError, match="expected one of: feature, .*, experiment, variant"):
        AttributionConfig.from_mapping({"otel": {"arm": ["a"]}})
