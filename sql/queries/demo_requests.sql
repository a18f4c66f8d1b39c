-- One good demo request of the envelope files $files with occurred_at in [$start, $end]: a line the pipeline
-- loads (bad lines and duplicates left out), with the input plus output tokens of its usage. Reads only $files.
with lines as (
    select request_id, timestamp, provider, feature, customer_id, user_segment, conversation_id, status, usage,
    from read_ndjson(
        $files,
        columns = {
            request_id: 'VARCHAR', timestamp: 'VARCHAR', provider: 'VARCHAR', feature: 'VARCHAR',
            customer_id: 'VARCHAR', user_segment: 'VARCHAR', conversation_id: 'VARCHAR', status: 'VARCHAR', usage: 'JSON'
        },
        ignore_errors = true
    )
),

good as (
    select request_id, timestamp, provider, feature, customer_id, user_segment, conversation_id, status, usage,
    from lines
    where request_id is not null
        and regexp_matches(timestamp, '([Zz]|[+-]\d{2}:?\d{2})$')
        and not regexp_matches(cast(usage as varchar), ':\s*-\d')
        and cast(cast(timestamp as timestamptz) as date) between $start and $end
)

select distinct on (request_id)
    request_id,
    cast(timestamp as timestamptz) as occurred_at,
    provider,
    feature,
    customer_id,
    user_segment,
    conversation_id,
    status,
    coalesce(try_cast(usage ->> 'prompt_tokens' as bigint), try_cast(usage ->> 'input_tokens' as bigint), 0)
        + coalesce(try_cast(usage ->> 'completion_tokens' as bigint), try_cast(usage ->> 'output_tokens' as bigint), 0) as tokens,
from good
order by request_id, occurred_at
