"""Time the chargeback marts (marts.chargeback_usage, chargeback_lines, chargeback_statements) on a home that has been
run, with a chargeback.yaml written for its data: each of the --customers largest customers its own payer (cost
plus a markup, an amount allowance), then one payer per user segment (per 1M tokens by tier, a token allowance), then
a tag payer listed first, so every rule, the first-match join and the allowance run. Each mart is rebuilt alone on
the home's working warehouse. Prints seconds, requests per second and peak RSS.

    python benchmarks/chargeback_marts.py --home <scratch>/bench10m [--customers 200]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from pipelines.insights.chargeback import load_chargeback
from pipelines.storage.home import Home
from pipelines.warehouse.tables import build, open_warehouse

MARTS = ("marts.chargeback_usage", "marts.chargeback_lines", "marts.chargeback_statements")


def chargeback_yaml(customers: list[str], segments: list[str]) -> str:
    lines = ["unpriced: separate", "payers:", "  platform-team:", "    match: {tags: {team: platform}}", "    rule: cost_plus", "    markup_pct: 0"]
    for n, customer in enumerate(customers):
        lines += [f"  c{n:05d}:", f"    match: {{customer_id: '{customer}'}}", "    rule: cost_plus", "    markup_pct: 20", "    included: {amount: 5}"]
    for n, segment in enumerate(segments):
        lines += [f"  s{n:03d}:", f"    match: {{user_segment: '{segment}'}}", "    rule: per_mtok",
                  "    per_mtok: {small: 0.5, medium: 3, premium: 15, default: 5}", "    included: {tokens: 1000000}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a home `tokenledger run` has run (the benchmark rebuilds its marts)")
    parser.add_argument("--customers", type=int, default=200, help="payers by customer (the largest customers first)")
    args = parser.parse_args()
    home = Home.at(args.home)
    with open_warehouse(home) as con:
        (requests,) = con.execute("select count(*) from core.request_costs").fetchone()
        customers = [row[0] for row in con.execute(
            "select customer_id from core.request_costs where customer_id is not null group by 1 order by count(*) desc, 1 limit ?",
            [args.customers]).fetchall()]
        segments = [row[0] for row in con.execute("select distinct user_segment from core.request_costs where user_segment is not null order by 1").fetchall()]
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "chargeback.yaml").write_text(chargeback_yaml(customers, segments))
            chargeback = load_chargeback(Path(folder))
        rows = {"chargeback_payers": chargeback.payers, "chargeback_tier_prices": chargeback.tier_prices}
        print(f"core.request_costs: {requests:,} requests; {chargeback.payers.num_rows} payers")
        total = 0.0
        for name in MARTS:
            started = time.perf_counter()
            count, _ = build(con, home, name, rows=rows if name == "marts.chargeback_usage" else None)
            seconds = time.perf_counter() - started
            total += seconds
            print(f"  {name:<32}{count:>9} rows {seconds:>7.2f} s {requests / seconds:>14,.0f} requests/s")
        print(f"  {'all of them':<32}{'':>14} {total:>7.2f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
