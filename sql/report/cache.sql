-- Cache savings per feature in the window [$start, $end), most saved first (marts.cache_savings).
select
    feature,
    cast(sum(cached_tokens) as bigint) as cached_tokens,
    cast(sum(cached_cost_usd) as decimal(38, 15)) as cached_cost_usd,
    cast(sum(uncached_cost_usd) as decimal(38, 15)) as uncached_cost_usd,
    cast(sum(saved_usd) as decimal(38, 15)) as saved_usd,
    cast(sum(write_premium_usd) as decimal(38, 15)) as write_premium_usd,
    cast(sum(net_saved_usd) as decimal(38, 15)) as net_saved_usd,
from marts.cache_savings
where event_date >= $start and event_date < $end
group by feature
order by saved_usd desc, feature
