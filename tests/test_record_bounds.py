"""Values that used to stop every run when one row of a side input held them: each is now that row's rejection,
naming its field, and the file's other rows load."""

from __future__ import annotations

import csv
import io
import json

from pipelines.records.billing.clouds import parse_gcp_billing
from pipelines.records.billing.formats import parse_focus, parse_openai_costs
from pipelines.records.business import parse_gpu


def _rejections(result) -> list[tuple]:
    return [(r["row_number"], r["field"], r["reason"]) for r in result.rejected.to_pylist()]


def _openai(*starts: int) -> bytes:
    bucket = lambda start: {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": [  # noqa: E731
        {"object": "organization.costs.result", "amount": {"value": 0.06, "currency": "usd"}, "line_item": "gpt-4o-2024-08-06, input",
         "project_id": "proj_abc", "quantity": 10000, "quantity_unit": "tokens"}]}
    return json.dumps({"object": "page", "data": [bucket(s) for s in starts], "has_more": False}).encode()


def test_a_bill_dated_out_of_range_is_rejected_not_a_crash():
    """OpenAI start_time 99999999999999 raised 'Epoch seconds out of range', -99999999999 (1200 BC) and FOCUS
    9999-12-31T23:00:00-05:00 (year 10000 in UTC) 'date value out of range': every later run failed."""
    result = parse_openai_costs(_openai(1730419200, 99999999999999, -99999999999), "costs.json")
    assert result.rows.num_rows == 1
    assert [(field, reason.split(":")[0]) for _, field, reason in _rejections(result)] == [
        ("start_time", "Unix time outside 2020-01-01 .. tomorrow"), ("start_time", "Unix time outside 2020-01-01 .. tomorrow")]

    header = "BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ProviderName,ServiceName,EffectiveCost"
    rows = ["0.5,USD,2026-11-01T00:00:00Z,2026-11-01T01:00:00Z,Usage,AWS,Amazon Bedrock,0.5",
            "0.5,USD,9999-12-31T23:00:00-05:00,9999-12-31T23:30:00-05:00,Usage,AWS,Amazon Bedrock,0.5",
            "0.5,USD,0001-01-01T00:00:00Z,0001-01-01T01:00:00Z,Usage,AWS,Amazon Bedrock,0.5"]
    focus = parse_focus("\n".join([header, *rows]).encode(), "focus.csv")
    assert focus.rows.num_rows == 1
    assert [(n, field, reason.split(":")[0]) for n, field, reason in _rejections(focus)] == [
        (2, "ChargePeriodStart", "timestamp outside 2020-01-01 .. tomorrow"), (3, "ChargePeriodStart", "timestamp outside 2020-01-01 .. tomorrow")]


def test_a_gcp_credit_beyond_belief_is_rejected():
    """A credit of -$10^12 had no bound (every other amount has ±10^10) and overflowed core.billing_line_items."""
    row = {"service": {"description": "Vertex AI"}, "sku": {"description": "Gemini input tokens"}, "usage_start_time": "2026-11-04T00:00:00Z",
           "usage_end_time": "2026-11-04T01:00:00Z", "project": {"id": "p"}, "cost": 1.0, "currency": "USD", "cost_type": "regular"}
    lines = [dict(row, credits=[{"name": "promo", "amount": -0.5}]), dict(row, credits=[{"name": "promo", "amount": -1000000000000}])]
    result = parse_gcp_billing("\n".join(json.dumps(r) for r in lines).encode(), "gcp.jsonl")
    assert result.rows.num_rows == 1
    assert _rejections(result) == [(2, "credits", "beyond ±10000000000 is not plausible for one bill line")]


def test_a_gpu_count_or_capacity_beyond_64_bits_is_the_rows_rejection():
    """capacity_tokens_per_hour 1e20 was judged implausible, but the cast of the rejected row to BIGINT raised, so
    every GPU file stopped loading."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["cluster", "date", "gpu_type", "gpu_count", "hours", "hourly_rate", "currency", "capacity_tokens_per_hour", "avg_power_watts"])
    writer.writerow(["gpu-pool-a", "2026-11-03", "B200", "1", "1", "2.49", "USD", "1e20", ""])
    writer.writerow(["gpu-pool-a", "2026-11-03", "H100", "99999999999999999999999", "1", "2.49", "USD", "", ""])
    writer.writerow(["gpu-pool-a", "2026-11-03", "A100", "2", "24", "1.10", "USD", "2500000", ""])
    result = parse_gpu(out.getvalue().encode(), "gpu.csv")
    assert result.rows.to_pylist()[0]["gpu_type"] == "A100" and result.rows.num_rows == 1
    assert [(n, field) for n, field, _ in _rejections(result)] == [(1, "capacity_tokens_per_hour"), (2, "gpu_count")]


def test_a_currency_that_is_not_a_code_and_credits_that_are_not_a_list_are_rejected():
    """`$$$` loaded as a currency in CUR, GCP and OpenAI bills (only FOCUS checked it); GCP `credits` that were not a
    list were dropped without a word, so the line's credits silently vanished."""
    row = {"service": {"description": "Vertex AI"}, "sku": {"description": "Gemini input tokens"}, "usage_start_time": "2026-11-04T00:00:00Z",
           "usage_end_time": "2026-11-04T01:00:00Z", "project": {"id": "p"}, "cost": 1.0, "currency": "USD", "cost_type": "regular"}
    lines = [row, dict(row, currency="$$$"), dict(row, credits={"name": "promo", "amount": -0.5}), dict(row, credits=None)]
    result = parse_gcp_billing("\n".join(json.dumps(r) for r in lines).encode(), "gcp.jsonl")
    assert result.rows.num_rows == 2
    assert _rejections(result) == [(2, "currency", "not an ISO 4217 currency code: $$$"), (3, "credits", "not a list of credits")]


