"""What the demo's gateway traffic is drawn from: models, features, segments, token profiles and the users of a seed.

Every table is indexed by position: a request's feature, model, provider and segment are codes into FEATURES,
MODELS, PROVIDERS and SEGMENTS, so a column of codes looks its values up with one gather. The same seed always
gives the same users and customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl

FEATURES = ("support_chat", "search", "code_assist", "summarize", "email_draft", "agent_workflows")
SEGMENTS = ("free", "pro", "team", "enterprise")
PROVIDERS = ("openai", "anthropic")
UNKNOWN_MODELS = {"openai": "gpt-6-preview", "anthropic": "claude-experimental-2026"}


class Model(NamedTuple):
    id: str
    provider: str
    reasoning: bool
    first_token_ms: float
    ms_per_output_token: float
    responses_api_share: float


MODELS = (
    Model("gpt-4o-2024-08-06", "openai", False, 450, 12, 0.22),
    Model("gpt-4o-mini-2024-07-18", "openai", False, 300, 7, 0.22),
    Model("gpt-4.1-2025-04-14", "openai", False, 450, 11, 0.22),
    Model("gpt-4.1-mini-2025-04-14", "openai", False, 300, 7, 0.22),
    Model("o3-2025-04-16", "openai", True, 1500, 14, 0.45),
    Model("o4-mini-2025-04-16", "openai", True, 900, 8, 0.45),
    Model("gpt-5-2025-08-07", "openai", True, 1200, 12, 0.45),
    Model("gpt-5-mini-2025-08-07", "openai", True, 700, 7, 0.45),
    Model("claude-sonnet-4-5-20250929", "anthropic", False, 700, 14, 0.0),
    Model("claude-haiku-4-5-20251001", "anthropic", False, 400, 6, 0.0),
    Model("claude-3-5-haiku-20241022", "anthropic", False, 450, 8, 0.0),
    Model("claude-opus-4-1-20250805", "anthropic", False, 1100, 22, 0.0),
    Model(UNKNOWN_MODELS["openai"], "openai", False, 600, 10, 0.3),
    Model(UNKNOWN_MODELS["anthropic"], "anthropic", False, 600, 10, 0.0),
)
_MODEL_INDEX = {model.id: i for i, model in enumerate(MODELS)}
PROVIDER_OF_MODEL = np.array([PROVIDERS.index(model.provider) for model in MODELS])
UNKNOWN_MODEL_OF_PROVIDER = np.array([_MODEL_INDEX[UNKNOWN_MODELS[provider]] for provider in PROVIDERS])

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


def _feature_model_weights() -> np.ndarray:
    matrix = np.zeros((len(FEATURES), len(MODELS)))
    for f, feature in enumerate(FEATURES):
        for model, weight in _FEATURE_MODELS[feature].items():
            matrix[f, _MODEL_INDEX[model]] = weight
    return matrix


FEATURE_MODEL_WEIGHTS = _feature_model_weights()
"""Row per feature, column per model: the weight of that model in the feature's traffic."""

SEGMENT_FEATURES = np.array([
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


def profile_column(field: str, feature: np.ndarray) -> np.ndarray:
    """One token-profile field per request, from its feature code."""
    return np.array([getattr(_PROFILES[f], field) for f in FEATURES])[feature]


def model_column(field: str, model: np.ndarray) -> np.ndarray:
    """One Model field per request, from its model code."""
    return np.array([getattr(m, field) for m in MODELS])[model]


# usage shapes: the JSON the provider's SDK reports usage in
CHAT, RESPONSES, ANTHROPIC, ANTHROPIC_OLD_SDK = range(4)

_CUSTOMERS_PER_SEGMENT = (24, 20, 10, 6)
_USERS_PER_SEGMENT = (96, 80, 104, 120)
_REQUESTS_PER_USER_BY_SEGMENT = np.array([0.5, 1.0, 1.6, 2.8])
_EXPERIMENT_ENROLLED_SHARE = 0.25
_EXPERIMENTS = ("router_small_first", "prompt_v7", "cache_system_prompt")
_VARIANTS = ("control", "treatment")
TAGS = ("",) + tuple(
    ',"tags":{"environment":"prod","experiment":"%s","variant":"%s"}' % (experiment, variant)
    for experiment in _EXPERIMENTS for variant in _VARIANTS
)
SUPPORT_EXPERIMENT = "cheaper_support_model"
SUPPORT_ARMS = (("control", "gpt-4o-2024-08-06"), ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"))
"""The demo's planted experiment: every support_chat conversation runs on one of these models, half each by a hash
of the conversation, tagged with its arm. True effect: gpt-4o-mini's list prices are 6% of gpt-4o's in every
bucket and the tokens are drawn alike, so the cost per outcome is x0.06; the resolution chance is the same."""
SUPPORT_TRUE_COST_RATIO = 0.06
SUPPORT_TAG = len(TAGS)
TAGS = TAGS + tuple(
    ',"tags":{"environment":"prod","experiment":"%s","variant":"%s"}' % (SUPPORT_EXPERIMENT, arm) for arm, _ in SUPPORT_ARMS
)
"""The `tags` member of a request's line, as JSON text: none, one experiment arm of its user, or (support_chat)
the conversation's arm of SUPPORT_EXPERIMENT (codes SUPPORT_TAG on)."""


@dataclass(frozen=True)
class Population:
    """One row per user: ids, segment code, experiment tag code and share of the day's requests."""

    user_ids: pl.Series
    customer_ids: pl.Series
    segment: np.ndarray
    tag: np.ndarray
    weight: np.ndarray


def draw_population(seed: int) -> Population:
    """Customers per segment with users of uneven size and activity; a quarter of users in one experiment arm."""
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
    tag = np.where(enrolled, rng.integers(1, SUPPORT_TAG, n_users), 0)
    return Population(
        user_ids=pl.Series([f"u_{n:05d}" for n in user_numbers], dtype=pl.String),
        customer_ids=pl.Series([f"cust_{n:03d}" for n in np.concatenate(customer_of_user)], dtype=pl.String),
        segment=segment,
        tag=tag,
        weight=activity / activity.sum(),
    )
