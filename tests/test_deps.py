"""Every asset's `deps` are the tables its SQL reads: its model, its table macros, its checks and the queries
its writer runs (the files each asset names in its `tokenledger/sql` metadata), plus the lake or reference
assets behind the inputs it registers. A stand-in for dbt's ref(): change a select, and this says which
`deps` to change."""

from __future__ import annotations

import re

import pytest

from pipelines.definitions import defs
from pipelines.storage.database import sql_text
from pipelines.warehouse.tables import BY_NAME, TABLES

SCHEMAS = ("reference", "staging", "core", "marts", "audit", "finance")
READS = re.compile(r"\b(?:from|join)\s+(" + "|".join(SCHEMAS) + r")\.([a-z_0-9]+)", re.IGNORECASE)


def _reads(sql: str) -> set[str]:
    """The warehouse tables a select names after `from` or `join` (comments left out)."""
    code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return {f"{schema.lower()}/{table.lower()}" for schema, table in READS.findall(code)}


def _specs():
    for assets_def in defs().assets:
        if not getattr(assets_def, "is_executable", False):
            continue
        for key, spec in assets_def.specs_by_key.items():
            yield key.to_user_string(), spec


SPECS = dict(_specs())


@pytest.mark.parametrize("asset", sorted(SPECS))
def test_deps_are_what_the_sql_reads(asset):
    spec = SPECS[asset]
    declared = {dep.asset_key.to_user_string() for dep in spec.deps}
    files = spec.metadata.get("tokenledger/sql")
    if files is None:
        assert asset.startswith("lake/") and declared == set(), f"{asset} runs SQL without naming it in tokenledger/sql"
        return
    reads = set().union(*(_reads(sql_text(name)) for name in files.value)) - {asset}
    entry = BY_NAME.get(asset.replace("/", "."))
    inputs = {a for item in entry.inputs for a in item.assets} if entry else set()
    assert declared == reads | inputs


def test_the_parser_sees_every_kind_of_read():
    sql = "select * from core.a as x\nleft join marts.b on 1\nasof left join reference.c\n-- from marts.not_read\nanti join staging.d using (k)"
    assert _reads(sql) == {"core/a", "marts/b", "reference/c", "staging/d"}


def test_every_warehouse_table_has_an_asset_or_is_written_by_a_command():
    written_by_commands = {"finance.closed_periods", "finance.daily_spend", "finance.chargeback_usage"}
    assets = {name.replace("/", ".") for name in SPECS}
    assert {table.name for table in TABLES} - assets == written_by_commands
