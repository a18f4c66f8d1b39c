-- One row per rejected input row: where it was, which field, why, and the record without content.
with rejected as (
    select *
    from lake_rejected_rows
)

select
    source_file,
    row_number,
    field,
    reason,
    request_id,
    user_id,
    record,
    byte_offset,
    byte_length,
    record_sha256,
    file_id,
from rejected
