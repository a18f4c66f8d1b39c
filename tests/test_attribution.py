"""The attribution mapping: defaults, <home>/attribution.yaml overrides, and clear errors naming file and key."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pipelines.adapters.attribution import FIELDS, AttributionConfig, AttributionConfigError


def _write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "attribution.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_the_file_is_absent(tmp_path):
    config = AttributionConfig.load(tmp_path)
    assert config == AttributionConfig.default()
    assert config.otel.feature == ("app.feature", "feature", "gen_ai.agent.name")
    assert config.otel.user_id == ("enduser.id", "user.id", "user_id")
    assert config.otel.conversation_id == ("gen_ai.conversation.id", "session.id")
    assert config.litellm.feature[0] == "tag:feature"
    assert config.litellm.user_id[-1] == "end_user" and config.litellm.conversation_id[-1] == "session_id"
    assert config.litellm.customer_id[-1] == "team_id"  # the team is the customer only as a last resort


def test_a_dimension_given_replaces_its_default_and_the_rest_stay(tmp_path):
    path = _write(tmp_path, "otel:\n  feature: [product.area]\nlitellm:\n  customer_id: ['metadata.spend_logs_metadata.account', team_id]\n")
    config = AttributionConfig.load(tmp_path)
    assert config.otel.feature == ("product.area",)
    assert config.otel.user_id == AttributionConfig.default().otel.user_id
    assert config.litellm.customer_id == ("metadata.spend_logs_metadata.account", "team_id")
    assert config.litellm.feature == AttributionConfig.default().litellm.feature
    assert config.origin == str(path)


def test_empty_file_and_empty_list(tmp_path):
    _write(tmp_path, "")
    assert AttributionConfig.load(tmp_path).otel == AttributionConfig.default().otel
    _write(tmp_path, "otel:\n  feature: []\n")
    assert AttributionConfig.load(tmp_path).otel.feature == ()


def test_config_is_frozen_and_hashable():
    config = AttributionConfig.default()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.otel = config.litellm  # type: ignore[misc]
    assert hash(config) == hash(AttributionConfig.default())
    assert all(isinstance(config.otel.keys(field), tuple) for field in FIELDS)


ERRORS = [
    ("otle:\n  feature: [a]\n", "unknown key 'otle' (expected one of: otel, litellm, helicone, portkey, providers)"),
    ("otel:\n  featur: [a]\n", "unknown key 'otel.featur' (expected one of: feature, user_id, user_segment, customer_id, conversation_id, experiment, variant)"),
    ("litellm:\n  segment: [a]\n", "unknown key 'litellm.segment' (expected one of: feature, user_id, user_segment, customer_id, conversation_id, experiment, variant)"),
    ("otel:\n  feature: app.feature\n", "'otel.feature' must be a list of keys, found a string"),
    ("otel: [feature]\n", "'otel' must be a mapping of dimension to a list of keys, found a list"),
    ("- otel\n", "expected a mapping with keys otel and/or litellm, found a list"),
    ("otel:\n  feature: [1]\n", "'otel.feature' has an invalid key 1 (letters, digits and _ . : / @ - only)"),
    ("otel:\n  feature: [\"it's\"]\n", "'otel.feature' has an invalid key \"it's\" (letters, digits and _ . : / @ - only)"),
    ("otel:\n  feature: [gen_ai.input.messages]\n", "'otel.feature' names 'gen_ai.input.messages', which holds prompt or response text"),
    ("litellm:\n  user_id: [messages]\n", "'litellm.user_id' has unknown key 'messages' (expected tag:<name>, metadata.<path> or one of the columns "
     "end_user, user, team_id, organization_id, session_id, agent_id, api_key, model_group, call_type, mcp_namespaced_tool_name)"),
    ("litellm:\n  feature: ['tag:']\n", "'litellm.feature' has an empty tag name in 'tag:'"),
    ("litellm:\n  feature: [metadata..x]\n", "'litellm.feature' has an empty path segment in 'metadata..x'"),
    ("otel: {feature: [a]\n", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_bad_files_are_clear_errors_naming_file_and_key(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(AttributionConfigError) as raised:
        AttributionConfig.load(tmp_path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_helicone_and_portkey_sections_replace_their_adapter_defaults():
    from pipelines.adapters.portkey import DEFAULT_KEYS

    config = AttributionConfig.from_mapping({"helicone": {"feature": ["properties.team"]}, "portkey": {"customer_id": ["metadata.org"]}})
    assert config.helicone.feature == ("properties.team",)
    assert config.portkey.customer_id == ("metadata.org",) and config.portkey.feature == DEFAULT_KEYS.feature
    assert AttributionConfig.default().helicone is None


def test_providers_maps_a_gateway_name_to_ours_or_a_self_hosted_cluster():
    """`providers:` in attribution.yaml: LiteLLM's `ollama` rows (and the same name in an OTel span) become
    self_hosted:gpu-a, priced from that cluster's GPU bill instead of being rejected as an unknown provider."""
    from test_litellm_adapter import row
    from test_otel_adapter import chat, doc, span

    from pipelines.adapters.litellm import parse_litellm
    from pipelines.adapters.otel import parse_otel

    config = AttributionConfig.from_mapping({"providers": {"Ollama": "self_hosted:gpu-a", "groq": "openai"}})
    assert config.providers == (("groq", "openai"), ("ollama", "self_hosted:gpu-a"))
    records = [row(request_id="lt-1", custom_llm_provider="ollama", model="llama3.1:70b"), row(request_id="lt-2", custom_llm_provider="cohere")]
    litellm = parse_litellm(("\n".join(json.dumps(r) for r in records) + "\n").encode(), "spend.jsonl", config)
    assert [r["provider"] for r in litellm.rows.to_pylist()] == ["self_hosted:gpu-a"]
    assert [r["field"] for r in litellm.rejected.to_pylist()] == ["custom_llm_provider"]
    otel = parse_otel((doc(span(chat(**{"gen_ai.provider.name": "ollama"}))) + "\n").encode(), "spans.jsonl", config)
    assert otel.rejected.num_rows == 0 and otel.rows["provider"].to_pylist() == ["self_hosted:gpu-a"]
    unmapped = parse_otel((doc(span(chat(**{"gen_ai.provider.name": "ollama"}))) + "\n").encode(), "spans.jsonl")
    assert unmapped.rows.num_rows == 0 and unmapped.rejected.num_rows == 1


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ({"ollama": "self_hosted:"}, "'providers.ollama' must be one of openai, azure_openai, anthropic, google, aws_bedrock, mistral, deepseek, xai or self_hosted:<cluster>, found 'self_hosted:'"),
        ({"ollama": "llama"}, "'providers.ollama' must be one of"),
        (["ollama"], "'providers' must be a mapping of provider name to ours, found a list"),
        ({"": "openai"}, "'providers' has a name that is not text: ''"),
    ],
)
def test_a_bad_providers_mapping_names_the_key(providers, message):
    with pytest.raises(AttributionConfigError) as caught:
        AttributionConfig.from_mapping({"providers": providers}, origin="attribution.yaml")
    assert message in str(caught.value)
