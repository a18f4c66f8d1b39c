"""Who pays for the inference and at what price: `<home>/chargeback.yaml`, read into the tables the chargeback
marts join (sql/marts/chargeback_usage.sql); `tokenledger close` freezes a month's rows (pipelines/finance/close.py).

```yaml
# <home>/chargeback.yaml (optional; without it there are no statements)
period: month              # statements are per calendar month (the only period)
unpriced: block            # block (default): a statement with unpriced requests is blocked, with the count;
                           # separate: they are listed on lines of their own, never charged
payers:
  acme:                    # the payer's id: letters, digits, '_', '.', '-' (it is part of the statement id)
    match:                 # every key given must hold; a list means any of its values
      customer_id: [cust_001, cust_002]
      # user_segment: enterprise
      # feature: support_chat
      # tags: {team: search}        # the request's tags (envelope `tags`, OTel attributes, gateway metadata)
    currency: EUR          # the statement's currency (default USD): costs convert with <home>/landing/fx
    stripe_customer_id: cus_NciAYcXfLnqBoz   # for `tokenledger export usage --format stripe`
    rule: cost_plus        # cost_plus | per_mtok | per_outcome
    markup_pct: 20         # cost_plus: charge = cost x (1 + markup_pct / 100)
    # per_mtok: {small: 0.40, medium: 2.5, premium: 12, default: 5}   # per 1M tokens by model tier (model_tiers.yaml)
    # per_outcome: 0.35    # per outcome linked to the payer's requests
    # outcome_type: resolved_ticket   # per_outcome: only outcomes of this type count (default: every type)
    included: {tokens: 50000000}   # a monthly allowance: tokens, requests, outcomes or amount (of charge)
  pro-customers:           # one payer per customer: a statement each (payer `pro-customers:<customer_id>`)
    match: {user_segment: pro}
    each: customer_id      # or user_segment, feature
    stripe_customer_ids: {cust_001: cus_NffrFeUfNV2Hib}   # per customer, for the Stripe export
    rule: cost_plus
    markup_pct: 25
    included: {amount: 50}         # each customer's own allowance
```

A request belongs to the first payer, in the file's order, whose `match` holds; a request no payer matches is not
charged back. With `each`, the payer is split by that field's value: `<payer>:<value>` (`<payer>:(none)` for requests
without one), each with its own statement and allowance. Prices (`per_mtok`, `per_outcome`, an `amount` allowance) are in the payer's currency; a cost is
converted at the latest rate on or before its day. Money is Decimal; a bad file is a ChargebackError naming the
file, the payer and the field.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from pipelines.pricing.tiers import TIERS, UNCLASSIFIED
from pipelines.settings import (
    MAX_MARKUP_PCT,
    MAX_PER_MTOK,
    ConfigError,
    as_number,
    fits_decimal,
    problems_text,
    read_yaml,
    shown,
    shown_kind,
)

CHARGEBACK_FILE = "chargeback.yaml"
RULES = ("cost_plus", "per_mtok", "per_outcome")
ALLOWANCE_UNITS = ("tokens", "requests", "outcomes", "amount")
MATCH_KEYS = ("customer_id", "user_segment", "feature", "tags")
UNPRICED_MODES = ("block", "separate")
TOP_KEYS = {"period", "unpriced", "payers"}
PAYER_KEYS = {
    "match", "each", "currency", "stripe_customer_id", "stripe_customer_ids", "rule", "markup_pct", "per_mtok", "per_outcome", "outcome_type",
    "included",
}
EACH = ("customer_id", "user_segment", "feature")
"""What `each` may split a payer by."""
STRIPE_ID = re.compile(r"^[A-Za-z0-9_]{1,100}$")
TIER_KEYS = (*TIERS, UNCLASSIFIED, "default")
PAYER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TAG_KEY = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MINOR_UNITS = {
    # ISO 4217 currencies whose minor unit is not the cent: a charge is rounded to this many decimals.
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
MAX_LIST = 10_000
"""Values one match key may list."""

TAG_MATCH = pa.struct([("key", pa.string()), ("values", pa.list_(pa.string()))])
PAYERS_SCHEMA = pa.schema(
    [
        ("payer", pa.string()),
        ("payer_order", pa.int64()),
        ("customer_ids", pa.list_(pa.string())),
        ("user_segments", pa.list_(pa.string())),
        ("features", pa.list_(pa.string())),
        ("tags", pa.list_(TAG_MATCH)),
        ("each", pa.string()),
        ("currency", pa.string()),
        ("currency_places", pa.int32()),
        ("stripe_customer_id", pa.string()),
        ("rule", pa.string()),
        ("markup_pct", pa.decimal128(38, 9)),
        ("per_outcome", pa.decimal128(38, 9)),
        ("outcome_type", pa.string()),
        ("allowance_unit", pa.string()),
        ("allowance", pa.decimal128(38, 15)),
        ("unpriced_mode", pa.string()),
    ]
)
"""One row per payer of chargeback.yaml, in the file's order (the first whose match holds wins)."""
TIER_PRICES_SCHEMA = pa.schema([("payer", pa.string()), ("model_tier", pa.string()), ("per_mtok", pa.decimal128(38, 9))])
"""One row per payer x model tier of a per_mtok rule; model_tier 'default' prices the tiers not listed."""


