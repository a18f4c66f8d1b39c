-- Units found in two or more variants of one experiment (by tags, by the assignment feed or both), one row per
-- experiment x unit (a warning on core.experiment_units: those units are left out of the results and counted in
-- marts.experiment_results.conflicting_units).
select distinct experiment, unit_type, unit_id
from core.experiment_units
where conflict
order by experiment, unit_type, unit_id
