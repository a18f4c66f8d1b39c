-- One row per landed file, from the lake's manifest.
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
    event_dates,
    ingested_at,
    file_id,
from manifest
