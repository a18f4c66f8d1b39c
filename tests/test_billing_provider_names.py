"""Provider names on FOCUS bills go through the one table of provider names (`pipelines.adapters.providers`): a model
maker's own bill names ours, a cloud platform's name on its other services names none.

Where the names come from:

- LiteLLM's FOCUS export (BerriAI/litellm, litellm/integrations/focus/transformer.py) writes its custom_llm_provider as
  ProviderName, PublisherName and InvoiceIssuerName: `openai`, `anthropic`, `mistral`, `deepseek`, `xai`.
- The companies' own names: OpenAI, Anthropic, Mistral AI, DeepSeek, xAI; and the entities that invoice them: OpenAI's
  enterprise agreement is with "OpenAI, LLC" (https://openai.com/policies/enterprise-agreement); Anthropic bills as
  "Anthropic, PBC" (https://fazm.ai/blog/anthropic-vat, a third-party account of its invoices).
- The platforms as FOCUS 1.2 writes them: ProviderName "AWS" (AWS Data Exports, the shared sample
  focus_1_2_bedrock_row.csv), "Microsoft" (Azure's FOCUS export, tests/test_billing.py), "Google Cloud".
"""

from __future__ import annotations

import csv
import io

import pytest
from helpers import FORMATS

from pipelines.adapters.providers import ours
from pipelines.records.billing.formats import MODEL_MAKERS, parse_focus


def _focus(*rows: dict[str, str]) -> bytes:
    """FOCUS 1.2 rows with the shared sample's columns and values, each changed by `rows`."""
    with open(FORMATS / "focus_1_2_bedrock_row.csv", newline="") as handle:
        template = next(csv.DictReader(handle))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(template))
    writer.writeheader()
    writer.writerows({**template, "Tags": "", **row} for row in rows)
    return out.getvalue().encode()


def _providers(*rows: dict[str, str]) -> list[str | None]:
    parsed = parse_focus(_focus(*rows), "bill.csv")
    assert parsed.rejected.num_rows == 0
    return [row["provider"] for row in parsed.rows.to_pylist()]


MAKERS = [
    # (ProviderName, InvoiceIssuerName, ServiceName) → ours
    ("OpenAI", "OpenAI", "OpenAI API", "openai"),
    ("OpenAI", "OpenAI, LLC", "OpenAI API", "openai"),
    ("openai", "openai", "gpt-4o", "openai"),
    ("Anthropic", "Anthropic", "Claude API", "anthropic"),
    ("", "Anthropic, PBC", "Claude API", "anthropic"),
    ("anthropic", "anthropic", "claude-sonnet-4-5", "anthropic"),
    ("Mistral AI", "Mistral AI", "La Plateforme", "mistral"),
    ("mistral", "mistral", "mistral-large", "mistral"),
    ("DeepSeek", "DeepSeek", "DeepSeek API", "deepseek"),
    ("xAI", "xAI", "xAI API", "xai"),
    (" XAI ", "xAI", "Grok", "xai"),
]


@pytest.mark.parametrize(("provider_name", "issuer", "service", "expected"), MAKERS)
def test_a_model_makers_bill_name_is_ours_through_the_one_table(provider_name, issuer, service, expected):
    row = {"ProviderName": provider_name, "PublisherName": provider_name, "InvoiceIssuerName": issuer, "ServiceName": service}
    assert _providers(row) == [expected]
    # the same name, read by the same table every gateway adapter reads
    assert ours(provider_name or issuer) == expected


PLATFORMS = [
    # a platform's own name with a service that is not AI: no provider, left out of reconciliation
    ("Amazon Web Services", "Amazon Elastic Compute Cloud"),
    ("AWS", "Amazon EC2"),
    ("aws", "Amazon Simple Storage Service"),
    ("Microsoft", "Virtual Machines"),
    ("Azure", "Virtual Machines"),
    ("azure", "Storage"),
    ("Google Cloud", "Cloud Storage"),
    ("Google", "Compute Engine"),
    ("google", "Cloud Storage"),
]


@pytest.mark.parametrize(("provider_name", "service"), PLATFORMS)
def test_a_platforms_name_on_a_service_that_is_not_ai_names_no_provider(provider_name, service):
    row = {"ProviderName": provider_name, "PublisherName": provider_name, "InvoiceIssuerName": provider_name, "ServiceName": service,
           "ServiceCategory": "Compute", "ServiceSubcategory": "Virtual Machines", "SkuMeter": "D2s v5", "ChargeDescription": service}
    assert _providers(row) == [None]


def test_the_platforms_ai_services_are_still_told_by_service_name():
    rows = [
        {"ProviderName": "AWS", "ServiceName": "Amazon Bedrock"},
        {"ProviderName": "Google Cloud", "ServiceName": "Vertex AI"},
        {"ProviderName": "Google Cloud", "ServiceName": "Gemini API"},
        {"ProviderName": "Microsoft", "ServiceName": "Foundry Models"},
        {"ProviderName": "Microsoft", "ServiceName": "Azure OpenAI Service"},
        # a service named OpenAI from a provider that is not Microsoft is not Azure's
        {"ProviderName": "OpenAI", "ServiceName": "OpenAI API"},
    ]
    assert _providers(*rows) == ["aws_bedrock", "google", "google", "azure_openai", "azure_openai", "openai"]


def test_only_the_model_makers_are_named_by_provider_name_alone():
    # the table maps SDK and instrumentation names of the platforms too (`aws`, `azure`, `google`); on a bill those are
    # the platform companies, so FOCUS takes from the table only the providers that bill their own models
    assert {ours(name) for name in ("aws", "azure", "google")} == {"aws_bedrock", "azure_openai", "google"}
    assert set(MODEL_MAKERS) == {"openai", "anthropic", "mistral", "deepseek", "xai"}
    assert {expected for *_, expected in MAKERS} == set(MODEL_MAKERS)


def test_google_clouds_focus_export_saved_as_csv_from_bigquery_keeps_its_utc_times():
    """Google Cloud's FOCUS export is a BigQuery view; BigQuery writes a TIMESTAMP in CSV as `2024-11-01 00:00:00 UTC`
    (as in its detailed billing export, which gcp_billing reads). Every row was rejected ("not an ISO 8601 timestamp
    with an offset")."""
    text = (FORMATS / "focus_1_2_bedrock_row.csv").read_text()
    for iso in ("2024-12-01T00:00:00Z", "2024-11-01T01:00:00Z", "2024-11-01T00:00:00Z"):
        text = text.replace(iso, iso.replace("T", " ").replace("Z", " UTC"))
    result = parse_focus(text.encode(), "focus.csv")
    assert result.rejected.num_rows == 0
    assert [(str(r["charge_date"]), str(r["billed_cost"])) for r in result.rows.to_pylist()] == [
        ("2024-11-01", "0.002400000000000"), ("2024-11-01", "-5.000000000000000")]
