"""One day of synthetic gateway requests: codes and token counts drawn from the catalog, then the frame they are written from.

Token counts follow the providers' rules: OpenAI caches whole 128-token steps past 1024, Anthropic reads and
writes the cache from 1024 tokens on, reasoning and predicted-output tokens are part of the output. Every draw
comes from the day's generator in a fixed order, so the same generator always gives the same requests.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import numpy as np
import polars as pl

from pipelines.demo.catalog import (
    ANTHROPIC,
    ANTHROPIC_OLD_SDK,
    CHAT,
    FEATURE_MODEL_WEIGHTS,
    FEATURES,
    MODELS,
    PROVIDER_OF_MODEL,
    PROVIDERS,
    RESPONSES,
    SEGMENT_FEATURES,
    SEGMENTS,
    SUPPORT_ARMS,
    SUPPORT_TAG,
    TAGS,
    UNKNOWN_MODEL_OF_PROVIDER,
    Population,
    model_column,
    profile_column,
)

UNKNOWN_MODEL_SHARE = 0.003
ERROR_SHARE = 0.015
BATCH_SHARE_OF_SUMMARIZE = 0.3
PROMPT_TOKENS_RANGE = (200, 60_000)
OUTPUT_TOKENS_RANGE = (50, 4_000)
_REASONING_OUTPUT_FACTOR = 2.2
_OPENAI_MIN_CACHED = 1024
_OPENAI_CACHE_STEP = 128
_ANTHROPIC_MIN_CACHEABLE = 1024
_OLD_SDK_SHARE = 0.2

_USER_KEY_SPAN = 1_000
_CONVERSATION_MINUTES = 45
_CONVERSATION_SLOTS = 1440 // _CONVERSATION_MINUTES + 1
_MS_PER_DAY = 86_400_000

_SERVICE_TIERS = ("default", "standard", "batch")


def sample_requests(
    rng: np.random.Generator, population: Population, day: datetime.date, n: int
) -> dict[str, np.ndarray]:
    """`n` requests of one day in time order, as one array per column (codes into the catalog, token counts)."""
    ms_of_day = _timestamps_ms(rng, n)
    user = rng.choice(len(population.weight), size=n, p=population.weight)
    feature = _draw_by_group(rng, SEGMENT_FEATURES, population.segment[user])
    model = _draw_by_group(rng, FEATURE_MODEL_WEIGHTS, feature)
    conversation = _conversation_keys(day, user, feature, ms_of_day)
    support = feature == FEATURES.index("support_chat")
    arm = _support_arm(conversation)
    arm_models = np.array([next(i for i, m in enumerate(MODELS) if m.id == model_id) for _, model_id in SUPPORT_ARMS])
    model = np.where(support, arm_models[arm], model)
    tag = np.where(support, SUPPORT_TAG + arm, population.tag[user])
    provider = PROVIDER_OF_MODEL[model]
    unknown = rng.random(n) < UNKNOWN_MODEL_SHARE
    model = np.where(unknown, UNKNOWN_MODEL_OF_PROVIDER[provider], model)
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
        "conversation": conversation,
        "tag": tag,
        **tokens,
    }


def _support_arm(conversation: np.ndarray) -> np.ndarray:
    """0 or 1 for each conversation key: half each, by a hash of the key (so a conversation keeps its arm)."""
    mixed = (conversation.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return ((mixed >> np.uint64(40)) & np.uint64(1)).astype(np.int64)


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


def _tokens(
    rng: np.random.Generator, feature: np.ndarray, model: np.ndarray, provider: np.ndarray
) -> dict[str, np.ndarray]:
    """Total input (cache included), cache reads and writes, output (reasoning included)."""
    n = len(feature)
    reasoning_model = model_column("reasoning", model)
    prompt = _lognormal_tokens(
        rng, profile_column("prompt_median", feature), profile_column("prompt_sigma", feature),
        PROMPT_TOKENS_RANGE,
    )
    output_median = profile_column("output_median", feature) * np.where(reasoning_model, _REASONING_OUTPUT_FACTOR, 1.0)
    output = _lognormal_tokens(rng, output_median, profile_column("output_sigma", feature), OUTPUT_TOKENS_RANGE)
    reasoning = np.where(reasoning_model, np.minimum((output * rng.beta(6, 3, n)).astype(np.int64), output - 20), 0)

    hit = rng.random(n) < profile_column("cache_hit_share", feature)
    mean = profile_column("cached_fraction_mean", feature)
    cacheable = np.where(hit, prompt * rng.beta(mean * 8, (1 - mean) * 8), 0.0).astype(np.int64)
    openai_cached = np.where(
        cacheable >= _OPENAI_MIN_CACHED,
        _OPENAI_MIN_CACHED + (cacheable - _OPENAI_MIN_CACHED) // _OPENAI_CACHE_STEP * _OPENAI_CACHE_STEP,
        0,
    )
    anthropic_read = np.where(cacheable >= _ANTHROPIC_MIN_CACHEABLE, np.minimum(cacheable, prompt - 1), 0)
    is_openai = provider == PROVIDERS.index("openai")
    cached = np.where(is_openai, openai_cached, anthropic_read)

    writes = ~is_openai & (rng.random(n) < profile_column("cache_write_share", feature))
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
    openai_shape = np.where(draw < model_column("responses_api_share", model), RESPONSES, CHAT)
    anthropic_shape = np.where(draw < _OLD_SDK_SHARE, ANTHROPIC_OLD_SDK, ANTHROPIC)
    return np.where(provider == PROVIDERS.index("openai"), openai_shape, anthropic_shape)


def _cache_write_ttls(
    rng: np.random.Generator, feature: np.ndarray, write: np.ndarray, shape: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split cache writes into 5-minute and 1-hour TTLs; old SDKs only write 5-minute entries."""
    n = len(write)
    one_hour = (rng.random(n) < profile_column("one_hour_ttl_share", feature)) & (shape == ANTHROPIC)
    mixed = rng.random(n) < 0.25
    write_1h = np.where(one_hour, np.where(mixed, (write * rng.uniform(0.3, 0.8, n)).astype(np.int64), write), 0)
    return write - write_1h, write_1h


