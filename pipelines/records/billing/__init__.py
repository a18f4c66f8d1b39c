"""Provider billing exports in, billing line items out (pure functions, one DuckDB query per format).

Formats, one folder each under `landing/billing/<format>/` (see docs/billing.md), declared in `formats`:

- `focus`: FOCUS 1.0, 1.1 and 1.2 cost and usage rows (CSV or Parquet, gzip allowed), from any provider.
- `openai_costs`: OpenAI organization Costs API pages, a page per file, a JSON array of pages or one page
  per line. amount.value is dollars.
- `anthropic_costs`: Anthropic's cost report pages, the Admin API `cost_report` or the Usage and Cost Analytics
  API's `analytics/cost` (told apart by shape). Amounts are decimal strings in CENTS.
- `aws_cur`: AWS CUR 2.0 rows (CSV or Parquet); Bedrock usage types name the model and the token kind.
- `gcp_billing`: Cloud Billing detailed export rows (BigQuery rows as JSON Lines, a JSON array or Parquet).

Each format declares its judging query with `judging.billing_query`, which holds the schema and the rules
they share: every amount is DECIMAL; a credit keeps the sign the export gave it (negative; a
positive credit row is a reversal and adds back).
"""

from __future__ import annotations

from pipelines.records.billing.clouds import parse_aws_cur, parse_gcp_billing
from pipelines.records.billing.formats import parse_anthropic_costs, parse_focus, parse_openai_costs
from pipelines.records.billing.judging import BILLING_SCHEMA
from pipelines.records.read import RecordFormat, RecordSource

__all__ = [
    "BILLING",
    "BILLING_SCHEMA",
    "parse_anthropic_costs",
    "parse_aws_cur",
    "parse_focus",
    "parse_gcp_billing",
    "parse_openai_costs",
]

_TABLES = (".csv", ".csv.gz", ".parquet")
_PAGES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")

BILLING = RecordSource(
    table="billing_line_items",
    landing="billing",
    formats={
        "focus": RecordFormat(parse_focus, _TABLES),
        "openai_costs": RecordFormat(parse_openai_costs, _PAGES),
        "anthropic_costs": RecordFormat(parse_anthropic_costs, _PAGES),
        "aws_cur": RecordFormat(parse_aws_cur, _TABLES),
        "gcp_billing": RecordFormat(parse_gcp_billing, (*_PAGES, ".parquet")),
    },
    schema=BILLING_SCHEMA,
    dates="charge_date",
    by_format_folder=True,
    withdraw_removed=True,
)
