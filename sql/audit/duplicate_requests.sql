-- One row per gateway record of the window that does not count, and the record that counts instead: the
-- identity rule of staging/_duplicate_records.sql. reason: `superseded` (an earlier cumulative usage record of a
-- streaming request), `conflict` (an earlier record whose usage disagrees with the final one) or `same_call`
-- (the same provider call logged by a source listed after kept_source in settings.yaml same_call_sources).
-- Records repeated inside one landed file are counted in audit.ingested_files.rows_duplicate instead; these
-- are the records repeated across files and sources, which the lake keeps so that any file can be corrected.
select
    event_date,
    source,
    request_id,
    occurred_at,
    source_file,
    source_row,
    reason,
    kept_source,
    kept_source_file,
    kept_source_row,
from duplicate_records($window_start, $window_end)
