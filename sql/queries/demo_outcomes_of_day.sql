-- One line of landing/outcomes/<$day>.jsonl: an outcome of $day from the temp table outcomes (demo_outcomes.sql),
-- or the day's one outcome that names no request or conversation, which ingestion rejects.
with linked as (
    select
        outcome_id,
        strftime(occurred_at, '%Y-%m-%dT%H:%M:%SZ') as timestamp,
        outcome_type,
        feature,
        request_id,
        conversation_id,
        value_usd,
    from outcomes
    where cast(occurred_at as date) = $day
),

unlinked as (
    select
        'out_unlinked_' || strftime($day, '%Y%m%d') as outcome_id,
        strftime($day, '%Y-%m-%d') || 'T12:00:00Z' as timestamp,
        'ticket_resolved' as outcome_type,
        'support_chat' as feature,
        null as request_id,
        null as conversation_id,
        null as value_usd,
)

select * from linked
union all
select * from unlinked
order by timestamp, outcome_id
