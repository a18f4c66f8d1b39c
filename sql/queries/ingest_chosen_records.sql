-- Ingestion: which record to keep of each request a landed file holds more than once (`incoming` and `repeated`
-- are the scratch tables of pipelines/ingest/gateway.py): the final one in time order (the identity rule of
-- staging/_duplicate_records.sql, inside one file and one UTC event date). Records of one request whose usage only grows are one
-- streaming request's cumulative usage; otherwise the records disagree and `conflict` says so.
with versions as (
    select
        incoming.*,
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
        row_number() over w as version,
        count(*) over (partition by source, request_id, event_date) as versions,
    from incoming
    semi join repeated using (source, request_id, event_date)
    window w as (partition by source, request_id, event_date order by occurred_at, source_row)
),

judged as (
    select
        *,
        bool_and(grew) over (partition by source, request_id, event_date) as cumulative,
    from versions
)

select * exclude (grew, version, versions, cumulative), not cumulative as conflict
from judged
where version = versions
