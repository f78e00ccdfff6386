"""Experiment statistics and NPS on known inputs, checked against scipy's own procedures and
against simulation."""

import numpy as np
import pytest
from scipy import stats

from journeys.kpis.experiments import Arm, analyse, probability_best, wilson
from journeys.kpis.nps import category, nps


def test_wilson_intervals_match_scipy() -> None:
    for conversions, exposures in [(0, 10), (7, 50), (120, 1000), (50, 50)]:
        expected = stats.binomtest(conversions, exposures).proportion_ci(0.95, method="wilson")
        assert wilson(conversions, exposures) == pytest.approx(
            (expected.low, expected.high), abs=1e-9
        )


def test_a_rate_of_none_or_all_has_an_interval_ending_exactly_there() -> None:
    # the backtest's table printed "1.735e-18 – 0.01885" for no goal reached in 200 runs
    assert wilson(0, 200)[0] == 0.0 and wilson(0, 7)[0] == 0.0
    assert wilson(200, 200)[1] == 1.0 and wilson(7, 7)[1] == 1.0
    assert f"{wilson(0, 200)[0]:.4g}" == "0"


def test_the_chi_square_p_value_matches_scipy_and_finds_the_better_arm() -> None:
    arms = [Arm("a", 1000, 100), Arm("b", 1000, 140)]
    result = analyse(arms)
    expected = stats.chi2_contingency([[100, 900], [140, 860]], correction=False)[1]
    assert result.p_value == pytest.approx(expected)
    assert result.p_value < 0.01
    best = {arm.name: arm.probability_best for arm in result.arms}
    assert best["b"] > 0.99 and best["a"] + best["b"] == pytest.approx(1.0)
    assert not result.sample_ratio_mismatch


def test_probability_best_agrees_with_monte_carlo() -> None:
    arms = [Arm("a", 200, 20), Arm("b", 210, 25), Arm("c", 190, 17)]
    rng = np.random.default_rng(7)
    draws = np.array([rng.beta(1 + a.conversions, 1 + a.exposures - a.conversions, 200_000)
                      for a in arms])  # fmt: skip
    simulated = np.bincount(draws.argmax(axis=0), minlength=3) / draws.shape[1]
    assert probability_best(arms) == pytest.approx(list(simulated), abs=0.005)


def test_a_sample_ratio_mismatch_is_flagged() -> None:
    balanced = analyse([Arm("a", 5030, 500, 1), Arm("b", 4970, 510, 1)])
    assert not balanced.sample_ratio_mismatch
    skewed = analyse([Arm("a", 5400, 500, 1), Arm("b", 4600, 510, 1)])
    assert skewed.sample_ratio_mismatch and skewed.srm_p_value is not None
    assert skewed.srm_p_value == pytest.approx(stats.chisquare([5400, 4600]).pvalue)
    weighted = analyse([Arm("a", 8000, 500, 0.8), Arm("b", 2000, 510, 0.2)])
    assert not weighted.sample_ratio_mismatch  # 80/20 was the plan


def test_no_data_gives_no_p_value_rather_than_an_error() -> None:
    result = analyse([Arm("a", 0, 0), Arm("b", 0, 0)])
    assert result.p_value is None and result.srm_p_value is None
    assert [a.probability_best for a in result.arms] == pytest.approx([0.5, 0.5])


def test_nps_counts_promoters_passives_and_detractors() -> None:
    result = nps([10, 9, 9, 8, 7, 6, 0, 3, 10, 10])
    assert (result.promoters, result.passives, result.detractors) == (5, 2, 3)
    assert result.score == pytest.approx(20.0)
    assert nps([]).score is None
    assert nps([10] * 4).score == 100 and nps([0]).score == -100
    with pytest.raises(ValueError, match="0 to 10"):
        category(11)
