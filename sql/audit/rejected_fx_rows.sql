-- One row per rejected exchange-rate row under landing/fx: file, row number, field and reason.
-- landed_fx_rejected: what pipelines/pricing/fx.py could not read (row_number 0: the whole file).
select
    source_file,
    row_number,
    field,
    reason,
from landed_fx_rejected
