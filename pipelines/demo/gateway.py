"""Synthetic gateway request logs in the `envelope` format, for the demo and for benchmarks."""

from __future__ import annotations

import datetime
import io
import json
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

__all__ = ["GenerationSummary", "generate_gateway_logs", "FEATURES", "SEGMENTS", "UNKNOWN_MODELS"]

FEATURES = ("support_chat", "search", "code_assist", "summarize", "email_draft", "agent_workflows")
SEGMENTS = ("free", "pro", "team", "enterprise")
UNKNOWN_MODELS = {"openai": "gpt-6-preview", "anthropic": "claude-experimental-2026"}

BAD_LINES_PER_FILE = 4
CHUNK_ROWS = 200_000
UNKNOWN_MODEL_SHARE = 0.003
ERROR_SHARE = 0.015
BATCH_SHARE_OF_SUMMARIZE = 0.3
GZIP_LEVEL = 1


class _Model(NamedTuple):
    id: str
    provider: str
    reasoning: bool
    first_token_ms: float
    ms_per_output_token: float
    responses_api_share: float


_MODELS = (
    _Model("gpt-4o-2024-08-06", "openai", False, 450, 12, 0.22),
    _Model("gpt-4o-mini-2024-07-18", "openai", False, 300, 7, 0.22),
    _Model("gpt-4.1-2025-04-14", "openai", False, 450, 11, 0.22),
    _Model("gpt-4.1-mini-2025-04-14", "openai", False, 300, 7, 0.22),
    _Model("o3-2025-04-16", "openai", True, 1500, 14, 0.45),
    _Model("o4-mini-2025-04-16", "openai", True, 900, 8, 0.45),
    _Model("gpt-5-2025-08-07", "openai", True, 1200, 12, 0.45),
    _Model("gpt-5-mini-2025-08-07", "openai", True, 700, 7, 0.45),
    _Model("claude-sonnet-4-5-20250929", "anthropic", False, 700, 14, 0.0),
    _Model("claude-haiku-4-5-20251001", "anthropic", False, 400, 6, 0.0),
    _Model("claude-3-5-haiku-20241022", "anthropic", False, 450, 8, 0.0),
    _Model("claude-opus-4-1-20250805", "anthropic", False, 1100, 22, 0.0),
    _Model(UNKNOWN_MODELS["openai"], "openai", False, 600, 10, 0.3),
    _Model(UNKNOWN_MODELS["anthropic"], "anthropic", False, 600, 10, 0.0),
)
_MODEL_INDEX = {model.id: i for i, model in enumerate(_MODELS)}
_PROVIDERS = ("openai", "anthropic")
_UNKNOWN_MODEL_OF_PROVIDER = np.array([_MODEL_INDEX[UNKNOWN_MODELS[p]] for p in _PROVIDERS])

_FEATURE_MODELS: dict[str, dict[str, float]] = {
    "support_chat": {
        "gpt-4o-mini-2024-07-18": 30, "claude-haiku-4-5-20251001": 25, "gpt-4.1-mini-2025-04-14": 20,
        "gpt-4o-2024-08-06": 10, "claude-sonnet-4-5-20250929": 10, "gpt-5-mini-2025-08-07": 5,
    },
    "search": {
        "gpt-4.1-mini-2025-04-14": 25, "gpt-4o-mini-2024-07-18": 20, "gpt-5-mini-2025-08-07": 20,
        "claude-haiku-4-5-20251001": 15, "claude-3-5-haiku-20241022": 10, "gpt-4.1-2025-04-14": 10,
    },
    "code_assist": {
        "claude-sonnet-4-5-20250929": 35, "gpt-5-2025-08-07": 20, "gpt-4.1-2025-04-14": 15,
        "o3-2025-04-16": 10, "o4-mini-2025-04-16": 10, "claude-opus-4-1-20250805": 10,
    },
    "summarize": {
        "gpt-4o-mini-2024-07-18": 30, "claude-3-5-haiku-20241022": 25, "claude-haiku-4-5-20251001": 20,
        "gpt-4.1-mini-2025-04-14": 15, "gpt-5-mini-2025-08-07": 10,
    },
    "email_draft": {
        "gpt-4o-2024-08-06": 25, "gpt-4o-mini-2024-07-18": 25, "claude-haiku-4-5-20251001": 20,
        "gpt-4.1-mini-2025-04-14": 15, "claude-sonnet-4-5-20250929": 15,
    },
    "agent_workflows": {
        "claude-sonnet-4-5-20250929": 30, "gpt-5-2025-08-07": 20, "o4-mini-2025-04-16": 15,
        "gpt-4.1-2025-04-14": 15, "o3-2025-04-16": 10, "claude-opus-4-1-20250805": 10,
    },
}

