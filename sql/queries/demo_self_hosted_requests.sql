-- One self-hosted request: a good summarize or search line of the envelope files $files, sampled by $seed at
-- $per_mille in 1000, served again as $model on $provider with plain input and output tokens. Reads only $files.
with lines as (
    select request_id, timestamp, feature, user_id, user_segment, customer_id, conversation_id, usage,
    from read_ndjson(
        $files,
        columns = {
            request_id: 'VARCHAR', timestamp: 'VARCHAR', feature: 'VARCHAR', user_id: 'VARCHAR', user_segment: 'VARCHAR',
            customer_id: 'VARCHAR', conversation_id: 'VARCHAR', usage: 'JSON'
        },
        ignore_errors = true
    )
),

sampled as (
    select request_id, timestamp, feature, user_id, user_segment, customer_id, conversation_id, usage,
    from lines
    where feature in ('summarize', 'search') and request_id is not null
        and regexp_matches(timestamp, '([Zz]|[+-]\d{2}:?\d{2})$')
        and not regexp_matches(cast(usage as varchar), ':\s*-\d')
        and hash(request_id || $seed) % 1000 < $per_mille
)

select
    'sh_' || md5(request_id) as request_id,
    timestamp,
    $provider as provider,
    $model as model,
    'default' as service_tier,
    feature,
    user_id,
    user_segment,
    customer_id,
    conversation_id,
    {
        'input_tokens': coalesce(
            try_cast(usage ->> 'prompt_tokens' as bigint), try_cast(usage ->> 'input_tokens' as bigint), 800
        ),
        'output_tokens': coalesce(
            try_cast(usage ->> 'completion_tokens' as bigint), try_cast(usage ->> 'output_tokens' as bigint), 200
        ),
    } as usage,
from sampled
order by timestamp, request_id
