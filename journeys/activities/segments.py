"""Segment activities: a customer's own evaluation after its events (incremental, Python) and
the scheduled batch refresh of every segment (SQL), which tells each customer's workflow what
changed for it. Membership is stored with entry and exit times either way."""

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session
from temporalio import activity

from journeys.client import deliver
from journeys.segments.evaluate import facts_since, is_member, quiet_after
from journeys.store.catalog import catalog_version
from journeys.store.customers import record_stage
from journeys.store.db import session_scope
from journeys.store.segments import (
    Change,
    active_definitions,
    add_missing_customers,
    apply_membership,
    batch_members,
    changes_at,
    compute_rfm_thresholds,
    customer_facts,
    customer_memberships,
    load_rfm_thresholds,
    member_ids,
    open_segments,
    save_rfm_thresholds,
    uses_rfm,
)
from journeys.vocabulary.activity_refs import REFRESH_SEGMENTS
from journeys.vocabulary.events import CustomerEvent
from journeys.vocabulary.segment_types import (
    SegmentChange,
    SegmentEvaluation,
    SegmentRefreshInput,
    SegmentRefreshResult,
)

DELIVERY_CONCURRENCY = 16  # signal-with-starts in flight during a refresh
HEARTBEAT_EVERY = 200  # customers notified between heartbeats


def evaluate_customer(
    session: Session, *, customer_id: str, stage: str, at: datetime
) -> SegmentEvaluation:
    """Record the stage, evaluate every active segment for the customer as of `at`, store the
    entries and exits (stamped `at`) and return them with the segments the customer is in.

    Idempotent: a retry with the same `at` finds the changes an earlier attempt stored and
    returns them again (same message ids, so the workflow applies them once), never new ones;
    not those a later change (the batch's, as of a later instant) has superseded since.
    """
    record_stage(session, customer_id=customer_id, stage=stage)
    definitions = active_definitions(session)
    thresholds = load_rfm_thresholds(session)
    if thresholds is None and uses_rfm(definitions):
        thresholds = compute_rfm_thresholds(session, as_of=at)
        save_rfm_thresholds(session, thresholds=thresholds)
    facts = customer_facts(
        session, customer_id=customer_id, events_since=facts_since(definitions, at), as_of=at
    )
    wanted = {
        d.name
        for d in definitions
        if facts is not None and is_member(d, facts, as_of=at, thresholds=thresholds)
    }
    current = {m.segment for m in customer_memberships(session, customer_id=customer_id)}
    for segment in sorted(wanted | current):
        apply_membership(
            session,
            segment=segment,
            entered=[customer_id] if segment in wanted - current else [],
            exited=[customer_id] if segment in current - wanted else [],
            at=at,
        )
    changes = changes_at(session, at=at, customer_id=customer_id)
    quiet = quiet_after(definitions, facts, as_of=at) if facts is not None else None
    return SegmentEvaluation(
        changes=[
            SegmentChange(segment=c.segment, change=c.change, at=c.at)
            for c in changes
            if not c.superseded
        ],
        segments=sorted(wanted),
        quiet_events=quiet.events if quiet else 0,
        quiet_until=quiet.until if quiet else None,
    )


def refresh_memberships(database_url: str, *, as_of: datetime) -> Iterator[str]:
    """Recompute every segment's members by SQL and store the differences, stamped `as_of`;
    yields after each segment (its name), so a caller can heartbeat. Each segment is read, then
    written in a short transaction of its own: SQLite's one writer is held only for the diff."""
    with session_scope(database_url) as session:
        add_missing_customers(session)
        thresholds = compute_rfm_thresholds(session, as_of=as_of)
        save_rfm_thresholds(session, thresholds=thresholds)
        definitions = active_definitions(session)
    for definition in definitions:
        with session_scope(database_url) as session:
            new = batch_members(session, definition=definition, as_of=as_of, thresholds=thresholds)
            current = member_ids(session, segment=definition.name)
            apply_membership(session, segment=definition.name, entered=new - current,
                             exited=current - new, at=as_of)  # fmt: skip
        yield definition.name
    with session_scope(database_url) as session:
        for segment in open_segments(session) - {d.name for d in definitions}:
            # archived: everyone leaves
            apply_membership(session, segment=segment, entered=[],
                             exited=member_ids(session, segment=segment), at=as_of)  # fmt: skip


