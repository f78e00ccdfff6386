"""Experiment steps in the store: what their runs did (exposures and conversions per variant,
read from the journeyevent records, with the weights of the version each run entered), and
promotions of a winner — a new journey version that gives it all the traffic — and their
reverts, kept in the `experimentpromotion` table.

An exposure is a run with a step record "variant NAME" for the experiment step (counted once
however often the run visits the step); a conversion is an exposed run that also has a
`converted` record. Runs keep the version they entered with, so a promotion changes only
where new entries go.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import distinct, func
from sqlalchemy import select as select_rows
from sqlmodel import Session, col, select

from journeys.kpis.experiment_results import ExperimentExposures, VariantCount
from journeys.store.journeys import NotFound, get_version, publish_spec, spec_document
from journeys.store.models import ExperimentPromotion, Journey, JourneyEvent, JourneyVersion
from journeys.vocabulary.journey_spec import Experiment, JourneySpec

VARIANT_PREFIX = "variant "  # the step result JourneyWorkflow records for an experiment step


class ExperimentError(Exception):
    """A promotion or revert that is refused; `status` is the HTTP answer it deserves."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def experiment_exposures(
    session: Session, *, journey: str, version: int | None = None, since_version: int = 1
) -> list[ExperimentExposures]:
    """Every experiment step of every version of `journey` (or of `version` only; versions
    before `since_version` left out), by step in the order of the latest spec, then version."""
    counted = _counts(session, journey=journey, version=version, since_version=since_version)
    query = select(JourneyVersion).where(JourneyVersion.name == journey)
    if version is not None:
        query = query.where(JourneyVersion.version == version)
    query = query.where(JourneyVersion.version >= since_version)
    found: list[ExperimentExposures] = []
    order: list[str] = []
    for row in session.exec(query.order_by(col(JourneyVersion.version).desc())):
        spec = JourneySpec.model_validate(row.spec)
        for step in spec.steps:
            if not isinstance(step, Experiment):
                continue
            if step.id not in order:
                order.append(step.id)
            seen = counted.get((row.version, step.id), {})
            weights = {v.name: v.weight for v in step.variants}
            counts = {name: seen.get(name, VariantCount()) for name in weights}
            counts.update({name: c for name, c in seen.items() if name not in weights})
            found.append(ExperimentExposures(step.id, row.version, weights, counts))
    return sorted(found, key=lambda e: (order.index(e.step), e.version))


def _counts(
    session: Session, *, journey: str, version: int | None, since_version: int
) -> dict[tuple[int, str], dict[str, VariantCount]]:
    """(version, step) -> variant -> distinct runs exposed and, of those, converted: one
    grouped query, so the store does the counting."""
    converted = (
        select(JourneyEvent.workflow_id)
        .where(JourneyEvent.journey == journey, JourneyEvent.kind == "converted")
        .distinct()
        .subquery()
    )
    query = (
        select_rows(
            col(JourneyEvent.version),
            col(JourneyEvent.step),
            col(JourneyEvent.detail),
            func.count(distinct(col(JourneyEvent.workflow_id))),
            func.count(distinct(converted.c.workflow_id)),
        )
        .select_from(JourneyEvent)
        .outerjoin(converted, converted.c.workflow_id == col(JourneyEvent.workflow_id))
        .where(
            col(JourneyEvent.journey) == journey,
            col(JourneyEvent.kind) == "step",
            col(JourneyEvent.detail).startswith(VARIANT_PREFIX),
            col(JourneyEvent.version) >= since_version,
        )
        .group_by(col(JourneyEvent.version), col(JourneyEvent.step), col(JourneyEvent.detail))
    )
    if version is not None:
        query = query.where(col(JourneyEvent.version) == version)
    counts: dict[tuple[int, str], dict[str, VariantCount]] = {}
    for run_version, step, detail, exposures, conversions in session.execute(query):
        variant = detail.removeprefix(VARIANT_PREFIX)
        counts.setdefault((run_version, step), {})[variant] = VariantCount(exposures, conversions)
    return counts


def promotions(session: Session, *, journey: str) -> list[ExperimentPromotion]:
    query = select(ExperimentPromotion).where(ExperimentPromotion.journey == journey)
    return list(session.exec(query.order_by(col(ExperimentPromotion.id))))