class ChargebackError(ConfigError):
    """chargeback.yaml is not valid; the message names the file, the payer and every bad field."""


@dataclass(frozen=True)
class Chargeback:
    """chargeback.yaml as the marts read it."""

    payers: pa.Table
    tier_prices: pa.Table
    unpriced: str = "block"
    split_stripe: dict[str, str] = field(default_factory=dict)
    """The Stripe customer id of each `<payer>:<value>` of an `each` payer's `stripe_customer_ids`."""

    @property
    def stripe_customers(self) -> dict[str, str | None]:
        """Statement payer -> Stripe customer id (None when the file gives none)."""
        return dict(zip(self.payers["payer"].to_pylist(), self.payers["stripe_customer_id"].to_pylist(), strict=True)) | self.split_stripe


NO_CHARGEBACK = Chargeback(PAYERS_SCHEMA.empty_table(), TIER_PRICES_SCHEMA.empty_table())


def load_chargeback(home_root: Path) -> Chargeback:
    """The payers of <home>/chargeback.yaml (none when there is no file); ChargebackError names each bad field."""
    path = home_root / CHARGEBACK_FILE
    document = read_yaml(path, ChargebackError) if os.path.lexists(path) else None
    if document is None:
        return NO_CHARGEBACK
    name = path.name
    if not isinstance(document, dict):
        raise ChargebackError(f"{name}: expected a mapping with 'payers', got {shown_kind(document)}")
    problems = [f"{name}: unknown key {shown(key)} (known: {', '.join(sorted(TOP_KEYS))})" for key in document if key not in TOP_KEYS]
    if document.get("period", "month") != "month":
        problems.append(f"{name}: period: statements are per calendar month ('month'), got {shown(document['period'])}")
    unpriced = document.get("unpriced", "block")
    if unpriced not in UNPRICED_MODES:
        problems.append(f"{name}: unpriced: expected block or separate, got {shown(unpriced)}")
        unpriced = "block"
    payers = document.get("payers")
    if not isinstance(payers, dict) or not payers:
        problems.append(f"{name}: payers: expected a mapping of payer id to its match and rule, got {shown_kind(payers)}")
        payers = {}
    rows, prices, split_stripe = [], [], {}
    for order, (payer, spec) in enumerate(payers.items(), start=1):
        if not isinstance(payer, str) or not PAYER_ID.fullmatch(payer):  # named by `shown`: it may hold a line break
            problems.append(f"{name}: payers: a payer id is 1-64 letters, digits, '_', '.' or '-' (it names statements), got {shown(payer)}")
            continue
        where = f"{name}: payers.{payer}"
        if payer.upper().endswith("-ADJ"):
            problems.append(f"{where}: a payer id may not end in -ADJ (statement CB-<month>-<payer>-ADJ holds another payer's adjustments)")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{where}: expected a mapping with match and rule, got {shown_kind(spec)}")
            continue
        row, payer_prices, payer_problems = _payer(where, payer, spec)
        problems += payer_problems
        payer_stripe, stripe_problems = _split_stripe(where, payer, spec)
        problems += stripe_problems
        split_stripe |= payer_stripe
        rows.append(row | {"payer_order": order, "unpriced_mode": unpriced})
        prices += payer_prices
    stripe = [row["stripe_customer_id"] for row in rows if row["stripe_customer_id"]] + list(split_stripe.values())
    problems += [f"{name}: stripe_customer_id {shown(value)} is given to more than one payer" for value in sorted({v for v in stripe if stripe.count(v) > 1})]
    if problems:
        raise ChargebackError(problems_text("chargeback", problems))
    return Chargeback(
        pa.Table.from_pylist(rows, schema=PAYERS_SCHEMA), pa.Table.from_pylist(prices, schema=TIER_PRICES_SCHEMA), unpriced, split_stripe
    )


