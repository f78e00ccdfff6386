"""A/B test statistics for experiment steps: each variant's conversion rate with a Wilson
interval, the probability that each variant is best (Beta posteriors, integrated numerically:
the same inputs always give the same answer), a chi-square test of "no difference", a
sample ratio mismatch check against the configured weights, and an always-valid p-value for
the best variant: the one auto-promotion reads, because it looks every hour."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

SRM_ALPHA = 0.001  # a mismatch this unlikely means broken assignment or logging, not chance
# The sequential test's mixing scales: differences in conversion rate from half a point to
# fifty points, weighted alike, so a large difference shows on a few runs and a small one on
# many. An average of likelihood ratios is still one, so the guarantee holds for the mixture.
MIXTURE_SCALES = np.geomspace(0.005, 0.5, 7)


def _stats() -> Any:
    """scipy.stats, imported on first use: half a second at the start of every process
    (each `journeys` command) that imports this module and never computes a p-value."""
    from scipy import stats

    return stats


def _trapezoid(y: Any, x: Any) -> Any:
    from scipy.integrate import trapezoid

    return trapezoid(y, x)


@dataclass(frozen=True)
class Arm:
    name: str
    exposures: int
    conversions: int
    weight: float = 1.0


class Counts(Protocol):
    @property
    def exposures(self) -> int: ...
    @property
    def conversions(self) -> int: ...


@dataclass(frozen=True)
class ArmResult:
    name: str
    exposures: int
    conversions: int
    rate: float
    low: float
    high: float
    probability_best: float


@dataclass(frozen=True)
class Analysis:
    arms: list[ArmResult]
    p_value: float | None  # chi-square test of independence; None without data in two arms
    # the best arm against every other with data, valid however often it is read
    always_valid_p_value: float | None
    srm_p_value: float | None
    sample_ratio_mismatch: bool


def wilson(conversions: int, exposures: int, confidence: float = 0.95) -> tuple[float, float]:
    if exposures == 0:
        return 0.0, 1.0
    z = _stats().norm.ppf(0.5 + confidence / 2)
    p = conversions / exposures
    centre = (p + z * z / (2 * exposures)) / (1 + z * z / exposures)
    half = (
        z * np.sqrt(p * (1 - p) / exposures + z * z / (4 * exposures**2)) / (1 + z * z / exposures)
    )
    # exact at the ends: no conversion has a low of 0, not 1.7e-18 (printed as such); all, 1
    low = 0.0 if conversions == 0 else max(0.0, centre - half)
    high = 1.0 if conversions == exposures else min(1.0, centre + half)
    return float(low), float(high)


def probability_best(arms: list[Arm], points: int = 4001) -> list[float]:
    """P(arm i has the highest rate) under Beta(1 + conversions, 1 + misses) posteriors:
    the integral of f_i(x) * prod_j F_j(x) over [0, 1] on a fine grid."""
    x = np.linspace(0.0, 1.0, points)
    posteriors = [_stats().beta(1 + a.conversions, 1 + a.exposures - a.conversions) for a in arms]
    pdfs = np.array([p.pdf(x) for p in posteriors])
    cdfs = np.array([p.cdf(x) for p in posteriors])
    result = []
    for i in range(len(arms)):
        others = np.prod(np.delete(cdfs, i, axis=0), axis=0)
        result.append(float(_trapezoid(pdfs[i] * others, x)))
    total = sum(result)
    return [r / total for r in result] if total > 0 else [1 / len(arms)] * len(arms)


def analyse(arms: list[Arm], confidence: float = 0.95) -> Analysis:
    best = probability_best(arms)
    results = []
    for arm, p_best in zip(arms, best, strict=True):
        low, high = wilson(arm.conversions, arm.exposures, confidence)
        rate = arm.conversions / arm.exposures if arm.exposures else 0.0
        results.append(ArmResult(arm.name, arm.exposures, arm.conversions, rate, low, high, p_best))
    table = np.array([[a.conversions, a.exposures - a.conversions] for a in arms if a.exposures])
    p_value = None
    if len(table) >= 2 and table.sum(axis=0).all():
        p_value = float(_stats().chi2_contingency(table, correction=False)[1])
    srm = sample_ratio_p_value(arms)
    with_data = [arm for arm in results if arm.exposures]
    always_valid = None
    if len(with_data) >= 2:
        leader = max(with_data, key=lambda arm: arm.probability_best)
        always_valid = always_valid_p_value(leader, [a for a in with_data if a is not leader])
    return Analysis(results, p_value, always_valid, srm, srm is not None and srm < SRM_ALPHA)


def mixture_likelihood_ratio(
    conversions_a: Any, exposures_a: Any, conversions_b: Any, exposures_b: Any
) -> Any:
    """The mixture sequential probability ratio test (mSPRT; Johari, Pekelis & Walsh, "Always
    valid inference", 2017) of "b converts as a does", on the difference of the two rates
    with the pooled normal approximation, mixed over MIXTURE_SCALES. Under no difference it
    is a martingale starting at 1, so the chance it ever reaches 1/alpha, however often it
    is computed, is at most alpha (Ville's inequality). Works elementwise on arrays; 1 where
    there is no variance yet."""
    exposures_a = np.maximum(np.asarray(exposures_a, dtype=float), 1.0)
    exposures_b = np.maximum(np.asarray(exposures_b, dtype=float), 1.0)
    pooled = (np.asarray(conversions_a) + conversions_b) / (exposures_a + exposures_b)
    variance = pooled * (1 - pooled) * (1 / exposures_a + 1 / exposures_b)
    difference = conversions_b / exposures_b - conversions_a / exposures_a
    safe = np.where(variance > 0, variance, 1.0)
    total = np.zeros_like(safe)
    for scale in MIXTURE_SCALES:
        spread = safe + scale**2
        total += np.sqrt(safe / spread) * np.exp(scale**2 * difference**2 / (2 * safe * spread))
    return np.where(variance > 0, total / len(MIXTURE_SCALES), 1.0)


def always_valid_p_value(best: Counts, rivals: Sequence[Counts]) -> float:
    """The p-value, valid at every look, that `best` differs from each of `rivals`: the largest
    of the pairwise 1 / likelihood ratios, times the number of pairs among all the arms (the
    leader is picked after looking, so any pair could have been the one)."""
    arms = len(rivals) + 1
    pairs = arms * (arms - 1) // 2
    ratios = [
        float(mixture_likelihood_ratio(rival.conversions, rival.exposures,
                                       best.conversions, best.exposures))
        for rival in rivals
    ]  # fmt: skip
    return min(1.0, pairs / min(ratios)) if ratios else 1.0


def sample_ratio_p_value(arms: list[Arm]) -> float | None:
    """Chi-square goodness of fit of the exposures to the weights; None without exposures.
    An arm with weight 0 (a promoted experiment's losers) is planned to get nobody: any
    exposure there is a mismatch (p 0), and the test runs on the arms with traffic."""
    total = sum(a.exposures for a in arms)
    if not total:
        return None
    observed = np.array([a.exposures for a in arms], dtype=float)
    weights = np.array([a.weight for a in arms], dtype=float)
    planned = weights > 0
    if observed[~planned].any():
        return 0.0
    if planned.sum() < 2:
        return 1.0
    expected = total * weights[planned] / weights[planned].sum()
    return float(_stats().chisquare(observed[planned], expected).pvalue)
