"""Automation for a long-running Dagster deployment (`dagster-daemon` beside the UI; see docs/report.md).

- `jobs`: the three stages `tokenledger run` goes through, as jobs; runs that read landing carry the
  `tokenledger/ingest` tag so the run queue can keep them one at a time.
- `schedules`: `daily_refresh` (02:00 UTC) ingests, materializes yesterday and every late date, then the
  whole-history marts.
- `sensors`: `new_landing_files` ingests files that appear or change under landing/gateway, then materializes
  the dates they touched; `clear_materialized_dates` forgets the late dates a successful run materialized.
"""
