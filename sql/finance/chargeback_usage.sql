-- The frozen copy of marts.chargeback_usage for each closed month: every row of the month as it was at the close.
-- `tokenledger close YYYY-MM` appends this select's rows for $month; the month's statements are built from them
-- from then on (marts.chargeback_lines), and later changes show as credit and debit lines.
select
    cast($month as varchar) as month,
    now() as closed_at,
    *,
from marts.chargeback_usage
where period = $month
