"""A/B test statistics for experiment steps: each variant's conversion rate with a Wilson
interval, the probability that each variant is best (Beta posteriors, integrated numerically:
the same inputs always give the same answer), a chi-square test of "no difference", and a
sample ratio mismatch check against the configured weights."""

from dataclasses import dataclass
from typing import Any

import numpy as np

SRM_ALPHA = 0.001  # a mismatch this unlikely means broken assignment or logging, not chance


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
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


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
    return Analysis(results, p_value, srm, srm is not None and srm < SRM_ALPHA)


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