def evidence_since(session: Session, *, journey: str, step: str) -> int:
    """The first version whose runs count towards an automatic promotion: after an operator
    reverted one, only runs of the versions since the revert (fresh evidence), else all."""
    query = (
        select(func.max(ExperimentPromotion.reverted_version))
        .where(ExperimentPromotion.journey == journey, ExperimentPromotion.step == step)
    )  # fmt: skip
    return int(session.exec(query).one() or 1)


def promote_variant(
    session: Session,
    *,
    journey: str,
    step: str,
    winner: str,
    probability_best: float | None = None,
    exposures: dict[str, int] | None = None,
    manual: bool = False,
    at: datetime | None = None,
) -> ExperimentPromotion:
    """Publish a new version of `journey` whose experiment `step` gives `winner` weight 1 and
    every other variant 0, and record the promotion with the weights it replaced."""
    version, spec, experiment = _latest_experiment(session, journey=journey, step=step)
    weights = {v.name: v.weight for v in experiment.variants}
    if winner not in weights:
        raise ExperimentError(
            400, f"step {step!r} has no variant {winner!r}; variants: {', '.join(weights)}"
        )
    if all((weight > 0) == (name == winner) for name, weight in weights.items()):
        raise ExperimentError(409, f"variant {winner!r} already gets all of {step!r}'s traffic")
    target = {name: 1.0 if name == winner else 0.0 for name in weights}
    published = publish_spec(session, spec=_with_weights(spec, step, target))
    promotion = ExperimentPromotion(
        journey=journey,
        step=step,
        winner=winner,
        from_version=version,
        to_version=published.version,
        weights_before=weights,
        probability_best=probability_best,
        exposures=exposures or {},
        manual=manual,
        at=at or datetime.now(UTC),
    )
    session.add(promotion)
    session.flush()
    return promotion


def revert_promotion(
    session: Session, *, journey: str, step: str, at: datetime | None = None
) -> ExperimentPromotion:
    """Undo the latest promotion of `step` not yet reverted: a new version with the weights it
    replaced (variants added since keep theirs). 409 when there is none."""
    _, spec, experiment = _latest_experiment(session, journey=journey, step=step)
    query = (
        select(ExperimentPromotion)
        .where(
            ExperimentPromotion.journey == journey,
            ExperimentPromotion.step == step,
            col(ExperimentPromotion.reverted_at).is_(None),
        )
        .order_by(col(ExperimentPromotion.id).desc())
    )
    promotion = session.exec(query).first()
    if promotion is None:
        raise ExperimentError(409, f"no promotion of {journey}.{step} to revert")
    weights = {v.name: promotion.weights_before.get(v.name, v.weight) for v in experiment.variants}
    if not any(weight > 0 for weight in weights.values()):
        raise ExperimentError(409, f"the weights before the promotion no longer fit {step!r}")
    published = publish_spec(session, spec=_with_weights(spec, step, weights))
    promotion.reverted_at = at or datetime.now(UTC)
    promotion.reverted_version = published.version
    session.add(promotion)
    session.flush()
    return promotion


def _latest_experiment(
    session: Session, *, journey: str, step: str
) -> tuple[int, JourneySpec, Experiment]:
    # The row lock (PostgreSQL) makes a scheduled evaluation and an operator take turns.
    row = session.get(Journey, journey, with_for_update=True)
    spec = get_version(session, name=journey) if row is not None else None
    if row is None or spec is None:
        raise NotFound(f"no journey {journey!r}")
    experiment = next((s for s in spec.steps if s.id == step), None)
    if not isinstance(experiment, Experiment):
        raise NotFound(f"journey {journey!r} v{row.latest_version} has no experiment step {step!r}")
    return row.latest_version, spec, experiment


def _with_weights(spec: JourneySpec, step: str, weights: dict[str, float]) -> JourneySpec:
    document: dict[str, Any] = spec_document(spec)
    for entry in document["steps"]:
        if entry["id"] == step:
            for variant in entry["variants"]:
                variant["weight"] = weights[variant["name"]]
    return JourneySpec.model_validate(document)
