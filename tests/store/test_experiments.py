"""Experiment exposures and conversions counted from journeyevent rows, and the promotion and
revert cycle, on SQLite and on a real PostgreSQL server (see tests/conftest.py), with the records
tests/helpers/experiments.py writes as runs would."""

from typing import Any

import pytest

from journeys import store
from journeys.activities.experiments import evaluate, journey_experiment_results
from journeys.kpis.experiment_results import VariantCount
from journeys.store.db import session_scope
from journeys.store.experiments import (
    ExperimentError,
    experiment_exposures,
    promote_variant,
    promotions,
    revert_promotion,
)
from journeys.store.journeys import NotFound
from journeys.vocabulary.journey_spec import JourneySpec
from tests.helpers.experiments import experiment_spec, publish, record_run, record_runs, weights


def test_exposures_and_conversions_are_counted_per_version_and_variant(
    database_url: str,
) -> None:
    publish(database_url, experiment_spec())
    publish(database_url, experiment_spec(weights=(1, 3)))
    record_runs(database_url, "a", exposed=3, converted=1)
    record_runs(database_url, "b", exposed=2, converted=2)
    record_run(database_url, "loops", variant="a", visits=3)  # one run, visited thrice: 1
    record_run(database_url, "early", variant=None, converted=True)  # converted before it: 0
    record_run(database_url, "other", variant="a", converted=True, journey="elsewhere")
    record_runs(database_url, "b", exposed=4, converted=1, version=2)
    with session_scope(database_url) as session:
        every = experiment_exposures(session, journey="offer_test")
        second = experiment_exposures(session, journey="offer_test", version=2)
        nothing = experiment_exposures(session, journey="unknown")
    assert [(e.step, e.version, e.weights) for e in every] == [
        ("split", 1, {"a": 1, "b": 1}),
        ("split", 2, {"a": 1, "b": 3}),
    ]
    assert every[0].counts == {"a": VariantCount(4, 1), "b": VariantCount(2, 2)}
    assert every[1].counts == {"a": VariantCount(0, 0), "b": VariantCount(4, 1)}
    assert second == every[1:]
    assert nothing == []


def test_results_add_up_across_versions(database_url: str) -> None:
    publish(database_url, experiment_spec())
    publish(database_url, experiment_spec(weights=(1, 3)))
    record_runs(database_url, "a", exposed=10, converted=2)
    record_runs(database_url, "b", exposed=10, converted=5)
    record_runs(database_url, "a", exposed=5, converted=1, version=2)
    record_runs(database_url, "b", exposed=15, converted=9, version=2)
    with session_scope(database_url) as session:
        (result,) = journey_experiment_results(session, journey="offer_test")
        (only_v1,) = journey_experiment_results(session, journey="offer_test", version=1)
    document = result.as_dict()
    assert result.versions == [1, 2] and only_v1.versions == [1]
    assert [(v["name"], v["exposures"], v["conversions"], v["weight"])
            for v in document["variants"]] == [("a", 15, 3, 1), ("b", 25, 14, 3)]  # fmt: skip
    assert document["best"] == "b"
    # 10/10 under 50/50 then 5/15 under 25/75 is exactly the plan
    assert document["sample_ratio_mismatch"] is False
    assert document["srm_p_value"] == pytest.approx(1.0)


def test_promotion_and_revert_cycle(database_url: str) -> None:
    publish(database_url, experiment_spec(min_exposures=20, probability=0.95))
    record_runs(database_url, "a", exposed=40, converted=8)
    record_runs(database_url, "b", exposed=40, converted=24)

    with session_scope(database_url) as session:
        first = evaluate(session)
    assert first.evaluated == 1
    assert [(p.step, p.winner, p.from_version, p.to_version) for p in first.promotions] == [
        ("split", "b", 1, 2)
    ]
    assert first.promotions[0].probability_best is not None
    assert first.promotions[0].probability_best > 0.99
    assert weights(database_url) == {"a": 0, "b": 1}
    assert weights(database_url, version=1) == {"a": 1, "b": 1}  # versions never change
    with session_scope(database_url) as session:
        (row,) = promotions(session, journey="offer_test")
        again = evaluate(session)
    assert (row.winner, row.from_version, row.to_version, row.manual) == ("b", 1, 2, False)
    assert row.weights_before == {"a": 1, "b": 1}
    assert row.exposures == {"a": 40, "b": 40}
    assert row.reverted_at is None
    assert again.promotions == []  # decided: one variant has all the traffic

    with session_scope(database_url) as session:
        reverted = revert_promotion(session, journey="offer_test", step="split")
    assert (reverted.id, reverted.reverted_version) == (row.id, 3)
    assert reverted.reverted_at is not None
    assert weights(database_url) == {"a": 1, "b": 1}
    with session_scope(database_url) as session:
        after_revert = evaluate(session)  # only runs since the revert count now: none yet
        with pytest.raises(ExperimentError) as nothing:
            revert_promotion(session, journey="offer_test", step="split")
    assert after_revert.promotions == []
    assert nothing.value.status == 409

    # fresh evidence under v3 promotes again
    record_runs(database_url, "a", exposed=30, converted=3, version=3)
    record_runs(database_url, "b", exposed=30, converted=20, version=3)
    with session_scope(database_url) as session:
        fresh = evaluate(session)
    assert [(p.winner, p.from_version, p.to_version) for p in fresh.promotions] == [("b", 3, 4)]


