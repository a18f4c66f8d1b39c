-- One row per line item of the providers' billing exports, with every amount also in USD.
-- A line of a paged API export (openai_costs, anthropic_costs) pulled again replaces the earlier delivery of the
-- same line (account, day, model, bucket, tier, dimensions); of a CUR delivered in versions, only the newest version of
-- a billing period counts; a line whose content was first delivered after its month was closed, or a paged line that says
-- something else than it did at the close, is marked as a correction.
-- Amounts are converted to USD exactly (money_divide, pipelines/storage/money.py), never through a binary float.
with lines as (
    -- what a line says, whatever file and row hold it, and which of a file's identical lines it is (a second identical
    -- line is a line of its own): a re-pull or new version of a bill after the close repeats the lines it does not
    -- change, and those are not corrections
    -- A line of a paged API export (openai_costs, anthropic_costs) is the same line as another of the same account,
    -- day, period, model, bucket, tier, description and dimensions, not its amounts (line_key); its organization apart
    -- (an OpenAI line of an organization is not another organization's, and one delivered before lines named theirs is
    -- either's)
    select *,
        hash(*columns(* exclude (source_file, source_row, file_id))) as content_hash,
        row_number() over (partition by file_id, content_hash order by source_row) as content_copy,
        case when source_format in ('openai_costs', 'anthropic_costs') then json_extract_string(extra, '$.organization_id') end
            as line_org,
        case when source_format in ('openai_costs', 'anthropic_costs') then (
            source_format, coalesce(account, ''), charge_date, charge_period_start, coalesce(model, ''), coalesce(token_bucket, ''),
            coalesce(service_tier, ''), coalesce(description, ''), charge_category,
            coalesce(cast(json_merge_patch(coalesce(extra, '{}'), '{"requests": null, "organization_id": null}') as varchar), '')
        ) end as line_key,
    from lake_billing_line_items
),

delivered as (
    -- the same export landed twice under two names (a copy, `export (1).csv`): the lines of the first path count;
    -- a later pull of the same content is newer than the pulls between them (ingested_at orders re-pulls), but a line's
    -- content was first delivered with the first file that held it (first_delivered_at: a copy landed after the close,
    -- or the lines a re-pull after the close does not change, correct nothing)
    select
        lines.*,
        files.ingested_at,
        min(files.ingested_at) over (partition by lines.content_hash, lines.content_copy) as first_delivered_at,
    from lines
    left join audit.ingested_files as files
        on files.file_id = lines.file_id
    qualify files.sha256 is null or dense_rank() over (partition by files.sha256 order by files.path) = 1
),

versions as (
    -- a cloud export delivered as a new version each time (AWS Data Exports' CREATE_NEW_REPORT, of CUR 2.0 or FOCUS;
    -- legacy CUR's assembly folders; an Azure cost export's run folders): `.../BILLING_PERIOD=2025-11/<version>/part.csv`
    -- or `.../20251101-20251201/<assembly or run id>/part.csv`. Files directly in the period's folder (an export that
    -- overwrites itself) are not versions
    select
        folder.period_folder,
        folder.version,
        max(charge_period_start) as last_charge,
        max(ingested_at) as last_ingested,
    from (
        select
            *,
            regexp_extract(
                source_file, '^(.*/(?:BILLING_PERIOD=\d{4}-\d{2}|\d{8}-\d{8}))/([^/]+)/', ['period_folder', 'version']
            ) as folder,
        from delivered
        where source_format in ('aws_cur', 'focus')
    )
    where folder.version <> ''
    group by all
),

latest_versions as (
    -- each version restates the whole billing period so far, so only the newest counts: the one reaching the latest
    -- charge (a later delivery covers every day an earlier one did), then the one ingested last, then by name
    select period_folder, arg_max(version, (last_charge, last_ingested, version)) as version,
    from versions
    group by period_folder
),

versioned as (
    select delivered.*
    from delivered
    left join latest_versions
        on delivered.source_format in ('aws_cur', 'focus')
        and starts_with(delivered.source_file, latest_versions.period_folder || '/')
    where latest_versions.version is null
        or starts_with(delivered.source_file, latest_versions.period_folder || '/' || latest_versions.version || '/')
),

paged as (
    select * from versioned where line_key is not null
),