_SEGMENT_FEATURES = np.array([
    # support_chat, search, code_assist, summarize, email_draft, agent_workflows
    [0.35, 0.25, 0.05, 0.20, 0.15, 0.00],  # free
    [0.25, 0.20, 0.20, 0.15, 0.15, 0.05],  # pro
    [0.22, 0.18, 0.22, 0.15, 0.10, 0.13],  # team
    [0.20, 0.15, 0.20, 0.15, 0.08, 0.22],  # enterprise
])


class _TokenProfile(NamedTuple):
    prompt_median: float
    prompt_sigma: float
    output_median: float
    output_sigma: float
    cache_hit_share: float
    cached_fraction_mean: float
    cache_write_share: float
    one_hour_ttl_share: float


_PROFILES = {
    "support_chat": _TokenProfile(3500, 0.7, 260, 0.6, 0.85, 0.80, 0.12, 0.15),
    "search": _TokenProfile(6000, 0.8, 380, 0.6, 0.35, 0.50, 0.08, 0.10),
    "code_assist": _TokenProfile(9000, 0.9, 850, 0.7, 0.55, 0.60, 0.15, 0.25),
    "summarize": _TokenProfile(12000, 0.9, 350, 0.5, 0.15, 0.40, 0.05, 0.05),
    "email_draft": _TokenProfile(1400, 0.6, 320, 0.5, 0.35, 0.50, 0.06, 0.05),
    "agent_workflows": _TokenProfile(16000, 0.8, 650, 0.8, 0.90, 0.85, 0.20, 0.60),
}

PROMPT_TOKENS_RANGE = (200, 60_000)
OUTPUT_TOKENS_RANGE = (50, 4_000)
_REASONING_OUTPUT_FACTOR = 2.2
_OPENAI_MIN_CACHED = 1024
_OPENAI_CACHE_STEP = 128
_ANTHROPIC_MIN_CACHEABLE = 1024

_CUSTOMERS_PER_SEGMENT = (24, 20, 10, 6)
_USERS_PER_SEGMENT = (96, 80, 104, 120)
_REQUESTS_PER_USER_BY_SEGMENT = np.array([0.5, 1.0, 1.6, 2.8])
_EXPERIMENT_ENROLLED_SHARE = 0.25
_EXPERIMENTS = ("router_small_first", "prompt_v7", "cache_system_prompt")
_VARIANTS = ("control", "treatment")
_TAGS = ("",) + tuple(
    ',"tags":{"environment":"prod","experiment":"%s","variant":"%s"}' % (experiment, variant)
    for experiment in _EXPERIMENTS for variant in _VARIANTS
)

_USER_KEY_SPAN = 1_000
_CONVERSATION_MINUTES = 45
_CONVERSATION_SLOTS = 1440 // _CONVERSATION_MINUTES + 1
_MS_PER_DAY = 86_400_000

# usage shapes
_CHAT, _RESPONSES, _ANTHROPIC, _ANTHROPIC_OLD_SDK = range(4)
_OLD_SDK_SHARE = 0.2

_SERVICE_TIERS = ("default", "standard", "batch")


@dataclass(frozen=True)
class GenerationSummary:
    """What was written: `requests` counts good lines including duplicates; bad lines are separate."""

    files: list[Path]
    requests: int
    bad_lines: int
    duplicate_lines: int
    unknown_model_requests: int


@dataclass(frozen=True)
class _Population:
    user_ids: pl.Series
    customer_ids: pl.Series
    segment: np.ndarray
    tag: np.ndarray
    weight: np.ndarray


