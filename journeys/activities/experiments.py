"""Experiment activities: results of a journey's experiment steps from the store, and the
scheduled evaluation (`evaluate_experiments`, run by ExperimentEvaluationWorkflow) that
promotes a winner once its step's `promote` threshold is met.

A promotion publishes a new journey version (runs in flight keep theirs) and is recorded, so
it shows in the results and can be reverted. Evaluating again changes nothing: a promoted
step has one variant with traffic left. After a revert only runs of the versions since then
count, so the evaluation does not promote the same evidence straight back.
"""

import structlog
from sqlmodel import Session
from temporalio import activity

from journeys.kpis.experiment_results import ExperimentResult, experiment_results, winner_to_promote
from journeys.store.db import session_scope
from journeys.store.experiments import evidence_since, experiment_exposures, promote_variant
from journeys.store.journeys import CatalogError, active_specs
from journeys.vocabulary.activity_refs import EVALUATE_EXPERIMENTS
from journeys.vocabulary.experiment_types import (
    EvaluateExperimentsInput,
    EvaluateExperimentsResult,
    PromotionMade,
)
from journeys.vocabulary.journey_spec import Experiment

log = structlog.get_logger()


def journey_experiment_results(
    session: Session, *, journey: str, version: int | None = None
) -> list[ExperimentResult]:
    """Each experiment step's results over every version of the journey (or one)."""
    return experiment_results(experiment_exposures(session, journey=journey, version=version))


def evaluate(session: Session, *, journey: str | None = None) -> EvaluateExperimentsResult:
    """Promote every winner that is ready, in the active journeys (or one of them)."""
    outcome = EvaluateExperimentsResult()
    for _, spec in active_specs(session):
        if journey is not None and spec.name != journey:
            continue
        for step in spec.steps:
            if not isinstance(step, Experiment) or step.promote is None:
                continue
            outcome.evaluated += 1
            since = evidence_since(session, journey=spec.name, step=step.id)
            exposures = experiment_exposures(session, journey=spec.name, since_version=since)
            result = next((r for r in experiment_results(exposures) if r.step == step.id), None)
            winner = winner_to_promote(result, step.promote) if result else None
            if result is None or winner is None:
                continue
            arm = next(a for a in result.analysis.arms if a.name == winner)
            try:  # refused before anything is written: the other experiments still go ahead
                promotion = promote_variant(
                    session,
                    journey=spec.name,
                    step=step.id,
                    winner=winner,
                    probability_best=arm.probability_best,
                    exposures={a.name: a.exposures for a in result.analysis.arms},
                )
            except CatalogError as err:  # say, a segment it names was archived since
                log.warning("experiment_not_promoted", journey=spec.name, step=step.id,
                            winner=winner, reason=str(err))  # fmt: skip
                outcome.problems.append(f"{spec.name}.{step.id}: {err}")
                continue
            log.info(
                "experiment_promoted",
                journey=spec.name,
                step=step.id,
                winner=winner,
                probability_best=arm.probability_best,
                version=promotion.to_version,
            )
            outcome.promotions.append(
                PromotionMade(
                    journey=spec.name,
                    step=step.id,
                    winner=winner,
                    from_version=promotion.from_version,
                    to_version=promotion.to_version,
                    probability_best=arm.probability_best,
                )
            )
    return outcome


class ExperimentActivities:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @activity.defn(name=EVALUATE_EXPERIMENTS.name)
    def evaluate_experiments(self, input: EvaluateExperimentsInput) -> EvaluateExperimentsResult:
        """One transaction: a retry after a failure finds nothing promoted and starts over; a
        retry after success finds the promoted steps decided and does nothing."""
        with session_scope(self.database_url) as session:
            return evaluate(session, journey=input.journey)
