-- `tokenledger prices coverage`: every provider x model seen without a price, most requests first.
select provider, model, requests, tokens, unpriced_reasons, service_tiers, first_seen, last_seen
from marts.price_coverage
where requests > 0
order by requests desc, provider, model