def test_nothing_is_promoted_before_the_threshold_or_without_a_promote_block(
    database_url: str,
) -> None:
    publish(database_url, experiment_spec(min_exposures=50))  # too few runs
    publish(database_url, experiment_spec(name="no_promote"))
    for journey in ("offer_test", "no_promote"):
        record_runs(database_url, "a", exposed=40, converted=4, journey=journey)
        record_runs(database_url, "b", exposed=40, converted=30, journey=journey)
    with session_scope(database_url) as session:
        outcome = evaluate(session)
        assert promotions(session, journey="offer_test") == []
    assert (outcome.evaluated, outcome.promotions) == (1, [])
    assert weights(database_url) == {"a": 1, "b": 1}


def test_a_sample_ratio_mismatch_blocks_promotion(database_url: str) -> None:
    publish(database_url, experiment_spec(min_exposures=20))
    record_runs(database_url, "a", exposed=30, converted=3)
    record_runs(database_url, "b", exposed=90, converted=60)  # 50/50 planned: broken split
    with session_scope(database_url) as session:
        (result,) = journey_experiment_results(session, journey="offer_test")
        outcome = evaluate(session)
    assert result.analysis.sample_ratio_mismatch
    assert outcome.promotions == []


def test_manual_promotion_checks_journey_step_and_variant(database_url: str) -> None:
    publish(database_url, experiment_spec())
    with session_scope(database_url) as session:
        with pytest.raises(NotFound):
            promote_variant(session, journey="missing", step="split", winner="a")
        with pytest.raises(NotFound):
            promote_variant(session, journey="offer_test", step="pause", winner="a")
        with pytest.raises(ExperimentError) as unknown:
            promote_variant(session, journey="offer_test", step="split", winner="c")
        assert unknown.value.status == 400
        made = promote_variant(session, journey="offer_test", step="split", winner="a",
                               manual=True)  # fmt: skip
        with pytest.raises(ExperimentError) as twice:
            promote_variant(session, journey="offer_test", step="split", winner="a")
        assert twice.value.status == 409
    assert (made.manual, made.to_version, made.probability_best) == (True, 2, None)
    assert weights(database_url) == {"a": 1, "b": 0}


def test_weights_may_be_zero_but_not_all_of_them() -> None:
    assert experiment_spec(weights=(0, 1)).model_dump(mode="json")["steps"][0]["variants"][0][
        "weight"
    ] == pytest.approx(0)
    with pytest.raises(ValueError, match="at least one variant needs a weight above 0"):
        experiment_spec(weights=(0, 0))
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        experiment_spec(weights=(-1, 1))
    with pytest.raises(ValueError, match="probability"):
        experiment_spec(probability=0.4)
    # an experiment without `promote` stores no such key: specs published before it keep
    # their content hash, and so their version
    assert "promote" not in experiment_spec().model_dump(mode="json")["steps"][0]


def test_a_refused_promotion_leaves_the_others_going(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:

    for journey in ("first_test", "second_test"):
        publish(database_url, experiment_spec(name=journey, min_exposures=20))
        record_runs(database_url, "a", exposed=40, converted=4, journey=journey)
        record_runs(database_url, "b", exposed=40, converted=30, journey=journey)
    real = store.journeys._check_segments

    def refuse_first(session: Any, spec: JourneySpec) -> None:
        if spec.name == "first_test":
            raise store.journeys.CatalogError("first_test: unknown segment 'gone'")
        real(session, spec)

    monkeypatch.setattr(store.journeys, "_check_segments", refuse_first)
    with session_scope(database_url) as session:
        outcome = evaluate(session)
    assert [(p.journey, p.winner) for p in outcome.promotions] == [("second_test", "b")]
    assert outcome.problems == ["first_test.split: first_test: unknown segment 'gone'"]
    assert weights(database_url, "first_test") == {"a": 1, "b": 1}
    assert weights(database_url, "second_test") == {"a": 0, "b": 1}
