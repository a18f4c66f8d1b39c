-- One event day, provider and model of the priced OpenAI and Anthropic requests in core.request_costs, with
-- what they cost per token kind a provider bills: input, cache reads, cache writes and output (reasoning, audio, fees).
with priced as (
    select
        event_date,
        provider,
        model,
        input_cost_usd,
        cache_read_cost_usd,
        cache_write_5m_cost_usd + cache_write_1h_cost_usd as cache_write_cost_usd,
        output_cost_usd + reasoning_cost_usd + audio_cost_usd + fees_cost_usd as billed_output_cost_usd,
    from core.request_costs
    where is_priced and provider in ('openai', 'anthropic')
)

select
    event_date,
    provider,
    model,
    sum(input_cost_usd) as input_cost_usd,
    sum(cache_read_cost_usd) as cache_read_cost_usd,
    sum(cache_write_cost_usd) as cache_write_cost_usd,
    sum(billed_output_cost_usd) as output_cost_usd,
from priced
group by event_date, provider, model
order by event_date, provider, model
