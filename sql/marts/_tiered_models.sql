-- tiered_models(models): one row per (provider, model) of the relation named `models` (a CTE or view with those two
-- columns, one row per model), with the first rule of tier_rules (<home>/model_tiers.yaml, then
-- pricing/model_tiers.yaml, registered by the caller; pipelines/pricing/tiers.py) whose glob matches
-- "<provider>/<model>" or the model name alone, lowercased (the patterns are lowercased when the file is read):
-- the rule with the lowest rule_order wins. A table macro, not a table: marts.model_tier_spend,
-- marts.chargeback_usage and marts.self_host_breakeven call it.
-- matched: some rule matches; when none does, the rule's columns are null and model_tier is 'unclassified'.
select
    models.provider,
    models.model,
    tier_rules.pattern is not null as matched,
    coalesce(tier_rules.tier, 'unclassified') as model_tier,
    tier_rules.rule_order,
    tier_rules.rule_source,
    tier_rules.compare_with,
from query_table(models) as models
left join tier_rules
    on lower(models.provider || '/' || models.model) glob tier_rules.pattern
    or lower(models.model) glob tier_rules.pattern
qualify row_number() over (partition by models.provider, models.model order by tier_rules.rule_order nulls last) = 1
