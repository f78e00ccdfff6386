"""Auto-promotion looks at every experiment every hour. Simulated experiments, read hourly for
four weeks the way the `experiment-evaluation` schedule reads them: with no true difference
the always-valid test promotes at most alpha + 1% of them, where a fixed-level test read as
often finds a "winner" in many; with a true difference it finds the better variant."""

import numpy as np
import pytest
from scipy import stats

from journeys.kpis.experiment_results import (
    ExperimentExposures,
    VariantCount,
    experiment_results,
    winner_to_promote,
)
from journeys.kpis.experiments import mixture_likelihood_ratio
from journeys.vocabulary.journey_spec import Promote

EXPERIMENTS = 1_000
HOURS = 24 * 28
PER_HOUR = 20  # runs reaching the step each hour, split 50/50
PROMOTE = Promote()  # the defaults: 200 runs per variant, confidence 0.95
ALPHA = 1 - PROMOTE.probability


def hourly_counts(rate_a: float, rate_b: float, seed: int) -> tuple[np.ndarray, ...]:
    """Cumulative exposures and conversions of a and b after each hour, per experiment."""
    rng = np.random.default_rng(seed)
    exposed_a = rng.binomial(PER_HOUR, 0.5, (EXPERIMENTS, HOURS))
    exposed_b = PER_HOUR - exposed_a
    converted_a = rng.binomial(exposed_a, rate_a)
    converted_b = rng.binomial(exposed_b, rate_b)
    return tuple(x.cumsum(axis=1) for x in (exposed_a, converted_a, exposed_b, converted_b))


def first_promotion(counts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per experiment: whether an hourly evaluation ever promoted, and whether b won."""
    exposed_a, converted_a, exposed_b, converted_b = counts
    ratio = mixture_likelihood_ratio(converted_a, exposed_a, converted_b, exposed_b)
    enough = (exposed_a >= PROMOTE.min_exposures) & (exposed_b >= PROMOTE.min_exposures)
    ready = enough & (ratio >= 1 / ALPHA)
    b_leads = converted_b * exposed_a > converted_a * exposed_b
    hour = ready.argmax(axis=1)
    rows = np.arange(EXPERIMENTS)
    return ready.any(axis=1), ready.any(axis=1) & b_leads[rows, hour]


def decision(counts: tuple[np.ndarray, ...], experiment: int, hour: int) -> str | None:
    exposed_a, converted_a, exposed_b, converted_b = (int(x[experiment, hour]) for x in counts)
    found = {"a": VariantCount(exposed_a, converted_a), "b": VariantCount(exposed_b, converted_b)}
    (result,) = experiment_results([ExperimentExposures("split", 1, {"a": 1, "b": 1}, found)])
    return winner_to_promote(result, PROMOTE)


@pytest.mark.parametrize("rate", [0.03, 0.1, 0.4])
def test_hourly_aa_tests_promote_at_most_alpha_plus_one_percent(rate: float) -> None:
    counts = hourly_counts(rate, rate, seed=int(rate * 1000))
    promoted, _ = first_promotion(counts)
    assert promoted.mean() <= ALPHA + 0.01

    # the same looks with a fixed-level test (chi-square p < alpha whenever it is read)
    # crown a false winner far more often: the repeated looks are what the test corrects
    exposed_a, converted_a, exposed_b, converted_b = counts
    pooled = (converted_a + converted_b) / (exposed_a + exposed_b)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / exposed_a + 1 / exposed_b))
    with np.errstate(divide="ignore", invalid="ignore"):  # no conversions yet: no z
        z = np.abs(converted_b / exposed_b - converted_a / exposed_a) / spread
    enough = (exposed_a >= PROMOTE.min_exposures) & (exposed_b >= PROMOTE.min_exposures)
    naive = (enough & (2 * stats.norm.sf(z) < ALPHA)).any(axis=1)
    assert naive.mean() > 3 * (ALPHA + 0.01)


def test_a_true_difference_is_found_and_it_is_the_better_variant() -> None:
    counts = hourly_counts(0.10, 0.13, seed=7)
    promoted, b_won = first_promotion(counts)
    assert promoted.mean() >= 0.9
    assert b_won.mean() >= promoted.mean() - 0.01  # hardly ever the worse one


def test_the_promotion_rule_is_the_one_simulated() -> None:
    """winner_to_promote (what the schedule's activity calls) decides as the vectorised
    simulation does, at looks before, at and after the first promotion."""
    counts = hourly_counts(0.10, 0.13, seed=7)
    exposed_a, converted_a, exposed_b, converted_b = counts
    ratio = mixture_likelihood_ratio(converted_a, exposed_a, converted_b, exposed_b)
    enough = (exposed_a >= PROMOTE.min_exposures) & (exposed_b >= PROMOTE.min_exposures)
    b_leads = converted_b * exposed_a > converted_a * exposed_b
    a_leads = converted_a * exposed_b > converted_b * exposed_a
    checked = 0
    for experiment in range(40):
        ready = enough[experiment] & (ratio[experiment] >= 1 / ALPHA)
        first = int(ready.argmax()) if ready.any() else HOURS - 1
        for hour in {max(first - 1, 0), first, min(first + 24, HOURS - 1)}:
            expected = None
            if ready[hour] and b_leads[experiment, hour]:
                expected = "b"
            elif ready[hour] and a_leads[experiment, hour]:
                expected = "a"
            assert decision(counts, experiment, hour) == expected, (experiment, hour)
            checked += 1
    assert checked >= 80