def _payer(where: str, payer: str, spec: dict) -> tuple[dict, list[dict], list[str]]:
    problems = [f"{where}: unknown key {shown(key)} (known: {', '.join(sorted(PAYER_KEYS))})" for key in spec if key not in PAYER_KEYS]
    match, match_problems = _match(f"{where}.match", spec.get("match"))
    problems += match_problems
    currency = spec.get("currency", "USD")
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        problems.append(f"{where}.currency: expected a three-letter ISO 4217 code such as USD or EUR, got {shown(currency)}")
        currency = "USD"
    each = spec.get("each")
    if each is not None and each not in EACH:
        problems.append(f"{where}.each: expected one of {', '.join(EACH)}, got {shown(each)}")
        each = None
    stripe = spec.get("stripe_customer_id")
    if stripe is not None and each is not None:
        problems.append(f"{where}.stripe_customer_id: a payer split by `each` has a statement per {each}: give stripe_customer_ids")
        stripe = None
    if stripe is not None and (not isinstance(stripe, str) or not STRIPE_ID.fullmatch(stripe)):
        problems.append(f"{where}.stripe_customer_id: expected a Stripe customer id such as cus_NciAYcXfLnqBoz, got {shown(stripe)}")
        stripe = None
    rule = spec.get("rule")
    row = {"payer": payer, **match, "each": each, "currency": currency, "currency_places": MINOR_UNITS.get(currency, 2), "stripe_customer_id": stripe,
           "rule": rule, "markup_pct": None, "per_outcome": None, "outcome_type": None, "allowance_unit": None, "allowance": None}
    prices: list[dict] = []
    needs = {"cost_plus": "markup_pct", "per_mtok": "per_mtok", "per_outcome": "per_outcome"}
    if rule not in RULES:
        problems.append(f"{where}.rule: expected one of {', '.join(RULES)}, got {shown(rule)}")
    else:
        for other_rule, key in needs.items():
            if other_rule != rule and key in spec:
                problems.append(f"{where}.{key}: belongs to rule {other_rule}, but the rule is {rule}")
        if needs[rule] not in spec:
            problems.append(f"{where}: rule {rule} needs {needs[rule]}")
    if "outcome_type" in spec and rule != "per_outcome":
        problems.append(f"{where}.outcome_type: only a per_outcome rule counts outcomes by type")
    if rule == "cost_plus" and "markup_pct" in spec:
        row["markup_pct"] = _amount(spec["markup_pct"], minimum=Decimal(-100), maximum=MAX_MARKUP_PCT)
        if row["markup_pct"] is None:
            problems.append(f"{where}.markup_pct: expected a percentage (a number from -100 to {MAX_MARKUP_PCT:,}, at most 9 decimals), "
                            f"got {shown(spec['markup_pct'])}")
    if rule == "per_outcome" and "per_outcome" in spec:
        row["per_outcome"] = _amount(spec["per_outcome"], maximum=MAX_PER_MTOK)
        if row["per_outcome"] is None:
            problems.append(f"{where}.per_outcome: expected a price per outcome (a number from 0 to {MAX_PER_MTOK:,}, at most 9 decimals), "
                            f"got {shown(spec['per_outcome'])}")
        outcome_type = spec.get("outcome_type")
        if outcome_type is not None and (not isinstance(outcome_type, str) or not outcome_type.strip()):
            problems.append(f"{where}.outcome_type: expected an outcome type, got {shown(outcome_type)}")
        row["outcome_type"] = outcome_type if isinstance(outcome_type, str) else None
    if rule == "per_mtok" and "per_mtok" in spec:
        tiers = spec["per_mtok"]
        if not isinstance(tiers, dict) or not tiers:
            problems.append(f"{where}.per_mtok: expected a price per 1M tokens per model tier ({', '.join(TIER_KEYS)}), got {shown_kind(tiers)}")
            tiers = {}
        for tier, price in tiers.items():
            value = _amount(price, maximum=MAX_PER_MTOK)
            if tier not in TIER_KEYS:
                problems.append(f"{where}.per_mtok: unknown model tier {shown(tier)} (known: {', '.join(TIER_KEYS)})")
            elif value is None:
                problems.append(f"{where}.per_mtok.{tier}: expected a price per 1M tokens (a number from 0 to {MAX_PER_MTOK:,}, at most 9 "
                                f"decimals), got {shown(price)}")
            else:
                prices.append({"payer": payer, "model_tier": tier, "per_mtok": value})
    if "included" in spec:
        unit, allowance, problem = _allowance(spec["included"])
        if problem:
            problems.append(f"{where}.included: {problem}")
        row["allowance_unit"], row["allowance"] = unit, allowance
    return row, prices, problems


