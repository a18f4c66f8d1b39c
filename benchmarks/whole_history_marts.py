"""Time the whole-history marts of the full-cost view (overhead, idle share, energy, break-even and the unit marts
that show them) on a home that has been run, each rebuilt alone on its working warehouse, and the unit marts'
SQL as it was at --before (a git revision) for comparison. Prints seconds, requests per second and peak RSS.

    python benchmarks/whole_history_marts.py --home <scratch>/bench10m [--before <rev>]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import time
from pathlib import Path

from pipelines.settings import energy_settings
from pipelines.storage.home import Home
from pipelines.warehouse.tables import build, open_warehouse

MARTS = (
    "marts.self_hosted_costs", "marts.full_cost", "marts.energy_carbon", "marts.cost_per_outcome", "marts.unit_economics",
    "marts.unit_economics_by_feature", "marts.self_host_breakeven",
)
CHANGED = ("cost_per_outcome", "unit_economics", "unit_economics_by_feature")
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a home `tokenledger run` has run (the benchmark rebuilds its marts)")
    parser.add_argument("--before", help="a git revision whose unit marts' SQL to time too")
    args = parser.parse_args()
    home = Home.at(args.home)
    with open_warehouse(home) as con:
        (requests,) = con.execute("select count(*) from core.request_costs").fetchone()
        print(f"core.request_costs: {requests:,} requests")
        total = 0.0
        for name in MARTS:
            params = {"default_pue": energy_settings(home.root)[0]} if name == "marts.energy_carbon" else None
            started = time.perf_counter()
            rows, _ = build(con, home, name, params=params)
            seconds = time.perf_counter() - started
            total += seconds
            print(f"  {name:<34}{rows:>8} rows {seconds:>7.2f} s {requests / seconds:>14,.0f} requests/s")
        print(f"  {'all of them':<34}{'':>13} {total:>7.2f} s")
        if args.before:
            for name in CHANGED:
                old = subprocess.run(
                    ["git", "-C", str(ROOT), "show", f"{args.before}:sql/marts/{name}.sql"], capture_output=True, text=True, check=True
                ).stdout
                started = time.perf_counter()
                con.execute(f"create or replace temp table _before as {old}")
                print(f"  marts.{name} at {args.before}: {time.perf_counter() - started:.2f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
