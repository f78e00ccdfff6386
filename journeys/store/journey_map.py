"""What a journey map shows on each step and edge, from the runs' records (`journeyevent`) and
the send ledger: runs that did each step, runs that went along each edge, how runs ended
after each step, each send step's messages by status and reason, and how many of them were
opened and clicked, by the person and by a machine apart."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from journeys.store.models import RUN_ENDINGS, JourneyEvent, Message

ENTRY = "(entry)"  # where every run's first edge starts
ENGAGEMENT = ("opened", "clicked", "machine opened", "machine clicked")
ENGAGEMENT_COLUMNS = ("opened_at", "clicked_at", "machine_opened_at", "machine_clicked_at")


@dataclass
class MapCounts:
    entered: int = 0
    reached: Counter[str] = field(default_factory=Counter)  # step -> runs that did it
    edges: Counter[tuple[str, str]] = field(default_factory=Counter)  # (from, to) -> runs that
    # went along it (a run that loops counts once on each)
    ended: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    open_after: Counter[str] = field(default_factory=Counter)  # last step done of open runs
    converted_after: Counter[str] = field(default_factory=Counter)  # step -> runs that did it
    # and reached the goal later
    messages: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # step -> messages "opened" / "clicked" (by the person) and "machine opened" / "machine
    # clicked" (privacy proxies, link scanners): each message counted once per kind
    engagement: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def journey_map_counts(session: Session, *, journey: str, version: int | None) -> MapCounts:
    """Every run of `journey` (of one version, if given), read record by record in order."""
    query = select(JourneyEvent).where(JourneyEvent.journey == journey)
    if version is not None:
        query = query.where(JourneyEvent.version == version)
    query = query.order_by(col(JourneyEvent.workflow_id), col(JourneyEvent.seq))
    counts = MapCounts()
    run: str | None = None
    last, done = ENTRY, False
    did: set[str] = set()
    took: set[tuple[str, str]] = set()

    def close() -> None:
        if run is not None and not done:
            counts.open_after[last] += 1

    for record in session.exec(query.execution_options(yield_per=1000)):
        if record.workflow_id != run:
            close()
            run, last, done, did, took = record.workflow_id, ENTRY, False, set(), set()
        if record.kind == "entered":
            counts.entered += 1
        elif record.kind == "step" and record.step:
            if record.step not in did:  # a run that loops counts once
                counts.reached[record.step] += 1
                did.add(record.step)
            if (last, record.step) not in took:
                counts.edges[(last, record.step)] += 1
                took.add((last, record.step))
            last = record.step
        elif record.kind in RUN_ENDINGS:
            counts.ended[last][record.kind] += 1
            done = True
            if record.kind == "converted":
                counts.converted_after.update(did)
    close()
    sends = select(Message.step, Message.status, Message.reason, Message.outcome).where(
        Message.journey == journey
    )
    for step, status, reason, outcome in session.exec(sends):
        shown = f"{status}: {reason}" if status in ("skipped", "failed") and reason else status
        if status == "sent" and outcome not in (None, "delivered"):
            shown = f"sent, then {outcome}"  # the provider's later word: bounced, complained
        counts.messages[step][shown] += 1
    counts.engagement.update(engagement_by_step(session, journey=journey))
    return counts


def engagement_by_step(
    session: Session, *, journey: str, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Counter[str]]:
    """Per send step, of its messages sent (in [start, end) when given): how many went out,
    bounced, and were opened and clicked — by the person and by a machine apart (ENGAGEMENT),
    each message once per kind."""
    first = [col(getattr(Message, c)) for c in ENGAGEMENT_COLUMNS]
    query = (
        sql_select(  # sqlalchemy's: sqlmodel's select types four columns at most
            col(Message.step), func.count(),
            func.count(case((col(Message.outcome) == "bounced", 1))),
            *(func.count(column) for column in first),
        )
        .where(col(Message.journey) == journey, col(Message.status) == "sent")
        .group_by(col(Message.step))
    )  # fmt: skip
    if start is not None:
        query = query.where(col(Message.sent_at) >= start)
    if end is not None:
        query = query.where(col(Message.sent_at) < end)
    found: dict[str, Counter[str]] = {}
    for step, sent, bounced, *engaged in session.execute(query):
        found[step] = Counter({"sent": sent, "bounced": bounced,
                               **dict(zip(ENGAGEMENT, engaged, strict=True))})  # fmt: skip
    return found