def change_events(customer_id: str, changes: list[Change]) -> list[CustomerEvent]:
    """The events a customer's workflow gets for its changes (the ids its own evaluation would
    give the same change, so it applies each once). None for a superseded change: the
    customer's own evaluation changed its membership of that segment after the refresh stored
    the change, and its workflow has applied that later change already (or is about to), so
    the older one, arriving after it, would overrule it (a journey started for a customer who
    has left the segment, or told they left one they are in)."""
    return [
        SegmentChange(segment=c.segment, change=c.change, at=c.at).event(customer_id)
        for c in changes
        if not c.superseded
    ]


class SegmentActivities:
    def __init__(self, database_url: str, task_queue: str) -> None:
        """`task_queue`: where the customer workflows run (a refresh signal-with-starts them)."""
        self.database_url = database_url
        self.task_queue = task_queue

    @activity.defn(name=REFRESH_SEGMENTS.name)
    async def refresh_segments(self, input: SegmentRefreshInput) -> SegmentRefreshResult:
        """Evaluate every active segment by SQL, store the differences, then signal each
        customer whose membership changed (unless a later change superseded all of theirs). A
        retry (same `as_of`) finds the stored changes and resumes signalling after the last
        customer its heartbeat recorded (counted among every customer with a change stored at
        `as_of`, superseded or not, so the count means the same to every attempt)."""
        as_of = input.as_of or datetime.now(UTC)
        info = activity.info()
        resume: dict[str, Any] = dict(info.heartbeat_details[0]) if info.heartbeat_details else {}
        if resume.get("phase") != "deliver":
            steps = refresh_memberships(self.database_url, as_of=as_of)
            segments = 0
            while (name := await asyncio.to_thread(next, steps, None)) is not None:
                segments += 1
                activity.heartbeat({"phase": "evaluate", "segment": name})
            resume = {"phase": "deliver", "done": 0, "segments": segments}
            activity.heartbeat(resume)
        changes, catalog = await asyncio.to_thread(self._changes, as_of)
        by_customer: dict[str, list[Change]] = defaultdict(list)
        for change in changes:
            by_customer[change.customer_id].append(change)
        customers = sorted(by_customer)
        client = activity.client()
        done = int(resume["done"])
        gate = asyncio.Semaphore(DELIVERY_CONCURRENCY)

        async def notify(customer_id: str) -> None:
            async with gate:
                events = change_events(customer_id, by_customer[customer_id])
                if not events:
                    return
                await deliver(client, task_queue=self.task_queue, customer_id=customer_id,
                              events=events, catalog_version=catalog)  # fmt: skip

        while done < len(customers):
            chunk = customers[done : done + HEARTBEAT_EVERY]
            await asyncio.gather(*(notify(customer_id) for customer_id in chunk))
            done += len(chunk)
            activity.heartbeat({**resume, "done": done, "total": len(customers)})
        result = SegmentRefreshResult(
            segments=int(resume["segments"]),
            entered=sum(1 for c in changes if c.change == "entered"),
            exited=sum(1 for c in changes if c.change == "exited"),
            customers_notified=sum(
                1 for c in customers if any(not x.superseded for x in by_customer[c])
            ),
        )
        activity.logger.info("segments refreshed", extra=result.model_dump())
        return result

    def _changes(self, as_of: datetime) -> tuple[list[Change], int]:
        """The changes stamped `as_of`, and the catalog version the signals carry: a customer
        workflow this refresh starts must load the journeys and segments, as the API's do."""
        with session_scope(self.database_url) as session:
            return changes_at(session, at=as_of), catalog_version(session)
