-- The frozen copy of marts.daily_spend for each closed month: every row of the month as it was at the close.
-- `tokenledger close YYYY-MM` appends this select's rows for $month; later changes show in marts.restatements.
select
    cast($month as varchar) as month,
    now() as closed_at,
    *,
from marts.daily_spend
where event_date >= $month_start and event_date < $month_end
