-- One row per experiment x variant with units: its distinct units across features (for the sample-ratio test) and
-- whether the assignment feed marks it the control (pipelines/insights/experiments.py).
with marked as (
    select experiment, variant, bool_or(coalesce(is_control, false)) as marked_control,
    from core.experiment_assignments
    where variant is not null
    group by experiment, variant
)

select
    units.experiment,
    units.variant,
    count(distinct (units.unit_type, units.unit_id)) as units,
    coalesce(any_value(marked.marked_control), false) as marked_control,
from core.experiment_units as units
left join marked using (experiment, variant)
where not units.conflict
group by units.experiment, units.variant
order by units.experiment, units.variant
