"""Money in SQL: exact DECIMAL division and the pricing arithmetic, as DuckDB macros every connection has.

DuckDB divides DECIMALs in DOUBLE; money must not pass through binary floats. These macros divide
in 128-bit integers instead: an amount becomes a whole number of 10^-15 USD (`money_units`), the
quotient is rounded half away from zero (`round_div`) and turned back into DECIMAL(38, 15).
A division by zero gives null. `token_cost` and `effective_rate` are the per-bucket arithmetic of
core.request_costs. `basis_label` names what a sum of energy figures holds. The SQL files under sql/ that use them
say so in their header.
"""

from __future__ import annotations

import duckdb

MACROS = {
    # A DECIMAL amount (at most 15 decimals) as a whole number of 10^-15 units, as HUGEINT.
    "money_units": "(x) as cast(floor(cast(x as decimal(38, 15))) as hugeint) * 1000000000000000 "
    "+ cast((cast(x as decimal(38, 15)) - floor(cast(x as decimal(38, 15)))) * 1000000000000000 as hugeint)",
    # n / d for whole numbers, rounded half away from zero; null when d is 0 or null.
    "round_div": "(n, d) as sign(n) * sign(d) * ((2 * abs(n) + abs(d)) // nullif(2 * abs(d), 0))",
    # round(total x part / base), half up, for total >= 0, part >= 0 and base > 0 (null when base is 0), without
    # forming total x part: (total // base) x part + round((total % base) x part / base), so 10^25 units (a day of
    # 100,000 GPUs at $10,000 an hour) times 10^16 tokens stays inside 128 bits. core/_gpu_allocation.sql.
    "share_of": "(total, part, base) as (total // nullif(base, 0)) * part + (2 * (total % nullif(base, 0)) * part + base) // (2 * nullif(base, 0))",
    # Cumulative rounding: the share of `total` (whole units) of a row of weight w whose running weight, itself
    # included, is `through` out of `base` > 0: round(total x through / base) - round(total x (through - w) / base),
    # half away from zero. The rows' shares add up to `total` exactly.
    "cumulative_share": "(total, through, w, base) as sign(total) * (share_of(abs(total), through, base) - share_of(abs(total), through - w, base))",
    # What a sum of energy or carbon figures holds: 'measured', 'estimated', 'measured+estimated', with '+unknown'
    # when some requests have no figure, or 'unknown' when none has one (marts.unit_economics, cost_per_outcome).
    "basis_label": "(measured, estimated, unknown_requests, known_requests) as case when coalesce(known_requests, 0) = 0 "
    "then 'unknown' else concat_ws('+', case when measured is not null then 'measured' end, case when estimated is not null "
    "then 'estimated' end, case when unknown_requests > 0 then 'unknown' end) end",
    # 10^-15 units back to DECIMAL(38, 15).
    "money_from_units": "(u) as cast(cast(u as decimal(38, 0)) * 0.000000000000001 as decimal(38, 15))",
    # An amount in whole minor units of a currency with `places` decimals (cents: 2; yen: 0), rounded half away from zero.
    "minor_units": "(x, places) as round_div(money_units(x), cast(power(10, 15 - places) as hugeint))",
    # Whole minor units back to an amount, DECIMAL(38, 15).
    "from_minor_units": "(m, places) as money_from_units(m * cast(power(10, 15 - places) as hugeint))",
    # amount x p / q as DECIMAL(38, 15), for whole numbers p and q (shares, per-1k and per-1M unit costs).
    "money_muldiv": "(a, p, q) as money_from_units(round_div(money_units(a) * p, q))",
    # amount / d for a DECIMAL d with at most 12 decimals (exchange rates, other amounts) as DECIMAL(38, 15).
    "money_divide": "(a, d) as money_from_units(round_div(money_units(a) * 1000000000000, "
    "cast(cast(d as decimal(38, 12)) * 1000000000000 as hugeint)))",
    # a / b for two amounts or counts, as a DECIMAL(38, 9) ratio.
    "exact_ratio": "(a, b) as cast(cast(round_div(money_units(a) * 1000000000, money_units(b)) as decimal(38, 0)) "
    "* 0.000000001 as decimal(38, 9))",
    # USD for `tokens` at a price per 1M tokens (exact: DECIMAL(38, 0) x DECIMAL(38, 9) x 10^-6).
    "token_cost": "(tokens, per_mtok) as cast(tokens as decimal(38, 0)) * per_mtok * 0.000001",
    # The rate a priced request pays for a bucket: the negotiated rate when an override names one, else the list
    # rate (0 when the bucket is not sold), times the override's discount multiplier when there is one.
    "effective_rate": "(override_rate, list_rate, multiplier) as coalesce(override_rate, case when multiplier is null "
    "then coalesce(list_rate, 0) else cast(coalesce(list_rate, 0) * multiplier as decimal(38, 9)) end)",
}


def define_money_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the macros as temporary macros of this connection."""
    for name, body in MACROS.items():
        con.execute(f"create or replace temp macro {name}{body}")
