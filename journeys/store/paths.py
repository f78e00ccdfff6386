"""How customers really move, for the console's paths page: lifecycle stage moves in a period
(backward moves and repeats included), and the most common event paths from a customer's first
sighting to their first order — a merged visitor's history counted as its survivor's.
Optionally only the customers in a segment (members at any time in the period)."""

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlmodel import Session, col, or_, select

from journeys.store.customers import merged_survivors
from journeys.store.models import Event, SegmentMembership, StageEntry

ORDER = "Order Completed"
FIRST_SEEN = "(first seen)"


@dataclass(frozen=True)
class EventPath:
    steps: tuple[str, ...]  # event names, repeats in a row collapsed, ending in the first order
    customers: int
    median_hours: float  # from the first sighting to the first order


def segment_members(session: Session, segment: str, start: datetime, end: datetime) -> set[str]:
    query = select(SegmentMembership.customer_id).where(
        SegmentMembership.segment == segment,
        col(SegmentMembership.entered_at) < end,
        or_(col(SegmentMembership.exited_at).is_(None), col(SegmentMembership.exited_at) >= start),
    )
    return set(session.exec(query))


def stage_moves(
    session: Session, *, start: datetime, end: datetime, among: set[str] | None = None
) -> Counter[tuple[str, str]]:
    """(from, to) -> moves in [start, end); a first sighting comes from FIRST_SEEN."""
    query = select(StageEntry.customer_id, StageEntry.previous, StageEntry.stage).where(
        col(StageEntry.at) >= start, col(StageEntry.at) < end
    )
    moves: Counter[tuple[str, str]] = Counter()
    for customer, previous, stage in session.exec(query):
        if among is None or customer in among:
            moves[(previous or FIRST_SEEN, stage)] += 1
    return moves


def first_order_paths(
    session: Session, *, start: datetime, end: datetime, among: set[str] | None = None,
    longest: int = 8, top: int = 10,
) -> tuple[list[EventPath], int]:  # fmt: skip
    """The `top` commonest paths of customers whose first order fell in [start, end), each cut
    to its last `longest` events; and how many such customers there were."""
    people = merged_survivors(session)
    query = select(Event.customer_id, Event.type, Event.event, Event.timestamp).where(
        col(Event.timestamp) < end, col(Event.delivered_at).is_not(None)
    )
    timelines: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for customer, kind, name, at in session.exec(query.order_by(col(Event.timestamp))):
        person = people.get(customer, customer)
        if among is None or person in among:
            timelines[person].append((at, name or kind))
    found: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for timeline in timelines.values():
        order = next((i for i, (_, name) in enumerate(timeline) if name == ORDER), None)
        if order is None or not start <= timeline[order][0] < end:
            continue
        names: list[str] = []
        for _, name in timeline[: order + 1]:
            if not names or names[-1] != name:
                names.append(name)
        hours = (timeline[order][0] - timeline[0][0]).total_seconds() / 3600
        found[tuple(names[-longest:])].append(hours)
    ranked = sorted(found.items(), key=lambda item: (-len(item[1]), item[0]))[:top]
    paths = [EventPath(steps, len(hours), round(float(np.median(hours)), 1))
             for steps, hours in ranked]  # fmt: skip
    return paths, sum(len(h) for h in found.values())
