-- One row per business outcome from landing/outcomes (duplicates by outcome_id already dropped at ingestion),
-- with how it links to requests: by conversation_id when it names one (every request of the conversation),
-- else by request_id.
with source as (
    select *
    from lake_outcomes
),

renamed as (
    select
        outcome_id,
        occurred_at,
        event_date,
        outcome_type,
        feature,
        request_id,
        conversation_id,
        case when conversation_id is not null then 'conversation_id' else 'request_id' end as linked_by,
        cast(value_usd as decimal(38, 15)) as value_usd,
        source_file,
        source_row,
    from source
)

select * from renamed
