-- Experiments whose units per variant differ from the design (experiments.yaml split, else equal) by more than
-- chance: chi-square p-value below 0.001 (a warning on marts.experiment_results; the assignment or logging is
-- suspect, so the experiment's verdicts are too).
select distinct experiment, srm_p_value
from marts.experiment_results
where sample_ratio_mismatch
order by experiment
