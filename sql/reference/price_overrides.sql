-- One row per negotiated price override from <home>/price_overrides.yaml (wins over list prices for its dates).
-- home_price_overrides: the validated file (pipelines/pricing/overrides.py); effective_to is exclusive.
-- specificity ranks overlapping overrides: model 4, account 2, service tier 1, summed; the highest wins.
select
    override_id,
    provider,
    model,
    account,
    service_tier,
    effective_from,
    effective_to,
    discount_pct,
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
    specificity,
    note,
from home_price_overrides
