-- One row per experiment x unit assigned through landing/experiments: the unit (unit_type user_id, conversation_id
-- or customer_id; user ids are pseudonyms), its variant from assigned_at on (the earliest assignment when the same
-- one was landed again), and whether the feed marks that variant the control. A unit assigned to two or more
-- variants of one experiment belongs to none: variant is null, conflict is true and conflicting_variants names them;
-- the experiment marts leave its requests out and count it (marts.experiment_results.conflicting_units).
with source as (
    select *
    from lake_experiment_assignments
),

units as (
    select
        experiment,
        case
            when user_id is not null then 'user_id'
            when conversation_id is not null then 'conversation_id'
            else 'customer_id'
        end as unit_type,
        coalesce(user_id, conversation_id, customer_id) as unit_id,
        variant,
        assigned_at,
        is_control,
    from source
),

controls as (
    select experiment, variant, bool_or(coalesce(is_control, false)) as is_control,
    from units
    group by experiment, variant
),

per_unit as (
    select
        experiment,
        unit_type,
        unit_id,
        count(distinct variant) as variants,
        min(variant) as variant,
        string_agg(distinct variant, ', ' order by variant) as variants_named,
        min(assigned_at) as assigned_at,
    from units
    group by experiment, unit_type, unit_id
)

select
    per_unit.experiment,
    per_unit.unit_type,
    per_unit.unit_id,
    case when per_unit.variants = 1 then per_unit.variant end as variant,
    per_unit.assigned_at,
    case when per_unit.variants = 1 then controls.is_control end as is_control,
    per_unit.variants > 1 as conflict,
    case when per_unit.variants > 1 then per_unit.variants_named end as conflicting_variants,
from per_unit
left join controls
    on controls.experiment = per_unit.experiment
    and controls.variant = per_unit.variant
    and per_unit.variants = 1
