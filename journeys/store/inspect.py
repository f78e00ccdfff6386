"""One customer's story, as the store knows it, for `journeys inspect` and the console's
customer page: stage history, journey runs step by step, messages with the reason, next-best-
action decisions, experiment assignments (the profile's traits are left out: personal data
stays in the profile)."""

from typing import Any

from sqlmodel import Session, col, select

from journeys.store.customers import merged_ids
from journeys.store.journey_runs import customer_messages
from journeys.store.models import Customer, Decision, JourneyEvent, StageEntry


def customer_story(session: Session, customer_id: str) -> dict[str, Any]:
    """What the store knows (the profile's traits are left out: personal data stays there)."""
    customer = session.get(Customer, customer_id)
    ids = merged_ids(session, customer_id=customer_id)  # its anonymous visits' runs too
    stages = session.exec(
        select(StageEntry).where(StageEntry.customer_id == customer_id)
        .order_by(col(StageEntry.at), col(StageEntry.id))
    ).all()  # fmt: skip
    records = session.exec(
        select(JourneyEvent).where(col(JourneyEvent.customer_id).in_(ids))
        .order_by(col(JourneyEvent.at), col(JourneyEvent.seq))
    ).all()  # fmt: skip
    messages = customer_messages(session, customer_ids=ids)
    decisions = session.exec(
        select(Decision).where(col(Decision.customer_id).in_(ids)).order_by(col(Decision.at))
    ).all()
    runs: dict[str, dict[str, Any]] = {}
    for record in records:
        fresh = {"journey": record.journey, "version": record.version, "steps": []}
        run = runs.setdefault(record.workflow_id, fresh)
        if record.kind == "step":
            run["steps"].append({"step": record.step, "result": record.detail, "at": record.at})
        else:
            run[record.kind] = record.at
    assignments = [
        {"journey": r.journey, "step": r.step, "variant": r.detail.removeprefix("variant "),
         "at": r.at}
        for r in records if r.kind == "step" and r.detail.startswith("variant ")
    ]  # fmt: skip
    return {
        "customer_id": customer_id,
        "profile": {"stage": customer.stage, "trait_names": sorted(customer.traits)}
        if customer
        else None,
        "stages": [
            {"at": s.at, "from": s.previous, "to": s.stage, "cause": s.cause} for s in stages
        ],  # fmt: skip
        "runs": [{"workflow_id": wid, **run} for wid, run in runs.items()],
        "messages": [
            {
                "at": m.created_at,
                "journey": m.journey,
                "step": m.step,
                "channel": m.channel,
                "template": m.template,
                "status": m.status,
                "reason": m.reason,
            }
            for m in messages
        ],  # fmt: skip
        "decisions": [
            {
                "at": d.at,
                "journey": d.journey,
                "step": d.step,
                "chosen": d.chosen,
                "expected": d.inputs.get("expected", {}),
            }
            for d in decisions
        ],  # fmt: skip
        "assignments": assignments,
    }