def _each_payer(payer: str, value: str | None) -> str:
    """The payer of a statement of a payer split by `each`, as sql/marts/chargeback_usage.sql names it: '<payer>:<value>',
    '<payer>:(none)' for requests without a value, and a '\\' before a value that starts with '(' or '\\'."""
    if value is None:
        return f"{payer}:(none)"
    return f"{payer}:\\{value}" if value[:1] in ("(", "\\") else f"{payer}:{value}"


def _split_stripe(where: str, payer: str, spec: dict) -> tuple[dict[str, str], list[str]]:
    """`stripe_customer_ids` of an `each` payer as {'<payer>:<value>': Stripe customer id}."""
    ids = spec.get("stripe_customer_ids")
    if ids is None:
        return {}, []
    if spec.get("each") is None:
        return {}, [f"{where}.stripe_customer_ids: only a payer split by `each` maps its values to Stripe customers"]
    if not isinstance(ids, dict) or len(ids) > MAX_LIST:
        return {}, [f"{where}.stripe_customer_ids: expected a mapping of {spec['each']} to Stripe customer id, got {shown_kind(ids)}"]
    found, problems = {}, []
    for value, stripe in ids.items():
        if not isinstance(value, str) or not value or not isinstance(stripe, str) or not STRIPE_ID.fullmatch(stripe):
            problems.append(f"{where}.stripe_customer_ids: expected {spec['each']}: cus_..., got {shown(value)}: {shown(stripe)}")
        else:
            found[_each_payer(payer, value)] = stripe
    return found, problems


def _match(where: str, match: object) -> tuple[dict, list[str]]:
    """The match as lists (null: any value); a payer must match on something."""
    found: dict = {"customer_ids": None, "user_segments": None, "features": None, "tags": None}
    if not isinstance(match, dict) or not match:
        return found, [f"{where}: expected a mapping with one or more of {', '.join(MATCH_KEYS)}, got {shown_kind(match)}"]
    problems = [f"{where}: unknown key {shown(key)} (known: {', '.join(MATCH_KEYS)})" for key in match if key not in MATCH_KEYS]
    for key, column in (("customer_id", "customer_ids"), ("user_segment", "user_segments"), ("feature", "features")):
        if key in match:
            values = _values(match[key])
            if values is None:
                problems.append(f"{where}.{key}: expected a value or a list of values (text), got {shown(match[key])}")
            found[column] = values
    if "tags" in match:
        tags = match["tags"]
        if not isinstance(tags, dict) or not tags:
            problems.append(f"{where}.tags: expected a mapping of tag to a value or a list of values, got {shown_kind(tags)}")
        else:
            found["tags"] = []
            for key, value in tags.items():
                values = _values(value)
                if not isinstance(key, str) or not TAG_KEY.fullmatch(key):
                    problems.append(f"{where}.tags: a tag name is 1-64 letters, digits or _ . : / -, got {shown(key)}")
                elif values is None:
                    problems.append(f"{where}.tags.{key}: expected a value or a list of values (text), got {shown(value)}")
                else:
                    found["tags"].append({"key": key, "values": values})
    return found, problems


def _values(value: object) -> list[str] | None:
    values = value if isinstance(value, list) else [value]
    if not values or len(values) > MAX_LIST or not all(isinstance(item, str) and item for item in values):
        return None
    return values


def _allowance(value: object) -> tuple[str | None, Decimal | None, str | None]:
    if not isinstance(value, dict) or len(value) != 1:
        return None, None, f"expected one of {', '.join(f'{{{unit}: N}}' for unit in ALLOWANCE_UNITS)}, got {shown_kind(value)}"
    (unit, raw), = value.items()
    if unit not in ALLOWANCE_UNITS:
        return None, None, f"unknown allowance {shown(unit)} (known: {', '.join(ALLOWANCE_UNITS)})"
    amount = _amount(raw, places=9 if unit == "amount" else 0)
    if amount is None:
        kind = "an amount in the payer's currency (a number >= 0, at most 9 decimals)" if unit == "amount" else f"a whole number of {unit} >= 0"
        return None, None, f"{unit}: expected {kind}, got {shown(raw)}"
    return unit, amount, None


def _amount(value: object, minimum: Decimal = Decimal(0), places: int = 9, maximum: Decimal | None = None) -> Decimal | None:
    """A number (never a boolean, text, .nan or .inf) at least `minimum` (and at most `maximum`) that DECIMAL(38, places)
    holds."""
    amount = as_number(value)
    fits = amount is not None and amount >= minimum and (maximum is None or amount <= maximum) and fits_decimal(amount, places)
    return amount if fits else None
