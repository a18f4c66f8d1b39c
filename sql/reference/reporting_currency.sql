-- One row: the reporting currency, `reporting_currency` in <home>/settings.yaml (default USD).
select cast($currency as varchar) as currency
