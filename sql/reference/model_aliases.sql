-- One row per model name the price book answers to (the model itself and its aliases), per provider.
-- book_aliases: the exact names of pricing/ (pipelines/pricing/book.py); match rules are applied per run instead.
select
    provider,
    name,
    model,
from book_aliases
