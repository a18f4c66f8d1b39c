-- One row per landed file, from the lake's manifest. rows_read = rows_loaded + rows_rejected + rows_duplicate +
-- rows_skipped: skipped records are read but are not provider calls (an OTel span of a tool or a database:
-- skipped_reasons {"not_an_llm_span": n}).
with manifest as (
    select *
    from lake_ingested_files
)

select
    path,
    sha256,
    format,
    status,
    error,
    rows_read,
    rows_loaded,
    rows_rejected,
    rows_duplicate,
    duplicate_conflicts,
    coalesce(rows_skipped, 0) as rows_skipped,
    skipped_reasons,
    event_dates,
    ingested_at,
    file_id,
from manifest
