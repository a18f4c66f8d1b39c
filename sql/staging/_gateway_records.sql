-- gateway_records(window_start, window_end): every lake record of the window's requests, and whether it counts.
-- A table macro: staging.stg_gateway_requests keeps the records that count, audit.duplicate_requests the others.
-- The identity rule (README, "One request, many records"): a request is (source, request_id). Of all its records,
-- in whatever landed files they are, the final one counts, in the order (occurred_at, source_file, source_row),
-- which does not depend on when the files landed. Its earlier records are `superseded` when the usage only grew
-- along that order (a streaming request's cumulative usage), else `conflict` (the records disagree; the final
-- one still counts). Sources listed in same_call_sources (settings.yaml, rank = position in the list) log the
-- provider's own response id as request_id: a request id found in two of them is one provider call, counted
-- once from the first-listed source; the other source's records are `same_call`. Records are resolved within a
-- UTC event date (the window holds whole dates, and a request's records all carry its occurred_at date unless
-- their timestamps cross midnight).
with records as (
    select
        lake.*,
        coalesce(same_call.rank, 0) as source_rank,
        case when same_call.source is null then lake.source else '' end as identity,
    from lake_gateway_requests as lake
    left join same_call_sources as same_call
        on same_call.source = lake.source
    where lake.event_date >= window_start and lake.event_date < window_end
),

repeated as (
    select identity, request_id
    from records
    group by identity, request_id
    having count(*) > 1
),

contested as (
    select
        records.*,
        min(source_rank) over (partition by identity, request_id) as best_rank,
    from records
    semi join repeated using (identity, request_id)
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
            and web_search_requests >= coalesce(lag(web_search_requests) over w, 0) as grew,
        row_number() over w = count(*) over (partition by identity, request_id) as is_final,
    from contested
    where source_rank = best_rank
    window w as (partition by identity, request_id order by occurred_at, source_file, source_row)
),

judged as (
    select
        * exclude (grew),
        bool_and(grew) over (partition by identity, request_id) as cumulative,
    from versions
),

finals as (
    select identity, request_id, source as kept_source, source_file as kept_source_file, source_row as kept_source_row
    from judged
    where is_final
),

resolved as (
    select
        judged.* exclude (is_final, cumulative, best_rank),
        is_final as counts,
        case when is_final then null when cumulative then 'superseded' else 'conflict' end as reason,
    from judged
    union all by name
    select
        contested.* exclude (best_rank),
        false as counts,
        'same_call' as reason,
    from contested
    where source_rank > best_rank
)

select
    records.* exclude (identity, source_rank),
    true as counts,
    cast(null as varchar) as reason,
    cast(null as varchar) as kept_source,
    cast(null as varchar) as kept_source_file,
    cast(null as bigint) as kept_source_row,
from records
anti join repeated using (identity, request_id)
union all by name
select
    resolved.* exclude (identity, source_rank),
    case when resolved.counts then null else finals.kept_source end as kept_source,
    case when resolved.counts then null else finals.kept_source_file end as kept_source_file,
    case when resolved.counts then null else finals.kept_source_row end as kept_source_row,
from resolved
inner join finals using (identity, request_id)
