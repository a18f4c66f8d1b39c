"""One table of provider names: what instrumentations, SDKs and gateways call a provider, and which of ours it is.

Our providers are the price book's: openai, azure_openai, anthropic, google, aws_bedrock, mistral, deepseek, xai.
A name is matched lower-cased and trimmed, whole first; then, for SDK provider ids written `<provider>.<api>`
(the Vercel AI SDK's `openai.chat`, `anthropic.messages`, `google.vertex.chat`), by the part before the first dot.
docs/formats/providers.md lists every name and where it comes from.
"""

from __future__ import annotations

from pipelines.adapters.attribution import sql_string

OURS = ("openai", "azure_openai", "anthropic", "google", "aws_bedrock", "mistral", "deepseek", "xai")

NAMES = {
    **{name: name for name in OURS},
    # OpenTelemetry GenAI conventions: gen_ai.provider.name (current) and gen_ai.system (deprecated values, still
    # written by the google-genai and vertexai instrumentations and by OpenLLMetry)
    "aws.bedrock": "aws_bedrock",
    "azure.ai.openai": "azure_openai",
    "az.ai.openai": "azure_openai",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "mistral_ai": "mistral",
    "x_ai": "xai",
    # OpenInference (Arize Phoenix): llm.provider and llm.system
    "mistralai": "mistral",
    "vertexai": "google",
    "aws": "aws_bedrock",
    "azure": "azure_openai",
    # Vercel AI SDK provider ids without an API suffix
    "amazon-bedrock": "aws_bedrock",
    "azure-openai": "azure_openai",
    "google-vertex": "google",
    "google_vertex": "google",
    "google.generative-ai": "google",
    # Pydantic AI's model.system, which its instrumentation writes as gen_ai.provider.name: the Gemini API
    # (google-gla, its former name), Vertex AI (google-cloud) and Bedrock's OpenAI-compatible Mantle endpoint
    "google-gla": "google",
    "google-cloud": "google",
    "bedrock-mantle": "aws_bedrock",
    "bedrock_mantle": "aws_bedrock",
    # gateways: LiteLLM's custom_llm_provider, Helicone's provider (upper-case there), Portkey's ai_org
    "bedrock": "aws_bedrock",
    "vertex": "google",
    "vertex-ai": "google",
    "text-completion-openai": "openai",
    "anthropic_text": "anthropic",
    "azure_text": "azure_openai",
    "vertex_ai_beta": "google",
    "mistral-ai": "mistral",
    "x-ai": "xai",
    # bills (FOCUS ProviderName / InvoiceIssuerName): the model makers' company names and the entities invoicing them
    "mistral ai": "mistral",
    "openai, llc": "openai",
    "anthropic, pbc": "anthropic",
}
"""Every provider name read, lower-cased → ours."""

PREFIXES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "xai": "xai",
    "azure": "azure_openai",
    "azure-openai": "azure_openai",
    "amazon-bedrock": "aws_bedrock",
    "vertex": "google",
}
"""An SDK provider id `<prefix>.<api>` (`openai.responses`, `xai.chat`) → ours, when the whole name is not in NAMES."""


SERVICE_TIERS = ("standard", "batch", "flex", "priority", "scale", "provisioned_throughput", "on_demand_flex", "on_demand_priority", "fast")
"""The service tiers a request may be served in, as the adapters name them (the price book's tier names)."""


def tier_problem(field: str, tier: str) -> str:
    """SQL: the judging CASE branch that rejects a request whose service tier (the SQL expression `tier`, as the
    adapter names it) is none of SERVICE_TIERS, naming `field`: such a tier would otherwise stop every run at the
    staging contract."""
    known = ", ".join(f"'{name}'" for name in SERVICE_TIERS)
    return (f"when {tier} not in ({known}) then '{field}|unknown service tier ''' || left({tier}, 40) || ''' "
            f"(expected one of {', '.join(SERVICE_TIERS)})'")


EXPECTED = ", ".join(OURS) + ", or a name docs/formats/providers.md lists; map another under providers: in attribution.yaml"
"""What an unknown-provider reason says was expected."""


def provider_sql(raw: str, extra: tuple[tuple[str, str], ...] = ()) -> str:
    """SQL: our provider for the provider name in the expression `raw` (null when the name is not known); `extra`
    (attribution.yaml's `providers:`, lower-cased name → ours or self_hosted:<cluster>) wins over the table."""
    name = f"lower(trim({raw}))"
    whole = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in {**NAMES, **dict(extra)}.items())
    prefix = " ".join(f"when {sql_string(k)} then {sql_string(v)}" for k, v in PREFIXES.items())
    return f"coalesce(case {name} {whole} end, case split_part({name}, '.', 1) {prefix} end)"


def ours(name: str) -> str | None:
    """The same mapping in Python (for tests and messages)."""
    cleaned = name.strip().lower()
    return NAMES.get(cleaned) or PREFIXES.get(cleaned.split(".", 1)[0])