def test_an_exchange_rate_date_must_be_written_yyyy_mm_dd(tmp_path):
    """Python's date parser also reads 20261203 and 2026-W49-4; the rate files say YYYY-MM-DD."""
    from pipelines.pricing.fx import load_rates

    (tmp_path / "fx").mkdir()
    (tmp_path / "fx" / "r.csv").write_text("date,currency,rate\n20261203,EUR,0.9\n2026-W49-4,EUR,0.9\n2026-12-03,EUR,0.9\n")
    rates, rejected = load_rates(tmp_path)
    assert rates.num_rows == 1
    assert [(r["row_number"], r["reason"]) for r in rejected.to_pylist()] == [
        (2, "not a date (YYYY-MM-DD): '20261203'"), (3, "not a date (YYYY-MM-DD): '2026-W49-4'")]


def test_a_utc_offset_no_clock_has_is_an_invalid_timestamp_not_a_shifted_one():
    """DuckDB reads `+25:00` and `+99:99` as offsets: 10:00+99:99 on 2026-11-27 became 2026-11-23 05:21 UTC, a request
    priced and reported four days early. Offsets run from 00:00 to 14:59 (RFC 3339 / ISO 8601 hours and minutes;
    the widest in use is +14:00, Kiribati); anything else is the row's rejection in every format that reads text times."""
    from helpers import envelope

    from pipelines.adapters.envelope import parse_envelope
    from pipelines.records.business import parse_outcomes

    usage = {"prompt_tokens": 10, "completion_tokens": 2}
    lines = [envelope(f"r{n}", "openai", "gpt-4o", usage, timestamp=ts)
             for n, ts in enumerate(["2026-11-27T10:00:00+14:00", "2026-11-27T10:00:00+25:00", "2026-11-27T10:00:00+99:99",
                                     "2026-11-27T10:00:00-03:60", "2026-11-27T10:00:00+0530"])]
    result = parse_envelope(("\n".join(lines) + "\n").encode(), "f.jsonl")
    assert [str(t) for t in result.rows.column("occurred_at").to_pylist()] == ["2026-11-26 20:00:00+00:00", "2026-11-27 04:30:00+00:00"]
    assert _rejections(result) == [
        (2, "timestamp", "invalid timestamp: '2026-11-27T10:00:00+25:00'"),
        (3, "timestamp", "invalid timestamp: '2026-11-27T10:00:00+99:99'"),
        (4, "timestamp", "invalid timestamp: '2026-11-27T10:00:00-03:60'"),
    ]

    outcomes = [{"outcome_id": f"o{n}", "timestamp": ts, "outcome_type": "ticket_resolved", "feature": "support_chat", "request_id": "r1"}
                for n, ts in enumerate(["2026-11-27T11:00:00Z", "2026-11-27T11:00:00+25:00"])]
    judged = parse_outcomes("\n".join(json.dumps(o) for o in outcomes).encode(), "outcomes.jsonl")
    assert judged.rows.num_rows == 1
    assert _rejections(judged) == [(2, "timestamp", "invalid timestamp: '2026-11-27T11:00:00+25:00'")]

    header = "BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ProviderName,ServiceName,EffectiveCost"
    rows = ["0.5,USD,2026-11-01T00:00:00+01:00,2026-11-01T01:00:00+01:00,Usage,AWS,Amazon Bedrock,0.5",
            "0.5,USD,2026-11-01T00:00:00+24:00,2026-11-01T01:00:00+24:00,Usage,AWS,Amazon Bedrock,0.5"]
    focus = parse_focus("\n".join([header, *rows]).encode(), "focus.csv")
    assert focus.rows.num_rows == 1
    assert [(n, field) for n, field, _ in _rejections(focus)] == [(2, "ChargePeriodStart")]
