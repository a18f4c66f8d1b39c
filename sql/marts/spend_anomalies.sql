-- One row per day x feature and per day x model: the day's spend against a trailing baseline (the
-- $baseline_days days before it, days without spend counted as 0), a robust score
-- (spend - median) / (1.4826 x MAD), and for flagged days the main cause of the change.
-- The cause splits log(spend / baseline mean spend) into volume (requests), tokens per request,
-- model mix (the series' models weighted at their own baseline cost per token) and price (each
-- model's cost per token); the largest term names the cause. Scores and effects are ratios (DOUBLE);
-- money stays DECIMAL.
with spend as (
    select
        event_date,
        feature,
        provider,
        model,
        sum(requests) as requests,
        sum(
            input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens
            + output_tokens + reasoning_tokens + audio_input_tokens + audio_output_tokens
            + coalesce(image_input_tokens, 0) + coalesce(image_output_tokens, 0)  -- null on days built before images
        ) as tokens,
        coalesce(sum(cost_usd), 0) as cost_usd,
    from marts.daily_spend
    group by all
),

parts as (
    select 'feature' as dimension, feature as subject, '' as provider, provider || '/' || model as part, event_date, requests, tokens, cost_usd
    from spend
    union all
    select 'model' as dimension, model as subject, provider, provider || '/' || model as part, event_date, requests, tokens, cost_usd
    from spend
),

part_days as (
    select dimension, subject, provider, part, event_date, sum(requests) as requests, sum(tokens) as tokens, sum(cost_usd) as cost_usd,
    from parts
    group by all
),

calendar as (
    select cast(unnest(generate_series(min(event_date), max(event_date), interval 1 day)) as date) as day
    from spend
),

series as (
    select distinct dimension, subject, provider
    from part_days
),

daily as (
    select
        series.dimension,
        series.subject,
        series.provider,
        calendar.day,
        coalesce(sum(part_days.requests), 0) as requests,
        coalesce(sum(part_days.tokens), 0) as tokens,
        cast(coalesce(sum(part_days.cost_usd), 0) as decimal(38, 15)) as cost_usd,
    from series
    cross join calendar
    left join part_days
        on part_days.dimension = series.dimension
        and part_days.subject = series.subject
        and part_days.provider = series.provider
        and part_days.event_date = calendar.day
    group by all
),

baseline as (
    select
        daily.dimension,
        daily.subject,
        daily.provider,
        daily.day,
        count(history.day) as baseline_days,
        median(history.cost_usd) as median_usd,
        sum(history.requests) as baseline_requests,
        sum(history.tokens) as baseline_tokens,
        sum(history.cost_usd) as baseline_cost_usd,
    from daily
    left join daily as history
        on history.dimension = daily.dimension
        and history.subject = daily.subject
        and history.provider = daily.provider
        and history.day >= daily.day - cast($baseline_days as integer)
        and history.day < daily.day
    group by all
),

deviation as (
    select
        baseline.dimension,
        baseline.subject,
        baseline.provider,
        baseline.day,
        median(abs(history.cost_usd - baseline.median_usd)) as mad_usd,
    from baseline
    inner join daily as history
        on history.dimension = baseline.dimension
        and history.subject = baseline.subject
        and history.provider = baseline.provider
        and history.day >= baseline.day - cast($baseline_days as integer)
        and history.day < baseline.day
    group by all
),

part_baseline as (
    select
        daily.dimension,
        daily.subject,
        daily.provider,
        daily.day,
        history.part,
        sum(history.tokens) as tokens,
        sum(history.cost_usd) as cost_usd,
    from daily
    inner join part_days as history
        on history.dimension = daily.dimension
        and history.subject = daily.subject
        and history.provider = daily.provider
        and history.event_date >= daily.day - cast($baseline_days as integer)
        and history.event_date < daily.day
    group by all
),

at_baseline_prices as (
    -- the day's tokens of each model at that model's baseline cost per token; a model new to the
    -- series keeps its own cost, so its arrival counts as a change of mix, not of price
    select
        today.dimension,
        today.subject,
        today.provider,
        today.event_date as day,
        sum(
            case
                when part_baseline.tokens > 0 then today.tokens * (part_baseline.cost_usd / part_baseline.tokens)
                else cast(today.cost_usd as double)
            end
        ) as cost_usd,
    from part_days as today
    left join part_baseline
        on part_baseline.dimension = today.dimension
        and part_baseline.subject = today.subject
        and part_baseline.provider = today.provider
        and part_baseline.day = today.event_date
        and part_baseline.part = today.part
    group by all
),

scored as (
    select
        daily.*,
        baseline.baseline_days,
        cast(baseline.median_usd as decimal(38, 15)) as baseline_median_usd,
        cast(deviation.mad_usd as decimal(38, 15)) as baseline_mad_usd,
        (daily.cost_usd - baseline.median_usd)
            / greatest(1.4826 * deviation.mad_usd, 0.05 * baseline.median_usd, cast($min_scale_usd as decimal(38, 15))) as robust_score,
        case when daily.requests > 0 and baseline.baseline_requests > 0
            then ln(daily.requests / (baseline.baseline_requests / baseline.baseline_days)) end as volume_effect,
        case when daily.tokens > 0 and baseline.baseline_tokens > 0
            then ln((daily.tokens / daily.requests) / (baseline.baseline_tokens / baseline.baseline_requests)) end as tokens_per_request_effect,
        case when daily.tokens > 0 and baseline.baseline_cost_usd > 0 and prices.cost_usd > 0
            then ln((prices.cost_usd / daily.tokens) / (baseline.baseline_cost_usd / baseline.baseline_tokens)) end as mix_effect,
        case when daily.cost_usd > 0 and prices.cost_usd > 0
            then ln(daily.cost_usd / prices.cost_usd) end as price_effect,
    from daily
    inner join baseline using (dimension, subject, provider, day)
    left join deviation using (dimension, subject, provider, day)
    left join at_baseline_prices as prices using (dimension, subject, provider, day)
),

flagged as (
    select
        *,
        coalesce(
            baseline_days >= $min_baseline_days
            and abs(robust_score) >= $threshold
            and abs(cost_usd - baseline_median_usd) >= cast($min_delta_usd as decimal(38, 15)),
            false
        ) as is_anomaly,
    from scored
)

select
    dimension,
    subject,
    nullif(provider, '') as provider,
    day as event_date,
    requests,
    tokens,
    cost_usd,
    baseline_days,
    baseline_median_usd,
    baseline_mad_usd,
    round(robust_score, 3) as robust_score,
    is_anomaly,
    case when is_anomaly then case when robust_score > 0 then 'spike' else 'drop' end end as direction,
    case when is_anomaly then
        case
            when requests = 0 or volume_effect is null then 'volume'
            when abs(volume_effect) >= greatest(abs(coalesce(tokens_per_request_effect, 0)), abs(coalesce(mix_effect, 0)), abs(coalesce(price_effect, 0))) then 'volume'
            when abs(coalesce(tokens_per_request_effect, 0)) >= greatest(abs(coalesce(mix_effect, 0)), abs(coalesce(price_effect, 0))) then 'tokens_per_request'
            when abs(coalesce(mix_effect, 0)) >= abs(coalesce(price_effect, 0)) then 'model_mix'
            else 'price'
        end
    end as cause,
    round(volume_effect, 4) + 0.0 as volume_effect,  -- + 0.0: a -0.0 (a tiny negative rounded) reads 0.0
    round(tokens_per_request_effect, 4) + 0.0 as tokens_per_request_effect,
    round(mix_effect, 4) + 0.0 as mix_effect,
    round(price_effect, 4) + 0.0 as price_effect,
from flagged
order by dimension, subject, provider, event_date
