"""Write clean synthetic gateway logs and a pseudonymization key into a home folder, for benchmarks.

Requests come from `pipelines.demo_data` (OpenAI Chat Completions and Responses usage, Anthropic usage
with cache reads, 5-minute and 1-hour cache writes, reasoning models, batch tier, web search, ~0.3% to
unknown models) as gzip JSON Lines. With `--parquet-share`, that share of each day's files is rewritten
as Parquet envelope files in which part of the traffic moves to Google Gemini (usageMetadata, thoughts,
cached content) and AWS Bedrock (Converse usage, cache reads and writes), so one landing holds mixed
providers, usage shapes and file formats.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.demo.gateway import GenerationSummary, generate_gateway_logs
from pipelines.ingest.privacy import create_key
from pipelines.storage.home import Home

DEFAULT_START = dt.date(2026, 11, 2)


@dataclass(frozen=True)
class Generated:
    """What one generation wrote and how long it took."""

    home: Home
    summary: GenerationSummary
    start: dt.date
    days: int
    seconds: float
    files: list[Path] = field(default_factory=list)

    @property
    def bytes_written(self) -> int:
        return sum(path.stat().st_size for path in self.files)

    @property
    def parquet_files(self) -> int:
        return sum(path.suffix == ".parquet" for path in self.files)


def requests_per_day(requests: int, days: int) -> int:
    """Requests for each day; the total must split evenly so the benchmark writes exactly `requests`."""
    if requests < 1 or days < 1:
        raise ValueError(f"need --requests >= 1 and --days >= 1, got {requests} and {days}")
    if requests % days:
        raise ValueError(f"--requests {requests} does not split evenly over --days {days}")
    return requests // days


def generate(
    home_dir: str | Path,
    *,
    requests: int,
    days: int = 1,
    files_per_day: int = 1,
    seed: int = 7,
    start: dt.date = DEFAULT_START,
    parquet_share: float = 0.0,
    experiment_tags: bool = True,
) -> Generated:
    """Write `requests` good envelope requests (no bad lines, no duplicates) and the key into home_dir.

    The last round(files_per_day * parquet_share) files of each day become Parquet with mixed providers.
    """
    per_day = requests_per_day(requests, days)
    if not 0 <= parquet_share <= 1:
        raise ValueError(f"--parquet-share must be from 0 to 1, got {parquet_share}")
    home = Home.at(home_dir).ensure()
    create_key(home.secrets)
    started = time.perf_counter()
    summary = generate_gateway_logs(
        home.landing, start=start, days=days, requests_per_day=per_day,
        seed=seed, bad_lines=False, files_per_day=files_per_day, experiment_tags=experiment_tags,
    )
    per_parquet = round(files_per_day * parquet_share)
    files = []
    for index, path in enumerate(summary.files):
        if index % files_per_day >= files_per_day - per_parquet:
            path = to_parquet(path)
        files.append(path)
    return Generated(home, summary, start, days, time.perf_counter() - started, files)


_BEDROCK_MODELS = {
    "claude-sonnet-4-5-20250929": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-haiku-4-5-20251001": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "claude-3-5-haiku-20241022": "anthropic.claude-3-5-haiku-20241022-v1:0",
}
_GEMINI_PRO_FOR = ("o3-2025-04-16", "o4-mini-2025-04-16", "gpt-5-2025-08-07", "gpt-5-mini-2025-08-07")
_GEMINI_FLASH_FOR = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14")
_GOOGLE_SHARE, _BEDROCK_SHARE = 30, 40
"""Percent of the known OpenAI (resp. Anthropic) requests of a Parquet file that move to Gemini (resp. Bedrock)."""

_TO_PARQUET = f"""
copy (
    with source as (
        select *, hash(request_id) % 100 as bucket,
            coalesce(usage->>'$.prompt_tokens', usage->>'$.input_tokens')::bigint as o_prompt,
            coalesce(usage->>'$.completion_tokens', usage->>'$.output_tokens')::bigint as o_output,
            coalesce(usage->>'$.prompt_tokens_details.cached_tokens', usage->>'$.input_tokens_details.cached_tokens', '0')::bigint as o_cached,
            coalesce(usage->>'$.completion_tokens_details.reasoning_tokens', usage->>'$.output_tokens_details.reasoning_tokens', '0')::bigint as o_reasoning
        from read_json($file, format = 'newline_delimited', columns = {{
            'request_id': 'VARCHAR', 'timestamp': 'VARCHAR', 'provider': 'VARCHAR', 'model': 'VARCHAR',
            'service_tier': 'VARCHAR', 'feature': 'VARCHAR', 'user_id': 'VARCHAR', 'user_segment': 'VARCHAR',
            'customer_id': 'VARCHAR', 'conversation_id': 'VARCHAR', 'latency_ms': 'BIGINT', 'status': 'VARCHAR',
            'tags': 'JSON', 'usage': 'JSON'}})
    ),
    moved as (
        select *,
            case
                when provider = 'openai' and bucket < {_GOOGLE_SHARE} and model in {_GEMINI_PRO_FOR + _GEMINI_FLASH_FOR} then 'google'
                when provider = 'anthropic' and bucket < {_BEDROCK_SHARE} and model in {tuple(_BEDROCK_MODELS)} then 'aws_bedrock'
                else provider
            end as new_provider
        from source
    )
    select
        request_id, timestamp, new_provider as provider,
        case new_provider
            when 'google' then case when model in {_GEMINI_PRO_FOR} then 'gemini-2.5-pro' else 'gemini-2.5-flash' end
            when 'aws_bedrock' then {" ".join("replace(" for _ in _BEDROCK_MODELS)}model{"".join(f", '{k}', '{v}')" for k, v in _BEDROCK_MODELS.items())}
            else model
        end as model,
        case when new_provider in ('google', 'aws_bedrock') then 'standard' else service_tier end as service_tier,
        feature, user_id, user_segment, customer_id, conversation_id, latency_ms, status,
        cast(tags as varchar) as tags,
        case new_provider
            when 'google' then cast(json_object(
                'promptTokenCount', o_prompt, 'cachedContentTokenCount', o_cached,
                'candidatesTokenCount', o_output - o_reasoning, 'thoughtsTokenCount', o_reasoning,
                'totalTokenCount', o_prompt + o_output) as varchar)
            when 'aws_bedrock' then cast(json_object(
                'inputTokens', (usage->>'$.input_tokens')::bigint,
                'outputTokens', (usage->>'$.output_tokens')::bigint,
                'cacheReadInputTokens', coalesce(usage->>'$.cache_read_input_tokens', '0')::bigint,
                'cacheWriteInputTokens', coalesce(usage->>'$.cache_creation_input_tokens', '0')::bigint,
                'totalTokens', (usage->>'$.input_tokens')::bigint + (usage->>'$.output_tokens')::bigint
                    + coalesce(usage->>'$.cache_read_input_tokens', '0')::bigint
                    + coalesce(usage->>'$.cache_creation_input_tokens', '0')::bigint) as varchar)
            else cast(usage as varchar)
        end as usage
    from moved
) to $target (format parquet, compression zstd, row_group_size 131072)
"""


def to_parquet(path: Path) -> Path:
    """Rewrite one generated .jsonl.gz as an envelope .parquet with part of its traffic on Gemini and Bedrock."""
    target = path.with_name(path.name.removesuffix(".jsonl.gz") + ".parquet")
    partial = target.with_name(f".{target.name}.partial")
    with duckdb.connect() as con:
        con.execute(_TO_PARQUET.replace("$target", "'" + partial.as_posix().replace("'", "''") + "'"), {"file": str(path)})
    partial.replace(target)
    path.unlink()
    return target


def describe(generated: Generated) -> str:
    summary = generated.summary
    last = generated.start + dt.timedelta(days=generated.days - 1)
    return (
        f"generated {summary.requests:,} requests ({summary.unknown_model_requests:,} to unknown models) "
        f"for {generated.start} .. {last} in {len(generated.files)} files ({generated.parquet_files} Parquet), "
        f"{generated.bytes_written / 2**20:,.1f} MiB, in {generated.seconds:.1f}s "
        f"under {generated.home.landing}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", required=True, help="home folder to write into (landing/ and secrets/)")
    parser.add_argument("--requests", type=int, required=True, help="total requests to write")
    parser.add_argument("--days", type=int, default=1, help="days the requests spread over (default 1)")
    parser.add_argument("--files-per-day", type=int, default=1, help="landing files per day (default 1)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=DEFAULT_START,
                        help=f"first day, YYYY-MM-DD (default {DEFAULT_START})")
    parser.add_argument("--parquet-share", type=float, default=0.0,
                        help="share of each day's files written as Parquet with Gemini and Bedrock traffic (default 0)")
    parser.add_argument("--no-experiment-tags", action="store_true",
                        help="no request carries tags.experiment (the same requests otherwise), to measure what experiments cost")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        generated = generate(
            args.home, requests=args.requests, days=args.days,
            files_per_day=args.files_per_day, seed=args.seed, start=args.start, parquet_share=args.parquet_share,
            experiment_tags=not args.no_experiment_tags,
        )
    except ValueError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    print(describe(generated))
    return 0


if __name__ == "__main__":
    sys.exit(main())