def generate_gateway_logs(
    landing_dir: Path,
    *,
    start: datetime.date,
    days: int,
    requests_per_day: int,
    seed: int = 7,
    bad_lines: bool = True,
    files_per_day: int = 1,
    compress: bool = True,
) -> GenerationSummary:
    """Write `days` days of envelope logs under `landing_dir/gateway/envelope/<date>/`.

    Each day holds `requests_per_day` distinct good requests split over `files_per_day` files in
    time order. With `bad_lines`, every file also gets one truncated JSON line, one negative token
    count, one timestamp without offset and one line without `request_id` (at 1/5, 2/5, 3/5 and
    4/5 of the file), plus one exact duplicate of an earlier request after 9/10 of it.
    The same arguments always give the same bytes.
    """
    if days < 0 or requests_per_day < 0 or files_per_day < 1:
        raise ValueError(
            f"need days >= 0, requests_per_day >= 0 and files_per_day >= 1, "
            f"got {days}, {requests_per_day}, {files_per_day}"
        )
    population = _population(seed)
    files: list[Path] = []
    counts = np.zeros(4, dtype=np.int64)
    with _OrderedWriter() as writer:
        for offset in range(days):
            day = start + datetime.timedelta(days=offset)
            day_files = _day_files(
                landing_dir, day, population, seed=seed, requests=requests_per_day,
                files_per_day=files_per_day, bad_lines=bad_lines, compress=compress,
            )
            for path, chunks, file_counts in day_files:
                sink = _Sink(path, compress)
                for chunk in chunks:
                    writer.submit(sink.write, chunk)
                writer.submit(sink.close)
                files.append(path)
                counts += file_counts
    requests, bad, duplicates, unknown = (int(c) for c in counts)
    return GenerationSummary(files, requests, bad, duplicates, unknown)


def _population(seed: int) -> _Population:
    rng = np.random.default_rng([seed, 0])
    n_customers = sum(_CUSTOMERS_PER_SEGMENT)
    n_users = sum(_USERS_PER_SEGMENT)
    customer_numbers = rng.permutation(n_customers)
    user_numbers = rng.choice(100_000, size=n_users, replace=False)
    customer_of_user, segment_of_user = [], []
    first = 0
    for segment, (n_segment_customers, n_segment_users) in enumerate(
        zip(_CUSTOMERS_PER_SEGMENT, _USERS_PER_SEGMENT)
    ):
        customers = customer_numbers[first:first + n_segment_customers]
        first += n_segment_customers
        sizes = 1 + rng.multinomial(
            n_segment_users - n_segment_customers, rng.dirichlet(np.full(n_segment_customers, 1.5))
        )
        customer_of_user.append(np.repeat(customers, sizes))
        segment_of_user.append(np.full(n_segment_users, segment))
    segment = np.concatenate(segment_of_user)
    activity = rng.lognormal(0.0, 0.8, n_users) * _REQUESTS_PER_USER_BY_SEGMENT[segment]
    enrolled = rng.random(n_users) < _EXPERIMENT_ENROLLED_SHARE
    tag = np.where(enrolled, rng.integers(1, len(_TAGS), n_users), 0)
    return _Population(
        user_ids=pl.Series([f"u_{n:05d}" for n in user_numbers], dtype=pl.String),
        customer_ids=pl.Series([f"cust_{n:03d}" for n in np.concatenate(customer_of_user)], dtype=pl.String),
        segment=segment,
        tag=tag,
        weight=activity / activity.sum(),
    )


def _day_files(
    landing_dir: Path, day: datetime.date, population: _Population, *, seed: int, requests: int,
    files_per_day: int, bad_lines: bool, compress: bool,
) -> Iterator[tuple[Path, Iterator[bytes], np.ndarray]]:
    """Each file of one day: its path, its uncompressed bytes in chunks, and its summary counts."""
    rng = np.random.default_rng([seed, 1, day.toordinal()])
    per_file = _split_evenly(requests, files_per_day)
    if bad_lines:
        per_file = per_file + BAD_LINES_PER_FILE
    columns = _sample_requests(rng, population, day, int(per_file.sum()))
    frame = _frame(columns, population, day, rng)
    folder = landing_dir / "gateway" / "envelope" / f"{day:%Y-%m-%d}"
    suffix = ".jsonl.gz" if compress else ".jsonl"
    first = 0
    for i, size in enumerate(per_file.tolist()):
        unknown = columns["unknown"][first:first + size]
        plan = _spoil_plan(unknown) if bad_lines else None
        counts = _file_counts(unknown, plan)
        chunks = _file_chunks(frame.slice(first, size), plan)
        first += size
        yield folder / f"requests-{i:03d}{suffix}", chunks, counts


