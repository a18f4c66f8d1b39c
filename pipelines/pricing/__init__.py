"""Prices: the price book in pricing/ (`book`), negotiated overrides, exchange rates, model tiers, which book
model a request names (`names`), and the import of genai-prices' data with its corrections."""
