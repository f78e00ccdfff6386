"""Ingestion: Segment calls → stored events → one signal per customer → marked delivered,
for the calls of concurrent requests together (`Ingestor`, a group commit).

The order gives "2xx only when Temporal has it" and "a retry is harmless": events are stored
(idempotent on messageId), signalled, then marked delivered; a retry skips delivered events,
and the workflow's own dedup window catches concurrent duplicates. If a signal fails the rows
this request inserted are removed again, so nothing is half-applied.
"""

import asyncio
import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from temporalio.client import Client

from journeys.api.schemas import SegmentCall
from journeys.client import deliver
from journeys.store.catalog import catalog_version
from journeys.store.customers import link_identity, record_group, resolve_anonymous, survivors
from journeys.store.db import session_scope
from journeys.store.events import forget_undelivered, mark_delivered, record_events
from journeys.store.models import Event
from journeys.vocabulary.events import CustomerEvent
from journeys.vocabulary.ids import anonymous_customer_id, identified_customer_id

log = structlog.get_logger()


class DeliveryFailed(Exception):
    """Temporal did not accept a signal; the client should retry the whole call."""


def message_id_of(call: SegmentCall) -> str:
    """The client's messageId, or a hash of the call so an identical retry stays idempotent."""
    if call.messageId:
        return call.messageId
    body = json.dumps(call.model_dump(mode="json", exclude={"sentAt"}), sort_keys=True)
    return "auto-" + hashlib.sha256(body.encode()).hexdigest()[:32]


