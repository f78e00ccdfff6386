"""Next-best-action decisions: what each `decide` step chose, with its inputs, and how each
action has done so far (the Beta posteriors of the next decisions)."""

from sqlalchemy import Subquery, case, func
from sqlalchemy import select as select_rows
from sqlmodel import Session, col, select

from journeys.store.models import RUN_ENDINGS, Decision, JourneyEvent
from journeys.vocabulary.journey_types import ActionStats, DecisionRecord


def record_decision(session: Session, *, record: DecisionRecord) -> None:
    """Once per decision id: a retried activity leaves one row."""
    if session.get(Decision, record.decision_id) is not None:
        return
    inputs = record.model_dump(
        mode="json", include={"eligible", "stats", "samples", "values", "clv", "expected"}
    )
    session.add(
        Decision(
            decision_id=record.decision_id, workflow_id=record.workflow_id,
            customer_id=record.customer_id, journey=record.journey, version=record.version,
            step=record.step, chosen=record.chosen, inputs=inputs, at=record.at,
        )
    )  # fmt: skip


def decision_stats(session: Session, *, journey: str, step: str) -> dict[str, ActionStats]:
    """Per action chosen at this step (any version): decisions whose run has ended, and those
    runs that converted. A run still in flight has not failed yet: counted as a miss, it would
    pull down whichever action was chosen most lately, the one getting the traffic."""
    ended = _ended_runs()
    query = (
        select_rows(col(Decision.chosen), func.count(), func.coalesce(func.sum(ended.c.won), 0))
        .join(ended, ended.c.workflow_id == col(Decision.workflow_id))
        .where(col(Decision.journey) == journey, col(Decision.step) == step)
        .where(col(Decision.chosen).is_not(None))
        .group_by(col(Decision.chosen))
    )
    return {
        str(chosen): ActionStats(exposures=int(n), conversions=int(won))
        for chosen, n, won in session.execute(query)
    }


def _ended_runs() -> Subquery:
    """The runs that ended (one row per run), `won` 1 for those that reached their goal."""
    won = case((col(JourneyEvent.kind) == "converted", 1), else_=0)
    query = (
        select_rows(col(JourneyEvent.workflow_id), func.max(won).label("won"))
        .where(col(JourneyEvent.kind).in_(RUN_ENDINGS))
        .group_by(col(JourneyEvent.workflow_id))
    )
    return query.subquery()


def decisions(
    session: Session, *, journey: str, customer_id: str | None = None, limit: int = 100
) -> list[Decision]:
    query = select(Decision).where(Decision.journey == journey)
    if customer_id:
        query = query.where(Decision.customer_id == customer_id)
    return list(session.exec(query.order_by(col(Decision.at).desc()).limit(limit)))