def _split_evenly(total: int, parts: int) -> np.ndarray:
    sizes = np.full(parts, total // parts, dtype=np.int64)
    sizes[: total % parts] += 1
    return sizes


def _sample_requests(
    rng: np.random.Generator, population: _Population, day: datetime.date, n: int
) -> dict[str, np.ndarray]:
    ms_of_day = _timestamps_ms(rng, n)
    user = rng.choice(len(population.weight), size=n, p=population.weight)
    feature = _draw_by_group(rng, _SEGMENT_FEATURES, population.segment[user])
    model = _draw_by_group(rng, _feature_model_matrix(), feature)
    provider = np.array([_PROVIDERS.index(m.provider) for m in _MODELS])[model]
    unknown = rng.random(n) < UNKNOWN_MODEL_SHARE
    model = np.where(unknown, _UNKNOWN_MODEL_OF_PROVIDER[provider], model)
    batch = (feature == FEATURES.index("summarize")) & (rng.random(n) < BATCH_SHARE_OF_SUMMARIZE)
    tokens = _tokens(rng, feature, model, provider)
    shape = _usage_shape(rng, model, provider)
    tokens["write_5m"], tokens["write_1h"] = _cache_write_ttls(rng, feature, tokens.pop("write"), shape)
    error = rng.random(n) < ERROR_SHARE
    return {
        "ms_of_day": ms_of_day,
        "user": user,
        "feature": feature,
        "model": model,
        "provider": provider,
        "unknown": unknown,
        "batch": batch,
        "shape": shape,
        "error": error,
        "latency_ms": _latency_ms(rng, model, tokens, batch, error),
        "web_search": _web_searches(rng, feature, provider),
        "conversation": _conversation_keys(day, user, feature, ms_of_day),
        **tokens,
    }


def _timestamps_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Milliseconds into the UTC day, sorted, with a European and a larger American peak."""
    hour = np.arange(1440) / 60.0
    europe = np.exp(-(((hour - 10.0 + 12) % 24 - 12) / 3.0) ** 2)
    america = np.exp(-(((hour - 17.5 + 12) % 24 - 12) / 3.5) ** 2)
    weight = 0.15 + 0.7 * europe + 1.0 * america
    minute = rng.choice(1440, size=n, p=weight / weight.sum())
    return np.sort(minute * 60_000 + rng.integers(0, 60_000, n))


def _draw_by_group(rng: np.random.Generator, probabilities: np.ndarray, group: np.ndarray) -> np.ndarray:
    """For each row, draw a column index from the probability row of its group."""
    out = np.empty(len(group), dtype=np.int64)
    for g, row in enumerate(probabilities):
        members = np.flatnonzero(group == g)
        out[members] = rng.choice(len(row), size=len(members), p=row / row.sum())
    return out


def _feature_model_matrix() -> np.ndarray:
    matrix = np.zeros((len(FEATURES), len(_MODELS)))
    for f, feature in enumerate(FEATURES):
        for model, weight in _FEATURE_MODELS[feature].items():
            matrix[f, _MODEL_INDEX[model]] = weight
    return matrix


def _profile_column(field: str, feature: np.ndarray) -> np.ndarray:
    return np.array([getattr(_PROFILES[f], field) for f in FEATURES])[feature]


def _model_column(field: str, model: np.ndarray) -> np.ndarray:
    return np.array([getattr(m, field) for m in _MODELS])[model]


def _tokens(
    rng: np.random.Generator, feature: np.ndarray, model: np.ndarray, provider: np.ndarray
) -> dict[str, np.ndarray]:
    """Total input (cache included), cache reads and writes, output (reasoning included)."""
    n = len(feature)
    reasoning_model = _model_column("reasoning", model)
    prompt = _lognormal_tokens(
        rng, _profile_column("prompt_median", feature), _profile_column("prompt_sigma", feature),
        PROMPT_TOKENS_RANGE,
    )
    output_median = _profile_column("output_median", feature) * np.where(reasoning_model, _REASONING_OUTPUT_FACTOR, 1.0)
    output = _lognormal_tokens(rng, output_median, _profile_column("output_sigma", feature), OUTPUT_TOKENS_RANGE)
    reasoning = np.where(reasoning_model, np.minimum((output * rng.beta(6, 3, n)).astype(np.int64), output - 20), 0)

    hit = rng.random(n) < _profile_column("cache_hit_share", feature)
    mean = _profile_column("cached_fraction_mean", feature)
    cacheable = np.where(hit, prompt * rng.beta(mean * 8, (1 - mean) * 8), 0.0).astype(np.int64)
    openai_cached = np.where(
        cacheable >= _OPENAI_MIN_CACHED,
        _OPENAI_MIN_CACHED + (cacheable - _OPENAI_MIN_CACHED) // _OPENAI_CACHE_STEP * _OPENAI_CACHE_STEP,
        0,
    )
    anthropic_read = np.where(cacheable >= _ANTHROPIC_MIN_CACHEABLE, np.minimum(cacheable, prompt - 1), 0)
    is_openai = provider == _PROVIDERS.index("openai")
    cached = np.where(is_openai, openai_cached, anthropic_read)

    writes = ~is_openai & (rng.random(n) < _profile_column("cache_write_share", feature))
    write = ((prompt - cached) * rng.uniform(0.5, 0.95, n)).astype(np.int64)
    write = np.where(writes & (write >= _ANTHROPIC_MIN_CACHEABLE), write, 0)

    accepted, rejected = _predicted_output_tokens(rng, feature, reasoning_model, is_openai, output)
    return {
        "prompt": prompt, "cached": cached, "write": write, "output": output,
        "reasoning": reasoning, "accepted": accepted, "rejected": rejected,
    }


def _lognormal_tokens(
    rng: np.random.Generator, median: np.ndarray, sigma: np.ndarray, bounds: tuple[int, int]
) -> np.ndarray:
    return np.clip(np.rint(median * rng.lognormal(0.0, sigma)), *bounds).astype(np.int64)


def _predicted_output_tokens(
    rng: np.random.Generator, feature: np.ndarray, reasoning_model: np.ndarray,
    is_openai: np.ndarray, output: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted Outputs: some code_assist edits on non-reasoning OpenAI models."""
    n = len(feature)
    predicted = (
        is_openai & ~reasoning_model & (feature == FEATURES.index("code_assist")) & (rng.random(n) < 0.15)
    )
    accepted = np.where(predicted, (output * rng.uniform(0.2, 0.6, n)).astype(np.int64), 0)
    rejected = np.where(predicted, (output * rng.uniform(0.0, 0.15, n)).astype(np.int64), 0)
    return accepted, rejected


def _usage_shape(rng: np.random.Generator, model: np.ndarray, provider: np.ndarray) -> np.ndarray:
    draw = rng.random(len(model))
    openai_shape = np.where(draw < _model_column("responses_api_share", model), _RESPONSES, _CHAT)
    anthropic_shape = np.where(draw < _OLD_SDK_SHARE, _ANTHROPIC_OLD_SDK, _ANTHROPIC)
    return np.where(provider == _PROVIDERS.index("openai"), openai_shape, anthropic_shape)


def _cache_write_ttls(
    rng: np.random.Generator, feature: np.ndarray, write: np.ndarray, shape: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split cache writes into 5-minute and 1-hour TTLs; old SDKs only write 5-minute entries."""
    n = len(write)
    one_hour = (rng.random(n) < _profile_column("one_hour_ttl_share", feature)) & (shape == _ANTHROPIC)
    mixed = rng.random(n) < 0.25
    write_1h = np.where(one_hour, np.where(mixed, (write * rng.uniform(0.3, 0.8, n)).astype(np.int64), write), 0)
    return write - write_1h, write_1h


def _latency_ms(
    rng: np.random.Generator, model: np.ndarray, tokens: dict[str, np.ndarray],
    batch: np.ndarray, error: np.ndarray,
) -> np.ndarray:
    n = len(model)
    online = (
        _model_column("first_token_ms", model)
        + tokens["output"] * _model_column("ms_per_output_token", model)
        + tokens["prompt"] * 0.02
    ) * rng.lognormal(0.0, 0.3, n)
    queued = np.clip(rng.lognormal(np.log(900_000), 0.8, n), 5_000, _MS_PER_DAY)
    failed = np.where(rng.random(n) < 0.4, 60_000 + rng.integers(0, 500, n), online * rng.uniform(0.05, 0.5, n))
    latency = np.where(error, failed, np.where(batch, queued, online))
    return np.maximum(np.rint(latency), 20).astype(np.int64)


def _web_searches(rng: np.random.Generator, feature: np.ndarray, provider: np.ndarray) -> np.ndarray:
    n = len(feature)
    searching = (
        (provider == _PROVIDERS.index("anthropic")) & (feature == FEATURES.index("search")) & (rng.random(n) < 0.3)
    )
    return np.where(searching, rng.integers(1, 4, n), 0)


def _conversation_keys(
    day: datetime.date, user: np.ndarray, feature: np.ndarray, ms_of_day: np.ndarray
) -> np.ndarray:
    """One conversation per user, feature and 45-minute window; unique across days."""
    slot = ms_of_day // (_CONVERSATION_MINUTES * 60_000)
    user_day = day.toordinal() * _USER_KEY_SPAN + user
    return (user_day * len(FEATURES) + feature) * _CONVERSATION_SLOTS + slot


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _scrambled_hex(values: np.ndarray, width: int, salt: int = 0) -> pl.Series:
    """Hex of a bijection on `4 * width` bits: distinct inputs stay distinct, but look random."""
    bits = np.uint64(4 * width)
    mask = np.uint64((1 << (4 * width)) - 1)
    half = bits // np.uint64(2)
    mixed = (values.astype(np.uint64) + np.uint64(salt)) & mask
    for multiplier in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9):
        mixed = (mixed * np.uint64(multiplier)) & mask
        mixed ^= mixed >> half
    shifts = np.arange(4 * (width - 1), -1, -4, dtype=np.uint64)
    nibbles = (mixed[:, None] >> shifts) & np.uint64(15)
    return pl.Series(np.ascontiguousarray(_HEX_DIGITS[nibbles]).view(f"S{width}").ravel()).cast(pl.String)


def _labels(values: Sequence[str], codes: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.String).gather(codes)


def _frame(
    columns: dict[str, np.ndarray], population: _Population, day: datetime.date, rng: np.random.Generator
) -> pl.DataFrame:
    n = len(columns["user"])
    user = columns["user"]
    tier = np.where(columns["batch"], 2, columns["provider"])
    day_start_ms = int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc).timestamp() * 1000)
    request_salt = int(rng.integers(0, 1 << 32))
    return pl.DataFrame({
        "row": np.arange(n),
        "shape": columns["shape"],
        "request_id": f"req_{day:%Y%m%d}_" + _scrambled_hex(np.arange(n), 8, request_salt),
        "timestamp": pl.from_epoch(pl.Series(day_start_ms + columns["ms_of_day"]), time_unit="ms")
        .dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
        "provider": _labels(_PROVIDERS, columns["provider"]),
        "model": _labels([m.id for m in _MODELS], columns["model"]),
        "service_tier": _labels(_SERVICE_TIERS, tier),
        "usage_tier": _labels(("standard", "batch"), columns["batch"].astype(np.int64)),
        "feature": _labels(FEATURES, columns["feature"]),
        "user_id": population.user_ids.gather(user),
        "user_segment": _labels(SEGMENTS, population.segment[user]),
        "customer_id": population.customer_ids.gather(user),
        "conversation_id": "c_" + _scrambled_hex(columns["conversation"], 10),
        "latency_ms": columns["latency_ms"],
        "status": _labels(("ok", "error"), columns["error"].astype(np.int64)),
        "tags": _labels(_TAGS, population.tag[user]),
        "prompt": columns["prompt"],
        "uncached": columns["prompt"] - columns["cached"] - columns["write_5m"] - columns["write_1h"],
        "cached": columns["cached"],
        "write": columns["write_5m"] + columns["write_1h"],
        "write_5m": columns["write_5m"],
        "write_1h": columns["write_1h"],
        "output": columns["output"],
        "total": columns["prompt"] + columns["output"],
        "reasoning": columns["reasoning"],
        "accepted": columns["accepted"],
        "rejected": columns["rejected"],
        "web_search": columns["web_search"],
    })


def _json(template: str, *values: str) -> list[pl.Expr]:
    """Pieces of a JSON text: literal parts of `template` with each `{}` filled by a column."""
    parts = template.split("{}")
    if len(parts) != len(values) + 1:
        raise ValueError(f"template has {len(parts) - 1} slots for {len(values)} values: {template}")
    pieces = [pl.lit(parts[0])]
    for value, literal in zip(values, parts[1:]):
        pieces.append(pl.col(value).cast(pl.String))
        if literal:
            pieces.append(pl.lit(literal))
    return pieces


_ENVELOPE = _json(
    '{"request_id":"{}","timestamp":"{}","provider":"{}","model":"{}","service_tier":"{}",'
    '"feature":"{}","user_id":"{}","user_segment":"{}","customer_id":"{}","conversation_id":"{}",'
    '"latency_ms":{},"status":"{}","usage":',
    "request_id", "timestamp", "provider", "model", "service_tier", "feature", "user_id",
    "user_segment", "customer_id", "conversation_id", "latency_ms", "status",
)

_USAGE = {
    _CHAT: _json(
        '{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{},'
        '"prompt_tokens_details":{"cached_tokens":{},"audio_tokens":0},'
        '"completion_tokens_details":{"reasoning_tokens":{},"audio_tokens":0,'
        '"accepted_prediction_tokens":{},"rejected_prediction_tokens":{}}}',
        "prompt", "output", "total", "cached", "reasoning", "accepted", "rejected",
    ),
    _RESPONSES: _json(
        '{"input_tokens":{},"input_tokens_details":{"cached_tokens":{}},"output_tokens":{},'
        '"output_tokens_details":{"reasoning_tokens":{}},"total_tokens":{}}',
        "prompt", "cached", "output", "reasoning", "total",
    ),
    _ANTHROPIC: _json(
        '{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},'
        '"cache_creation":{"ephemeral_5m_input_tokens":{},"ephemeral_1h_input_tokens":{}},'
        '"output_tokens":{},"server_tool_use":{"web_search_requests":{},"web_fetch_requests":0},'
        '"service_tier":"{}"}',
        "uncached", "write", "cached", "write_5m", "write_1h", "output", "web_search", "usage_tier",
    ),
    _ANTHROPIC_OLD_SDK: _json(
        '{"input_tokens":{},"cache_creation_input_tokens":{},"cache_read_input_tokens":{},'
        '"output_tokens":{},"server_tool_use":{"web_search_requests":{},"web_fetch_requests":0},'
        '"service_tier":"{}"}',
        "uncached", "write", "cached", "output", "web_search", "usage_tier",
    ),
}


def _render_lines(frame: pl.DataFrame) -> pl.Series:
    """One JSON text per row, in row order."""
    rendered = [
        frame.lazy()
        .filter(pl.col("shape") == shape)
        .select("row", pl.concat_str([*_ENVELOPE, *usage, pl.col("tags"), pl.lit("}")]).alias("line"))
        for shape, usage in _USAGE.items()
    ]
    return pl.concat(rendered).sort("row").collect()["line"]


class _SpoilPlan(NamedTuple):
    """Where a file's bad lines go, which good line is repeated, and after which line."""

    bad_at: tuple[int, ...]
    duplicate_of: int | None
    duplicate_after: int | None


def _spoil_plan(unknown: np.ndarray) -> _SpoilPlan:
    """Bad lines at 1/5, 2/5, 3/5 and 4/5 of the file; the first good known-model line repeated after 9/10."""
    size = len(unknown)
    bad_at = tuple((k + 1) * size // 5 for k in range(BAD_LINES_PER_FILE))
    good = np.ones(size, dtype=bool)
    good[list(bad_at)] = False
    candidates = np.flatnonzero(good & ~unknown)
    if not len(candidates):
        return _SpoilPlan(bad_at, None, None)
    source = int(candidates[0])
    return _SpoilPlan(bad_at, source, max(9 * size // 10, source))


def _file_counts(unknown: np.ndarray, plan: _SpoilPlan | None) -> np.ndarray:
    """(good lines including duplicates, bad lines, duplicate lines, unknown-model requests)."""
    good = np.ones(len(unknown), dtype=bool)
    duplicates = 0
    if plan is not None:
        good[list(plan.bad_at)] = False
        duplicates = int(plan.duplicate_of is not None)
    bad = len(unknown) - int(good.sum())
    return np.array([int(good.sum()) + duplicates, bad, duplicates, int((good & unknown).sum())])


def _file_chunks(frame: pl.DataFrame, plan: _SpoilPlan | None) -> Iterator[bytes]:
    duplicate: str | None = None
    for first in range(0, frame.height, CHUNK_ROWS):
        lines = _render_lines(frame.slice(first, CHUNK_ROWS))
        if plan is not None:
            lines, duplicate = _spoil(lines, first, plan, duplicate)
        yield _ndjson_bytes(lines)


def _spoil(
    lines: pl.Series, first: int, plan: _SpoilPlan, duplicate: str | None
) -> tuple[pl.Series, str | None]:
    """Apply the part of `plan` that falls in `lines`, which start at line `first` of the file."""
    inside = range(first, first + len(lines))
    for spoiler, at in zip(_SPOILERS, plan.bad_at):
        if at in inside:
            lines = lines.scatter(at - first, spoiler(lines[at - first]))
    if plan.duplicate_of in inside:
        duplicate = lines[plan.duplicate_of - first]
    if plan.duplicate_after in inside and duplicate is not None:
        cut = plan.duplicate_after - first + 1
        lines = pl.concat([lines.slice(0, cut), pl.Series([duplicate], dtype=pl.String), lines.slice(cut)])
    return lines, duplicate


def _truncated(line: str) -> str:
    return line[: len(line) // 2]


def _negative_tokens(line: str) -> str:
    record = json.loads(line)
    usage = record["usage"]
    key = "completion_tokens" if "completion_tokens" in usage else "output_tokens"
    usage[key] = -usage[key]
    return _dumps(record)


def _timestamp_without_offset(line: str) -> str:
    record = json.loads(line)
    record["timestamp"] = record["timestamp"][:19]
    return _dumps(record)


def _without_request_id(line: str) -> str:
    record = json.loads(line)
    del record["request_id"]
    return _dumps(record)


def _dumps(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"))


_SPOILERS = (_truncated, _negative_tokens, _timestamp_without_offset, _without_request_id)


def _ndjson_bytes(lines: pl.Series) -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({"line": lines}).write_csv(buffer, include_header=False, quote_style="never")
    return buffer.getvalue()


class _Sink:
    """One landing file, written under a hidden name and renamed into place when complete."""

    def __init__(self, path: Path, compress: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._partial = path.with_name(f".{path.name}.partial")
        self._file = self._partial.open("wb")
        self._gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31) if compress else None

    def write(self, data: bytes) -> None:
        self._file.write(self._gzip.compress(data) if self._gzip else data)

    def close(self) -> None:
        if self._gzip:
            self._file.write(self._gzip.flush())
        self._file.close()
        self._partial.replace(self._path)


class _OrderedWriter:
    """Runs writes in submission order on one background thread, with a short queue."""

    def __init__(self, depth: int = 2) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1)
        self._pending: deque[Future[None]] = deque()
        self._depth = depth

    def submit(self, write: Callable[..., None], *args: object) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._executor.submit(write, *args))

    def __enter__(self) -> _OrderedWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._executor.shutdown(cancel_futures=True)
