-- One row per price-book entry: model x version x service tier x context band, USD per 1M tokens (DECIMAL(38, 9)).
-- book_prices: pricing/list/*.yaml and pricing/list/imported/*.yaml, validated and flattened (pipelines/pricing/book.py).
-- effective_from is null when the provider never published when the price started (`effective_from: unknown`):
-- the row prices every request before the next version, marked price_confidence 'undated' in core.request_costs.
-- effective_to is exclusive (null: still in force); an input-token band is [input_tokens_from, input_tokens_to).
-- A time-of-day price (pricing/README.md, windows) holds in utc_segments: minutes [minute_from, minute_to) of the
-- UTC day on the weekdays of `days` (bits, Monday = 1; 127 = every day); time_window says which window in words
-- ('16:30-00:30 UTC', 'outside 16:30-00:30 UTC'), null for a price that holds all day. price_id is unique.
-- A null bucket price means "not sold": usage in that bucket is flagged unpriced, never $0.
select
    price_id,
    provider,
    model,
    service_tier,
    effective_from,
    effective_to,
    input_tokens_from,
    input_tokens_to,
    utc_segments,
    time_window,
    currency,
    input_per_mtok,
    cache_read_per_mtok,
    cache_write_5m_per_mtok,
    cache_write_1h_per_mtok,
    output_per_mtok,
    reasoning_per_mtok,
    audio_input_per_mtok,
    audio_output_per_mtok,
    image_input_per_mtok,
    image_output_per_mtok,
    web_search_per_1k,
    per_request,
    source,
    checked,
    note,
    book_file,
from book_prices