paged_deliveries as (
    -- every delivery of a paged line, copies of a file included (a copy landed after the close does not make the
    -- original's lines new)
    select lines.line_key, lines.line_org, lines.content_hash, lines.content_copy, lines.file_id, files.ingested_at,
    from lines
    join audit.ingested_files as files
        on files.file_id = lines.file_id
    where lines.line_key is not null
),

current_lines as (
    -- a line of a paged API export counts unless a later file delivered the same line (of the same organization, or
    -- where either names none): the pages of one pull landed as separate files add up (only the newest file counted)
    -- and a pull of the same day again replaces the lines it delivers
    select *
    from versioned
    where source_format not in ('openai_costs', 'anthropic_costs')
    union all by name
    select line.*
    from paged as line
    where not exists (
        select 1
        from paged as newer
        where newer.line_key is not distinct from line.line_key
            and (newer.ingested_at > line.ingested_at or (newer.ingested_at = line.ingested_at and newer.file_id > line.file_id))
            and (newer.line_org is null or line.line_org is null or newer.line_org = line.line_org)
    )
),

converted as (
    select
        current_lines.*,
        case when current_lines.currency = 'USD' then cast(1 as decimal(38, 12)) else rates.usd_rate end as fx_rate,
        closed.closed_at,
    from current_lines
    asof left join reference.fx_rates as rates
        on rates.currency = current_lines.currency
        and current_lines.charge_date >= rates.rate_date
    left join finance.closed_periods as closed
        on closed.month = strftime(current_lines.charge_date, '%Y-%m')
),

at_close as (
    -- a paged line after its month was closed is a correction when the pull that stood at the close (the newest file
    -- delivering its line key up to the close) did not hold it as it is now: a line that returns to an earlier content
    -- (1.00, 2.00 before the close, 1.00 after) changed what was closed, a line no pull before the close delivered is
    -- new, and so is a second identical line a pull after the close adds (content_copy)
    select
        converted.*,
        case
            when converted.line_key is null or converted.closed_at is null then null
            else (
                select arg_max(earlier.file_id, (earlier.ingested_at, earlier.file_id))
                from paged_deliveries as earlier
                where earlier.line_key is not distinct from converted.line_key
                    and earlier.ingested_at <= converted.closed_at
                    and (earlier.line_org is null or converted.line_org is null or earlier.line_org = converted.line_org)
            )
        end as file_at_close,
    from converted
),

resolved as (
    select
        at_close.*,
        case
            when line_key is null or closed_at is null then coalesce(first_delivered_at > closed_at, false)
            else not exists (
                select 1
                from paged_deliveries as closed_pull
                where closed_pull.file_id = at_close.file_at_close
                    and closed_pull.line_key is not distinct from at_close.line_key
                    and closed_pull.content_hash = at_close.content_hash
                    and closed_pull.content_copy = at_close.content_copy
            )
        end as changed_after_close,
        aliases.model as reconcile_model,
    from at_close
    left join reference.model_aliases as aliases
        on aliases.provider = at_close.provider
        and aliases.name = at_close.model
)

select
    charge_date,
    charge_period_start,
    charge_period_end,
    billing_period_start,
    provider,
    bill_provider,
    service_name,
    account,
    model,
    reconcile_model,
    token_bucket,
    service_tier,
    quantity,
    unit,
    billed_cost,
    effective_cost,
    list_cost,
    included_credits,
    currency,
    fx_rate,
    money_divide(billed_cost, fx_rate) as billed_cost_usd,
    money_divide(effective_cost, fx_rate) as effective_cost_usd,
    money_divide(list_cost, fx_rate) as list_cost_usd,
    money_divide(included_credits, fx_rate) as included_credits_usd,
    charge_category,
    is_correction or changed_after_close as is_correction,
    case
        when is_correction then 'the export marks it a correction (ChargeClass)'
        when changed_after_close and first_delivered_at <= closed_at
            then 'changed after ' || strftime(charge_date, '%Y-%m') || ' was closed'
        when changed_after_close then 'delivered after ' || strftime(charge_date, '%Y-%m') || ' was closed'
    end as correction_reason,
    description,
    extra,
    source_format,
    source_file,
    source_row,
    file_id,
    ingested_at,
from resolved
