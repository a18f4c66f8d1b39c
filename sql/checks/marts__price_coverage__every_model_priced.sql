-- Provider/models seen without a price, most requests first (a warning on marts.price_coverage).
select provider, model, unpriced_reasons, requests
from marts.price_coverage
where requests > 0
order by requests desc, provider, model
