-- One outcome event of a demo conversation or request, drawn by $seed at the chance of its feature's rule; reads
-- the temp table requests (demo_requests.sql) and outcome_rules (registered from demo.business.OUTCOME_RULES).
with conversations as (
    select conversation_id, any_value(feature) as feature, max(occurred_at) as last_at,
    from requests
    where status = 'ok' and conversation_id is not null
    group by conversation_id
),

candidates as (
    select 'conversation_id' as linked_by, conversation_id as link, feature, last_at as occurred_at,
    from conversations
    union all
    select 'request_id', request_id, feature, occurred_at,
    from requests
    where status = 'ok'
),

drawn as (
    select
        linked_by,
        link,
        feature,
        occurred_at,
        (hash(link, $seed, 'outcome') % 1000000) / 1000000.0 as outcome_draw,
        (hash(link, $seed, 'delay') % 1000000) / 1000000.0 as delay_draw,
    from candidates
)

select
    'out_' || left(md5(drawn.link || cast($seed as varchar)), 16) as outcome_id,
    drawn.occurred_at + to_seconds(30 + cast(drawn.delay_draw * 900 as bigint)) as occurred_at,
    outcome_rules.outcome_type,
    drawn.feature,
    case when drawn.linked_by = 'request_id' then drawn.link end as request_id,
    case when drawn.linked_by = 'conversation_id' then drawn.link end as conversation_id,
    outcome_rules.value_usd,
from drawn
inner join outcome_rules
    on outcome_rules.feature = drawn.feature
    and outcome_rules.linked_by = drawn.linked_by
where drawn.outcome_draw < outcome_rules.chance
