"""Experiment results across versions (expected split in proportion to each version's runs),
the sample ratio check with weight-0 variants, and when a winner is ready to promote."""

import pytest
from scipy import stats

from journeys.kpis.experiment_results import (
    ExperimentExposures,
    VariantCount,
    experiment_results,
    winner_to_promote,
)
from journeys.kpis.experiments import Arm, analyse, sample_ratio_p_value
from journeys.vocabulary.journey_spec import Promote


def version(
    number: int, weights: dict[str, float], **counts: tuple[int, int]
) -> ExperimentExposures:
    found = {name: VariantCount(*counts.get(name, (0, 0))) for name in weights}
    return ExperimentExposures("split", number, weights, found)


def test_the_expected_split_mixes_the_versions_in_proportion_to_their_runs() -> None:
    entries = [
        version(1, {"a": 1, "b": 1}, a=(100, 10), b=(100, 20)),
        version(2, {"a": 1, "b": 9}, a=(10, 1), b=(90, 30)),
    ]
    (result,) = experiment_results(entries)
    assert result.versions == [1, 2] and result.weights == {"a": 1, "b": 9}
    expected = stats.chisquare([110, 190], [100 + 10, 100 + 90]).pvalue
    assert result.analysis.srm_p_value == pytest.approx(expected)
    assert not result.analysis.sample_ratio_mismatch
    # read against the latest weights alone, the same runs would look badly skewed
    assert analyse([Arm("a", 110, 11, 1), Arm("b", 190, 50, 9)]).sample_ratio_mismatch


def test_weight_zero_arms_expect_nobody() -> None:
    assert sample_ratio_p_value([Arm("a", 0, 0, 0), Arm("b", 50, 5, 1)]) == 1.0
    assert sample_ratio_p_value([Arm("a", 3, 0, 0), Arm("b", 50, 5, 1)]) == 0.0
    three = [Arm("a", 0, 0, 0), Arm("b", 40, 5, 1), Arm("c", 60, 5, 1)]
    assert sample_ratio_p_value(three) == pytest.approx(stats.chisquare([40, 60]).pvalue)
    assert sample_ratio_p_value([Arm("a", 0, 0, 0), Arm("b", 0, 0, 1)]) is None


def test_a_winner_needs_probability_exposures_traffic_and_a_sound_split() -> None:
    promote = Promote(min_exposures=100, probability=0.95)
    clear = version(1, {"a": 1, "b": 1}, a=(150, 15), b=(150, 45))
    (result,) = experiment_results([clear])
    assert winner_to_promote(result, promote) == "b"
    (short,) = experiment_results([version(1, {"a": 1, "b": 1}, a=(90, 5), b=(90, 40))])
    assert winner_to_promote(short, promote) is None  # under 100 runs each
    (close,) = experiment_results([version(1, {"a": 1, "b": 1}, a=(500, 50), b=(500, 55))])
    assert winner_to_promote(close, promote) is None  # P(best) about 0.7
    skewed = version(1, {"a": 1, "b": 1}, a=(150, 15), b=(300, 90))
    (srm,) = experiment_results([skewed])
    assert srm.analysis.sample_ratio_mismatch and winner_to_promote(srm, promote) is None
    decided = [clear, version(2, {"a": 0, "b": 1}, b=(200, 60))]
    (done,) = experiment_results(decided)
    assert not done.analysis.sample_ratio_mismatch
    assert winner_to_promote(done, promote) is None  # one variant has all the traffic


def test_without_runs_the_result_is_empty_not_an_error() -> None:
    (result,) = experiment_results([version(1, {"a": 1, "b": 3})])
    document = result.as_dict()
    assert document["best"] is None and document["p_value"] is None
    assert [v["probability_best"] for v in document["variants"]] == pytest.approx([0.5, 0.5])