def _latency_ms(
    rng: np.random.Generator, model: np.ndarray, tokens: dict[str, np.ndarray],
    batch: np.ndarray, error: np.ndarray,
) -> np.ndarray:
    n = len(model)
    online = (
        model_column("first_token_ms", model)
        + tokens["output"] * model_column("ms_per_output_token", model)
        + tokens["prompt"] * 0.02
    ) * rng.lognormal(0.0, 0.3, n)
    queued = np.clip(rng.lognormal(np.log(900_000), 0.8, n), 5_000, _MS_PER_DAY)
    failed = np.where(rng.random(n) < 0.4, 60_000 + rng.integers(0, 500, n), online * rng.uniform(0.05, 0.5, n))
    latency = np.where(error, failed, np.where(batch, queued, online))
    return np.maximum(np.rint(latency), 20).astype(np.int64)


def _web_searches(rng: np.random.Generator, feature: np.ndarray, provider: np.ndarray) -> np.ndarray:
    n = len(feature)
    searching = (
        (provider == PROVIDERS.index("anthropic")) & (feature == FEATURES.index("search")) & (rng.random(n) < 0.3)
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


def request_frame(
    columns: dict[str, np.ndarray], population: Population, day: datetime.date, rng: np.random.Generator
) -> pl.DataFrame:
    """The sampled requests as the values their JSON lines carry: ids, labels, timestamps and token counts."""
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
        "provider": _labels(PROVIDERS, columns["provider"]),
        "model": _labels([m.id for m in MODELS], columns["model"]),
        "service_tier": _labels(_SERVICE_TIERS, tier),
        "usage_tier": _labels(("standard", "batch"), columns["batch"].astype(np.int64)),
        "feature": _labels(FEATURES, columns["feature"]),
        "user_id": population.user_ids.gather(user),
        "user_segment": _labels(SEGMENTS, population.segment[user]),
        "customer_id": population.customer_ids.gather(user),
        "conversation_id": "c_" + _scrambled_hex(columns["conversation"], 10),
        "latency_ms": columns["latency_ms"],
        "status": _labels(("ok", "error"), columns["error"].astype(np.int64)),
        "tags": _labels(TAGS, columns["tag"]),
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
