"""Experiments: each variant against its control, with intervals that treat the unit as independent, and verdicts.

The point estimates (units, requests, cost, outcomes, rates, latency quantiles) are exact SQL in
`sql/marts/experiment_results.sql`. This module adds what SQL cannot say: how sure we are. For every experiment x
feature, each variant's units (users, conversations, customers or requests; `core.experiment_units`) are resampled
with replacement, the control's and the variant's independently (a cluster bootstrap: a unit's requests move
together, so correlated requests do not pass for independent evidence). Up to MAX_BUCKETS units per variant each
unit is one resampled item; beyond that the units are hashed into MAX_BUCKETS buckets, which are independent because
units are (the usual way to bootstrap at scale). p95 latency is resampled from a per-bucket histogram whose bins are
2% apart, so its interval is exact to about 2%.

Three metrics are compared: cost per outcome (the question), the outcome rate and p95 latency (guardrails). Their
intervals are 95% simultaneous intervals: each is the 1 - 0.05/3 percentile interval of REPLICATES replicates
(Bonferroni over the three), so the chance that any of the three excludes a true zero is at most 5%. A metric's
verdict is `better` or `worse` when its interval for the difference (variant - control) excludes zero, else
`no_difference`; `too_few_units` when either arm has fewer than `min_units` units (or no outcome, for cost per
outcome). The row's `verdict` answers "did the variant cut (or raise) the cost per outcome": the cost-per-outcome
verdict, except that `better` becomes `no_difference` when a guardrail is significantly worse (the guardrail's own
verdict says so). The seed is derived from the experiment and feature names, so a re-run gives the same intervals.

Sample-ratio mismatch: each experiment's units per variant (across features) are tested against the design
(`<home>/experiments.yaml` `split:`, else an equal split) with a chi-square test; p below SRM_P_VALUE (0.001, the
threshold commonly used for this check) is flagged. Money in the intervals is DOUBLE: these are statistics.

```yaml
# <home>/experiments.yaml (optional)
experiments:
  cheaper_support_model:
    control: gpt-4o            # else the variant the feed marks is_control, else one named `control`, else the first by name
    unit: conversation_id      # what was randomized, for variants from tags: user_id, conversation_id, customer_id or
                               # request_id (default: the user, unless a user ran under two variants; then the
                               # conversation); a request without that id falls back to user, conversation, request
    split: {gpt-4o: 50, gpt-4o-mini: 50}
    min_units: 30
```
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.settings import ConfigError, as_number, read_yaml, shown
from pipelines.storage.database import sql_text

DESIGN_FILE = "experiments.yaml"
METRICS = ("cost_per_outcome", "outcome_rate", "p95_latency")
LOWER_IS_BETTER = {"cost_per_outcome": True, "outcome_rate": False, "p95_latency": True}
FAMILY_ALPHA = 0.05
REPLICATES = 2000
MAX_BUCKETS = 1000
BIN_RATIO = 1.02
DEFAULT_MIN_UNITS = 30
SRM_P_VALUE = 0.001
UNITS = ("user_id", "conversation_id", "customer_id", "request_id")
VERDICTS = ("better", "worse", "no_difference", "too_few_units")
METHOD = (
    f"cluster bootstrap over units ({REPLICATES} replicates, arms resampled independently, seed from the experiment "
    f"and feature), percentile intervals at {1 - FAMILY_ALPHA / len(METRICS):.2%} each: 95% simultaneous over "
    f"{len(METRICS)} metrics (Bonferroni)"
)

STATS_SCHEMA = pa.schema(
    [
        ("experiment", pa.string()),
        ("feature", pa.string()),
        ("variant", pa.string()),
        ("is_control", pa.bool_()),
        ("control_variant", pa.string()),
        *[
            (f"{metric}_{part}", pa.float64())
            for metric in METRICS
            for part in ("diff_low", "diff_high", "ratio_low", "ratio_high")
        ],
        *[(f"{metric}_verdict", pa.string()) for metric in METRICS],
        ("verdict", pa.string()),
        ("min_units", pa.int64()),
        ("expected_share", pa.float64()),
        ("observed_share", pa.float64()),
        ("srm_p_value", pa.float64()),
        ("sample_ratio_mismatch", pa.bool_()),
        ("interval_method", pa.string()),
    ]
)


class ExperimentDesignError(ConfigError):
    """experiments.yaml is not valid; the message names the file, the experiment and the key."""


@dataclass(frozen=True)
class Design:
    """What experiments.yaml says about one experiment."""

    control: str | None = None
    split: dict[str, Decimal] = field(default_factory=dict)
    min_units: int = DEFAULT_MIN_UNITS
    unit: str | None = None


DESIGNS_SCHEMA = pa.schema([("experiment", pa.string()), ("unit", pa.string())])
"""What core.experiment_units reads of experiments.yaml (as experiment_designs)."""


def designs_table(designs: dict[str, Design]) -> pa.Table:
    return pa.Table.from_pylist([{"experiment": name, "unit": d.unit} for name, d in sorted(designs.items())], schema=DESIGNS_SCHEMA)


def load_designs(home_root: Path) -> dict[str, Design]:
    """The experiments of `<home>/experiments.yaml` (none when there is no file)."""
    path = Path(home_root) / DESIGN_FILE
    if not os.path.lexists(path):
        return {}
    document = read_yaml(path, ExperimentDesignError)
    if document is None:
        return {}
    if not isinstance(document, dict) or set(document) - {"experiments"}:
        raise ExperimentDesignError(f"{path.name}: expected a mapping with one key, experiments")
    experiments = document.get("experiments") or {}
    if not isinstance(experiments, dict):
        raise ExperimentDesignError(f"{path.name}: 'experiments' must map each experiment name to its design, found {shown(experiments)}")
    return {str(name): _design(path.name, str(name), body) for name, body in experiments.items()}


def _design(file: str, name: str, body: object) -> Design:
    where = f"{file}: experiments.{shown(name)}"
    if body is None:
        return Design()
    if not isinstance(body, dict):
        raise ExperimentDesignError(f"{where} must be a mapping (control, split, min_units, unit), found {shown(body)}")
    unknown = [k for k in body if k not in ("control", "split", "min_units", "unit")]
    if unknown:
        raise ExperimentDesignError(f"{where}: unknown key {shown(unknown[0])} (known: control, split, min_units, unit)")
    unit = body.get("unit")
    if unit is not None and unit not in UNITS:
        raise ExperimentDesignError(f"{where}.unit must be one of {', '.join(UNITS)}, found {shown(unit)}")
    control = body.get("control")
    if control is not None and (not isinstance(control, str) or not control.strip()):
        raise ExperimentDesignError(f"{where}.control must be a variant name, found {shown(control)}")
    split = body.get("split") or {}
    if not isinstance(split, dict):
        raise ExperimentDesignError(f"{where}.split must map each variant to its share, found {shown(split)}")
    shares = {}
    for variant, share in split.items():
        number = as_number(share)
        if number is None or number <= 0:
            raise ExperimentDesignError(f"{where}.split.{shown(variant)} must be a positive number, found {shown(share)}")
        shares[str(variant)] = number
    min_units = body.get("min_units", DEFAULT_MIN_UNITS)
    if isinstance(min_units, bool) or not isinstance(min_units, int) or not 2 <= min_units <= 10**9:
        raise ExperimentDesignError(f"{where}.min_units must be a whole number from 2 on, found {shown(min_units)}")
    return Design(control=control.strip() if control else None, split=shares, min_units=min_units, unit=unit)


# -- statistics -----------------------------------------------------------------------------------


@dataclass
class Arm:
    """One variant of one experiment x feature: its resampling buckets and their latency histogram."""

    units: np.ndarray
    outcomes: np.ndarray
    cost: np.ndarray
    histogram: np.ndarray
    """buckets x bins request counts, bins `first_bin` on."""

    @property
    def unit_count(self) -> int:
        return int(self.units.sum())


def _replicates(arm: Arm, rng: np.random.Generator, first_bin: int) -> dict[str, np.ndarray]:
    """Each metric's value in every bootstrap replicate of `arm` (nan where undefined)."""
    k = len(arm.units)
    counts = rng.multinomial(k, np.full(k, 1.0 / k), size=REPLICATES).astype(np.float64)
    units, outcomes, cost = counts @ arm.units, counts @ arm.outcomes, counts @ arm.cost
    with np.errstate(divide="ignore", invalid="ignore"):
        values = {
            "cost_per_outcome": np.where(outcomes > 0, cost / outcomes, np.nan),
            "outcome_rate": np.where(units > 0, outcomes / units, np.nan),
        }
    if arm.histogram.shape[1]:
        # Only the bins from the arm's own 80th percentile on are resampled one by one (those below as one sum): a
        # replicate's p95 lies above it unless the arm is tiny, and such a replicate counts as undefined.
        pooled = np.cumsum(arm.histogram.sum(axis=0))
        cut = int(np.argmax(pooled >= 0.8 * pooled[-1])) if pooled[-1] > 0 else 0
        weights = counts.astype(np.float32)
        below = weights @ arm.histogram[:, :cut].sum(axis=1)
        resampled = np.cumsum(weights @ arm.histogram[:, cut:], axis=1) + below[:, None]
        total = resampled[:, -1]
        index = np.argmax(resampled >= 0.95 * total[:, None], axis=1)
        p95 = np.exp((first_bin + cut + index + 0.5) * np.log(BIN_RATIO)) - 1
        values["p95_latency"] = np.where((total > 0) & (below < 0.95 * total), p95, np.nan)
    else:
        values["p95_latency"] = np.full(REPLICATES, np.nan)
    return values


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if len(finite) < REPLICATES * 0.9:  # an arm whose replicates are mostly undefined says nothing
        return None, None
    tail = FAMILY_ALPHA / len(METRICS) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _verdict(metric: str, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "too_few_units"
    if low > 0 or high < 0:
        lower = high < 0
        return "better" if lower == LOWER_IS_BETTER[metric] else "worse"
    return "no_difference"


def _seed(*names: str) -> int:
    return zlib.crc32("\x1f".join(names).encode())


def compare(control: Arm, variant: Arm, min_units: int, seed: int, first_bin: int) -> dict[str, object]:
    """Intervals, ratios and verdicts of `variant` against `control` (the STATS_SCHEMA columns they fill)."""
    row: dict[str, object] = {}
    small = control.unit_count < min_units or variant.unit_count < min_units
    if not small:
        rng = np.random.default_rng(seed)
        base, other = _replicates(control, rng, first_bin), _replicates(variant, rng, first_bin)
    for metric in METRICS:
        with np.errstate(divide="ignore", invalid="ignore"):
            low, high = (None, None) if small else _interval(other[metric] - base[metric])
            ratio_low, ratio_high = (None, None) if small else _interval(other[metric] / base[metric])
        row |= {f"{metric}_diff_low": low, f"{metric}_diff_high": high, f"{metric}_ratio_low": ratio_low, f"{metric}_ratio_high": ratio_high}
        row[f"{metric}_verdict"] = _verdict(metric, low, high)
    if small:
        row["verdict"] = "too_few_units"
    else:
        row["verdict"] = row["cost_per_outcome_verdict"]
        if row["verdict"] == "better" and "worse" in (row["outcome_rate_verdict"], row["p95_latency_verdict"]):
            row["verdict"] = "no_difference"
    return row


def sample_ratio(units: dict[str, int], design: Design) -> tuple[dict[str, float], float | None]:
    """(expected share per variant, the chi-square p-value of the observed split; None with one variant).

    Against a design (`split:` naming every variant seen), every designed variant counts, those without a unit
    too: a variant that lost all its units is the strongest mismatch, not one variant fewer to test."""
    if design.split and set(design.split) >= set(units):
        names = sorted(design.split)
        weights = {name: float(design.split[name]) for name in names}
    else:
        names = sorted(units)
        weights = dict.fromkeys(names, 1.0)
    total_weight = sum(weights.values())
    expected = {name: weights[name] / total_weight for name in names}
    total = sum(units.values())
    if len(names) < 2 or total == 0:
        return expected, None
    if any(units.get(n, 0) > 0 and expected[n] == 0 for n in names):
        return expected, 0.0  # units in a variant designed to get none
    tested = [n for n in names if expected[n] > 0]
    statistic = sum((units.get(n, 0) - total * expected[n]) ** 2 / (total * expected[n]) for n in tested)
    names = tested
    from scipy.stats import chi2  # here: importing scipy.stats costs every process that loads the definitions ~1 s

    return expected, float(chi2.sf(statistic, len(names) - 1))


def _control(variants: list[str], flagged: set[str], design: Design) -> str:
    """The control: experiments.yaml's, else the one the feed marks is_control, else `control`, else the first."""
    if design.control in variants:
        return design.control
    marked = sorted(v for v in variants if v in flagged)
    if marked:
        return marked[0]
    named = [v for v in variants if v.lower() in ("control", "baseline")]
    return named[0] if named else sorted(variants)[0]


def experiment_stats(con: duckdb.DuckDBPyConnection, designs: dict[str, Design]) -> pa.Table:
    """STATS_SCHEMA rows, one per experiment x feature x variant of core.experiment_units."""
    params = {"max_buckets": MAX_BUCKETS}
    buckets = con.sql(sql_text("queries/experiment_buckets"), params=params).to_arrow_table()
    bins = con.sql(sql_text("queries/experiment_latency_bins"), params=params | {"bin_ratio": BIN_RATIO}).to_arrow_table()
    variants_seen = con.execute(sql_text("queries/experiment_variants")).fetchall()
    flagged = {(experiment, variant) for experiment, variant, _, marked in variants_seen if marked}
    units = {(experiment, variant): count for experiment, variant, count, _ in variants_seen}
    bucket_slices, bin_slices = _slices(buckets), _slices(bins)
    groups: dict[tuple[str, str], list[str]] = {}
    for experiment, feature, variant in bucket_slices:
        groups.setdefault((experiment, feature), []).append(variant)

    out = []
    for (experiment, feature), variants in sorted(groups.items()):
        design = designs.get(experiment, Design())
        variants = sorted(variants)
        control = _control(variants, {v for e, v in flagged if e == experiment}, design)
        experiment_units = {v: n for (e, v), n in units.items() if e == experiment}
        expected, p_value = sample_ratio(experiment_units, design)
        total_units = sum(experiment_units.values())
        spans = [bin_slices[(experiment, feature, v)] for v in variants if (experiment, feature, v) in bin_slices]
        feature_bins = [bins["bin"].slice(start, stop - start).to_numpy() for start, stop in spans]
        first_bin = int(min((b.min() for b in feature_bins), default=0))
        width = int(max((b.max() for b in feature_bins), default=first_bin - 1)) - first_bin + 1
        arms = {
            v: _arm(_part(buckets, bucket_slices[(experiment, feature, v)]), _part(bins, bin_slices.get((experiment, feature, v))), first_bin, width)
            for v in variants
        }
        for variant in variants:
            row: dict[str, object] = {
                "experiment": experiment, "feature": feature, "variant": variant, "is_control": variant == control,
                "control_variant": control, "min_units": design.min_units, "expected_share": expected.get(variant),
                "observed_share": experiment_units.get(variant, 0) / total_units if total_units else None,
                "srm_p_value": p_value, "sample_ratio_mismatch": p_value is not None and p_value < SRM_P_VALUE,
                "interval_method": METHOD,
            }
            if variant != control:
                row |= compare(arms[control], arms[variant], design.min_units, _seed(experiment, feature, variant), first_bin)
            out.append(row)
    return pa.Table.from_pylist(out, schema=STATS_SCHEMA)


def _slices(table: pa.Table) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(experiment, feature, variant) -> the [start, stop) rows it holds in `table` (ordered by those columns)."""
    if table.num_rows == 0:
        return {}
    keys = [table[name].to_numpy(zero_copy_only=False) for name in ("experiment", "feature", "variant")]
    change = np.ones(table.num_rows, dtype=bool)
    change[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    starts = np.flatnonzero(change)
    stops = np.append(starts[1:], table.num_rows)
    return {(keys[0][a], keys[1][a], keys[2][a]): (int(a), int(b)) for a, b in zip(starts, stops)}


def _part(table: pa.Table, span: tuple[int, int] | None) -> dict[str, np.ndarray]:
    start, stop = span or (0, 0)
    part = table.slice(start, stop - start)
    return {name: part[name].to_numpy(zero_copy_only=False) for name in part.column_names if name not in ("experiment", "feature", "variant")}


def _arm(buckets: dict[str, np.ndarray], bins: dict[str, np.ndarray], first_bin: int, width: int) -> Arm:
    """The arrays of one arm: its buckets' sums and their latency histogram (buckets x bins)."""
    position = np.searchsorted(buckets["bucket"], bins["bucket"]) if len(bins) and len(bins["bucket"]) else np.array([], dtype=np.int64)
    histogram = np.zeros((len(buckets["bucket"]), max(width, 0)), dtype=np.float32)
    if len(position):
        np.add.at(histogram, (position, bins["bin"] - first_bin), bins["requests"])
    return Arm(
        units=buckets["units"].astype(np.float64),
        outcomes=buckets["outcomes"].astype(np.float64),
        cost=buckets["cost_usd"].astype(np.float64),
        histogram=histogram,
    )
