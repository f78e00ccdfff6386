"""The landmarks behind the inflection points (kpis/inflections.py): each stage entry in a
period, whether the customer reached the goal for the first time within the window after it,
and the touchpoints — events, journey steps, messages sent — it had while in that stage before
the goal. The goal is an event's first occurrence (`Order Completed`), or a journey's goal
reached (`journey:win_back`). A merged customer's history (anonymous browsing, an alias)
counts for the one it merged into."""

from bisect import bisect_left
from collections import defaultdict
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from journeys.kpis.inflections import Landmark
from journeys.store.customers import merged_survivors
from journeys.store.models import Event, JourneyEvent, Message, StageEntry

WINDOW = timedelta(days=30)
JOURNEY_GOAL = "journey:"  # goal=journey:win_back: that journey's goal reached


def goal_landmarks(
    session: Session, *, goal: str, start: datetime, end: datetime, window: timedelta = WINDOW
) -> list[Landmark]:
    people = merged_survivors(session)
    touched: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    first_goal: dict[str, datetime] = {}
    events = select(Event.customer_id, Event.type, Event.event, Event.timestamp).where(
        col(Event.timestamp) < end, col(Event.delivered_at).is_not(None)
    )
    journey_goal = goal.removeprefix(JOURNEY_GOAL) if goal.startswith(JOURNEY_GOAL) else None
    for customer, kind, name, at in session.exec(events.order_by(col(Event.timestamp))):
        person = people.get(customer, customer)
        if journey_goal is None and (name or kind) == goal:
            first_goal.setdefault(person, at)
        else:
            touched[person].append((at, f"event: {name or kind}"))
    if journey_goal is not None:  # a journey's goal: the first run of it that converted
        converted = select(JourneyEvent.customer_id, JourneyEvent.at).where(
            JourneyEvent.journey == journey_goal, JourneyEvent.kind == "converted"
        )
        for customer, at in session.exec(converted.order_by(col(JourneyEvent.at))):
            first_goal.setdefault(people.get(customer, customer), at)
    sent = select(Message.customer_id, Message.template, Message.sent_at).where(
        Message.status == "sent", col(Message.sent_at) < end
    )
    for customer, template, sent_at in session.exec(sent):
        if sent_at is not None:
            touched[people.get(customer, customer)].append((sent_at, f"message: {template}"))
    steps = select(JourneyEvent.customer_id, JourneyEvent.journey, JourneyEvent.step,
                   JourneyEvent.at).where(JourneyEvent.kind == "step",
                                          col(JourneyEvent.at) < end)  # fmt: skip
    for customer, journey, step, at in session.exec(steps):
        touched[people.get(customer, customer)].append((at, f"step: {journey}.{step}"))
    for moments in touched.values():
        moments.sort()
    entries: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    stages = select(StageEntry.customer_id, StageEntry.at, StageEntry.stage).where(
        col(StageEntry.at) < end
    )
    for customer, at, stage in session.exec(stages.order_by(col(StageEntry.at))):
        entries[people.get(customer, customer)].append((at, stage))
    for moves in entries.values():
        moves.sort()  # a merged visitor's moves joined to its survivor's
    found = []
    for customer, moves in entries.items():
        goal_at = first_goal.get(customer)
        for i, (t0, stage) in enumerate(moves):
            if t0 < start or (goal_at is not None and goal_at <= t0):
                continue  # before the period, or the goal already reached
            horizon = min(t0 + window, end)
            left = moves[i + 1][0] if i + 1 < len(moves) else horizon
            reached = goal_at is not None and goal_at < horizon
            cutoff = min(left, horizon, goal_at if reached and goal_at else horizon)
            moments = touched.get(customer, [])
            first = bisect_left(moments, (t0, ""))  # the entry's own cause included
            seen = frozenset(name for at, name in moments[first:] if at < cutoff)
            found.append(Landmark(stage=stage, reached_goal=reached, touchpoints=seen))
    return found