def event_time(call: SegmentCall, received_at: datetime) -> datetime:
    """Segment's clock-skew correction, receivedAt − (sentAt − the sender's time of the call),
    whenever the sender says when it sent (`sentAt`): a device whose clock is a day fast stamps
    both a day fast. The sender's time is `timestamp` (what libraries send) or
    `originalTimestamp`. Without `sentAt`, the time as given; without any, receivedAt."""
    given = call.timestamp or call.originalTimestamp
    if given and call.sentAt:
        return received_at - (_aware(call.sentAt) - _aware(given))
    return _aware(given) if given else received_at


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Ingestor:
    """Group commit for tracking calls. The calls of requests that arrive while a flush is
    under way wait for the next: it stores them all in one transaction, signals each customer
    once with its events from every request, and marks them delivered in one more. Alone, a
    request goes at once; under load it shares both writes (and a customer's signal) with its
    neighbours. At most `flushes` run at a time, each at most `max_calls` calls."""

    def __init__(
        self, *, database_url: str, task_queue: str, flushes: int = 2, max_calls: int = 2000
    ) -> None:
        self.database_url, self.task_queue = database_url, task_queue
        self.flushes, self.max_calls = flushes, max_calls
        self._waiting: list[tuple[list[SegmentCall], asyncio.Future[int]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def ingest(self, calls: list[SegmentCall], client: Client) -> int:
        """Store and deliver `calls`; returns how many were new to the customers' workflows.
        Raises DeliveryFailed when Temporal did not take one of them (nothing of it is kept)."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((calls, done))
        if len(self._running) < self.flushes:
            task = asyncio.create_task(self._flush_waiting(client))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return await done

    async def _flush_waiting(self, client: Client) -> None:
        while self._waiting:
            taken = [self._waiting.pop(0)]
            size = len(taken[0][0])
            while self._waiting and size + len(self._waiting[0][0]) <= self.max_calls:
                taken.append(self._waiting.pop(0))
                size += len(taken[-1][0])
            try:
                counts = await ingest_calls(
                    [call for calls, _ in taken for call in calls],
                    client=client, database_url=self.database_url, task_queue=self.task_queue,
                    parts=[calls for calls, _ in taken],
                )  # fmt: skip
            except BaseException as err:  # each request gets it; the flusher goes on
                for _, done in taken:
                    if not done.done():
                        done.set_exception(err)
                if isinstance(err, asyncio.CancelledError):
                    raise
                continue
            for (_, done), count in zip(taken, counts, strict=True):
                if done.done():
                    continue  # the request went away (client gone)
                if isinstance(count, DeliveryFailed):
                    done.set_exception(count)
                else:
                    done.set_result(count)


async def ingest_calls(
    calls: list[SegmentCall], *, client: Client, database_url: str, task_queue: str,
    parts: list[list[SegmentCall]] | None = None, received_at: datetime | None = None,
) -> list[int | DeliveryFailed]:  # fmt: skip
    """Store and deliver `calls`, made of `parts` (the requests; one by default). For each
    part: how many of its events were new to the customers' workflows, or DeliveryFailed if a
    customer it names did not take its signal (its events are not kept). `received_at` is now,
    except in a backtest, where it is the simulated clock."""
    parts = parts if parts is not None else [calls]
    received_at = received_at or datetime.now(UTC)
    for attempt in range(3):
        try:
            rows, events = await asyncio.to_thread(_store, calls, database_url, received_at)
            break
        except IntegrityError:  # a concurrent retry stored the same messageId or identity first
            if attempt == 2:
                raise
    undelivered, inserted, catalog = rows
    by_customer: dict[str, list[CustomerEvent]] = defaultdict(list)
    for message_id in dict.fromkeys(e.message_id for e in undelivered):
        customer_id, event = events[message_id]
        by_customer[customer_id].append(event)
    results = await asyncio.gather(
        *(
            deliver(
                client,
                task_queue=task_queue,
                customer_id=cid,
                events=batch,
                catalog_version=catalog,
            )
            for cid, batch in by_customer.items()
        ),
        return_exceptions=True,
    )
    delivered: set[str] = set()
    for (cid, batch), result in zip(by_customer.items(), results, strict=True):
        if isinstance(result, BaseException):
            log.warning("signal_failed", customer_id=cid, error=str(result))
        else:
            delivered.update(e.message_id for e in batch)
    # a part fails whole when one of its customers was not reached: its events still to
    # deliver are forgotten (inserted now) or stay undelivered, and the client retries
    outcome: list[int | DeliveryFailed] = []
    failed: set[str] = set()
    waiting = {e.message_id for e in undelivered}
    for part in parts:
        ids = {message_id_of(call) for call in part}
        missed = {events[i][0] for i in (ids & waiting) - delivered}  # customers not reached
        if missed:
            failed.update(ids & inserted - delivered)
            outcome.append(DeliveryFailed(f"{len(missed)} customer(s) not reachable"))
        else:
            outcome.append(len(ids & delivered))
    rows = {e.message_id: e for e in undelivered}
    await asyncio.to_thread(
        _settle, database_url, [rows[i] for i in sorted(delivered)], sorted(failed)
    )
    return outcome


def _store(calls: list[SegmentCall], database_url: str, received_at: datetime):  # type: ignore[no-untyped-def]
    """One transaction: resolve identities, store the events. Returns the events to signal."""
    events: dict[str, tuple[str, CustomerEvent]] = {}
    rows: list[Event] = []
    with session_scope(database_url) as session:
        anonymous_only = [c.anonymousId for c in calls if c.anonymousId and not c.userId]
        known = resolve_anonymous(session, anonymous_ids=anonymous_only)
        # customers merged into others (alias): their calls go to the survivor for good
        named = [identified_customer_id(c.userId) for c in calls if c.userId] + list(known.values())
        moved = survivors(session, customer_ids=named)
        for call in calls:
            message_id = message_id_of(call)
            if message_id in events:
                continue
            user = identified_customer_id(call.userId) if call.userId else None
            if user is not None:
                user = moved.get(user, user)
            merge_from = None
            if call.type == "alias":
                assert user and call.previousId
                merge_from = _previous_customer(session, call.previousId)
                link_identity(session, anonymous_id=call.previousId, customer_id=user)
                known[call.previousId] = user
            elif user and call.anonymousId:
                merge_from = anonymous_customer_id(call.anonymousId)
                link_identity(session, anonymous_id=call.anonymousId, customer_id=user)
                known[call.anonymousId] = user
            if user:
                customer_id = user
            else:
                assert call.anonymousId
                customer_id = known.get(call.anonymousId, anonymous_customer_id(call.anonymousId))
                customer_id = moved.get(customer_id, customer_id)
            if merge_from == customer_id:
                merge_from = None  # already one customer (a repeated alias, a merged id)
            timestamp = event_time(call, received_at)
            if call.type == "group" and call.groupId:
                record_group(session, customer_id=customer_id, group_id=call.groupId,
                             traits=call.traits, at=timestamp)  # fmt: skip
            event = CustomerEvent(
                message_id=message_id,
                type=call.type,
                timestamp=timestamp,
                event=call.event,
                name=call.name,
                properties=call.properties,
                traits=call.traits if call.type in ("identify", "group") else {},
                merge_from=merge_from,
            )
            events[message_id] = (customer_id, event)
            rows.append(
                Event(
                    message_id=message_id,
                    customer_id=customer_id,
                    type=call.type,
                    event=call.event,
                    user_id=call.userId,
                    anonymous_id=call.anonymousId,
                    timestamp=timestamp,
                    received_at=received_at,
                    payload=call.model_dump(mode="json", exclude_none=True),
                )
            )
        undelivered, inserted = record_events(session, events=rows)
        catalog = catalog_version(session)  # customers load newer journeys when they see it
    return (undelivered, inserted, catalog), events


def _previous_customer(session, previous_id: str) -> str:  # type: ignore[no-untyped-def]
    """The customer an alias's previousId names: an anonymous one, else an identified one."""
    candidates = [anonymous_customer_id(previous_id), identified_customer_id(previous_id)]
    found = set(
        session.exec(
            select(Event.customer_id).where(col(Event.customer_id).in_(candidates)).limit(2)
        )
    )
    return next((c for c in candidates if c in found), candidates[0])


def _settle(database_url: str, delivered: list[Event], failed: list[str]) -> None:
    with session_scope(database_url) as session:
        mark_delivered(session, events=delivered)
        forget_undelivered(session, message_ids=failed)
