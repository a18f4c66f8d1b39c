-- duplicate_records(window_start, window_end): every lake record of the window that does not count, and the
-- record of the same request that counts instead. staging.stg_gateway_requests is the window's lake records
-- without these; audit.duplicate_requests is these.
-- The identity rule (README, "One request, many records"): a request is (source, request_id). Of all its records,
-- in whatever landed files they are, the final one counts, in the order (occurred_at, source_file, source_row),
-- which does not depend on when the files landed. Its earlier records are `superseded` when the usage only grew
-- along that order (a streaming request's cumulative usage), else `conflict` (the records disagree; the final
-- one still counts). Sources listed in same_call_sources (settings.yaml, rank = position in the list) log the
-- provider's own response id as request_id: a request id found in two of them is one provider call, counted
-- once from the first-listed source; the other source's records are `same_call`. Records are resolved within a
-- UTC event date, whatever dates the window holds (a request's records all carry its occurred_at date unless
-- their timestamps cross midnight, and ids a gateway numbers per day are other requests on another day): every
-- partition, hash and join below includes event_date, so a run over several dates equals one run per date.
-- Cost: almost every request has one record, so the requests with several are found first from a narrow scan,
-- grouped by a 64-bit hash of the identity (a hash shared by two requests only makes both candidates; the
-- window functions then tell them apart by the identity itself), and only their records are read again whole.
with keys as (
    select hash(case when same_call.source is null then lake.source else '' end, lake.request_id, lake.event_date) as rkey
    from lake_gateway_requests as lake
    left join same_call_sources as same_call on same_call.source = lake.source
    where lake.event_date >= window_start and lake.event_date < window_end
),

repeated as (
    select rkey
    from keys
    group by rkey
    having count(*) > 1
),

records as (
    select
        lake.source, lake.request_id, lake.event_date, lake.occurred_at, lake.source_file, lake.source_row,
        lake.input_tokens, lake.cache_read_tokens, lake.cache_write_5m_tokens, lake.cache_write_1h_tokens,
        lake.output_tokens, lake.reasoning_tokens, lake.audio_input_tokens, lake.audio_output_tokens,
        coalesce(lake.image_input_tokens, 0) as image_input_tokens, coalesce(lake.image_output_tokens, 0) as image_output_tokens,
        lake.web_search_requests,
        coalesce(same_call.rank, 0) as source_rank,
        case when same_call.source is null then lake.source else '' end as identity,
        hash(case when same_call.source is null then lake.source else '' end, lake.request_id, lake.event_date) as rkey,
    from lake_gateway_requests as lake
    left join same_call_sources as same_call on same_call.source = lake.source
    where lake.event_date >= window_start and lake.event_date < window_end
),

contested as (
    select
        records.*,
        min(source_rank) over (partition by identity, request_id, event_date) as best_rank,
    from records
    semi join repeated using (rkey)
),

versions as (
    select
        *,
        input_tokens >= coalesce(lag(input_tokens) over w, 0)
            and cache_read_tokens >= coalesce(lag(cache_read_tokens) over w, 0)
            and cache_write_5m_tokens >= coalesce(lag(cache_write_5m_tokens) over w, 0)
            and cache_write_1h_tokens >= coalesce(lag(cache_write_1h_tokens) over w, 0)
            and output_tokens >= coalesce(lag(output_tokens) over w, 0)
            and reasoning_tokens >= coalesce(lag(reasoning_tokens) over w, 0)
            and audio_input_tokens >= coalesce(lag(audio_input_tokens) over w, 0)
            and audio_output_tokens >= coalesce(lag(audio_output_tokens) over w, 0)
            and image_input_tokens >= coalesce(lag(image_input_tokens) over w, 0)
            and image_output_tokens >= coalesce(lag(image_output_tokens) over w, 0)
            and web_search_requests >= coalesce(lag(web_search_requests) over w, 0) as grew,
        row_number() over w = count(*) over (partition by identity, request_id, event_date) as is_final,
    from contested
    where source_rank = best_rank
    window w as (partition by identity, request_id, event_date order by occurred_at, source_file, source_row)
),

judged as (
    select *, bool_and(grew) over (partition by identity, request_id, event_date) as cumulative,
    from versions
),

finals as (
    select identity, request_id, event_date, source as kept_source, source_file as kept_source_file, source_row as kept_source_row
    from judged
    where is_final
),

losers as (
    select identity, request_id, event_date, source, occurred_at, source_file, source_row,
        case when cumulative then 'superseded' else 'conflict' end as reason,
    from judged
    where not is_final
    union all
    select identity, request_id, event_date, source, occurred_at, source_file, source_row, 'same_call' as reason,
    from contested
    where source_rank > best_rank
)

select
    losers.event_date, losers.source, losers.request_id, losers.occurred_at, losers.source_file, losers.source_row,
    losers.reason, finals.kept_source, finals.kept_source_file, finals.kept_source_row,
from losers
inner join finals using (identity, request_id, event_date)
