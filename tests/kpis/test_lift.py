"""The holdout lift: its interval finds a real difference, and covers a true zero about as
often as it says (95%)."""

import numpy as np
import pytest

from journeys.kpis.reports import lift


def test_a_planted_lift_is_found_with_its_interval() -> None:
    found = lift("holdout", (2_000, 600), (500, 50))  # 30% against 10%
    assert found.difference == pytest.approx(0.2)
    assert found.difference_low is not None and found.difference_high is not None
    assert 0 < found.difference_low < 0.2 < found.difference_high
    assert found.relative == pytest.approx(2.0)
    assert found.relative_low is not None and found.relative_high is not None
    assert found.relative_low < 2.0 < found.relative_high
    assert found.p_value is not None and found.p_value < 1e-6


def test_with_no_difference_the_interval_covers_zero_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(16)
    covered = 0
    for _ in range(400):
        treated, held = rng.binomial(300, 0.2), rng.binomial(100, 0.2)
        found = lift("holdout", (300, int(treated)), (100, int(held)))
        assert found.difference_low is not None and found.difference_high is not None
        covered += found.difference_low <= 0 <= found.difference_high
    assert 0.92 <= covered / 400 <= 0.98


def test_without_held_out_runs_there_is_no_comparison_yet() -> None:
    found = lift("holdout", (40, 8), (0, 0))
    assert found.treated.rate == 0.2 and found.difference is None and found.p_value is None
