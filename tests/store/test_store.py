"""The store's data functions on SQLite and on a real PostgreSQL server (see tests/conftest.py).

Each step runs in its own `session_scope`, as the API and activities do, and reads back through a
new session, so what is checked is what the database holds.
"""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlmodel import func, select

from journeys.store.customers import (
    customer_epoch,
    link_identity,
    merge_customers,
    record_order,
    record_stage_entries,
    resolve_anonymous,
    survivors,
    upsert_traits,
)
from journeys.store.db import session_scope
from journeys.store.events import customer_events, forget_undelivered, mark_delivered, record_events
from journeys.store.inspect import customer_story
from journeys.store.journey_runs import journey_events, record_journey_event, record_journey_events
from journeys.store.models import Customer, Decision, Event, Identity, Message, Order, StageEntry
from journeys.vocabulary.customer_types import StageChange
from journeys.vocabulary.events import Stage
from journeys.vocabulary.journey_types import JourneyRecordInput

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def event(message_id: str, customer_id: str = "user-1", **overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "message_id": message_id,
        "customer_id": customer_id,
        "type": "track",
        "event": "Product Viewed",
        "user_id": customer_id,
        "timestamp": T0,
        "received_at": T0,
        "payload": {"messageId": message_id, "type": "track"},
    }
    return Event(**{**fields, **overrides})


def record(url: str, *events: Event) -> tuple[list[str], set[str]]:
    with session_scope(url) as session:
        undelivered, inserted = record_events(session, events=list(events))
    return [e.message_id for e in undelivered], inserted


def count(url: str, table: type) -> int:
    with session_scope(url) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def stored_event(url: str, message_id: str) -> Event | None:
    with session_scope(url) as session:
        return session.get(Event, message_id)


# Events: idempotent on messageId, delivered once.


def test_record_events_inserts_new_events_and_returns_them_to_signal(database_url: str) -> None:
    assert record(database_url, event("m1"), event("m2")) == (["m1", "m2"], {"m1", "m2"})
    assert count(database_url, Event) == 2
    stored = stored_event(database_url, "m1")
    assert stored is not None and stored.delivered_at is None and stored.customer_id == "user-1"


def test_retry_of_a_delivered_event_inserts_nothing_and_signals_nothing(database_url: str) -> None:
    record(database_url, event("m1"))
    with session_scope(database_url) as session:
        mark_delivered(session, events=[event("m1")])

    assert record(database_url, event("m1", payload={"changed": True})) == ([], set())
    assert count(database_url, Event) == 1
    stored = stored_event(database_url, "m1")
    assert stored is not None and stored.payload == {"messageId": "m1", "type": "track"}


def test_undelivered_stored_event_is_returned_again_for_signalling(database_url: str) -> None:
    record(database_url, event("m1"))  # stored, but the signal never succeeded

    undelivered, inserted = record(database_url, event("m1"))
    assert undelivered == ["m1"]
    assert inserted == set()  # not ours to remove if this signal fails too
    assert count(database_url, Event) == 1


def test_mixed_batch_signals_new_and_undelivered_but_not_delivered(database_url: str) -> None:
    record(database_url, event("delivered"), event("pending"))
    with session_scope(database_url) as session:
        mark_delivered(session, events=[event("delivered")])

    undelivered, inserted = record(database_url, event("delivered"), event("pending"), event("new"))
    assert undelivered == ["pending", "new"]
    assert inserted == {"new"}
    assert count(database_url, Event) == 3


def test_a_failed_signal_never_removes_an_event_another_request_delivered(
    database_url: str,
) -> None:
    """Two requests with one messageId at once: A inserts the row, B finds it undelivered and
    signals too; A's signal fails and B's succeeds. Whichever settles first, the event the
    customer got stays stored and delivered."""
    for first in ("failed", "delivered"):
        message_id = f"race-{first}"
        assert record(database_url, event(message_id)) == ([message_id], {message_id})  # A
        assert record(database_url, event(message_id)) == ([message_id], set())  # B
        for settle in ("forget", "mark") if first == "failed" else ("mark", "forget"):
            with session_scope(database_url) as session:
                if settle == "forget":  # A's signal failed
                    forget_undelivered(session, message_ids=[message_id])
                else:  # B's signal reached the customer
                    mark_delivered(session, events=[event(message_id)])
        stored = stored_event(database_url, message_id)
        assert stored is not None and stored.delivered_at is not None, first
        assert stored.payload == {"messageId": message_id, "type": "track"}
    assert count(database_url, Event) == 2


def test_mark_delivered_sets_an_aware_delivery_time(database_url: str) -> None:
    record(database_url, event("m1"), event("m2"))
    before = datetime.now(UTC)
    with session_scope(database_url) as session:
        mark_delivered(session, events=[event("m1")])
        mark_delivered(session, events=[])  # nothing to do
    after = datetime.now(UTC)

    m1, m2 = stored_event(database_url, "m1"), stored_event(database_url, "m2")
    assert m1 is not None and m1.delivered_at is not None
    assert m1.delivered_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= m1.delivered_at <= after + timedelta(seconds=1)
    assert m2 is not None and m2.delivered_at is None


def test_forget_undelivered_removes_only_undelivered_rows(database_url: str) -> None:
    record(database_url, event("delivered"), event("failed"), event("other"))
    with session_scope(database_url) as session:
        mark_delivered(session, events=[event("delivered")])
    with session_scope(database_url) as session:
        forget_undelivered(session, message_ids=["delivered", "failed", "unknown"])
        forget_undelivered(session, message_ids=[])

    assert stored_event(database_url, "delivered") is not None
    assert stored_event(database_url, "failed") is None
    assert stored_event(database_url, "other") is not None  # not named: untouched
    # The client's retry of the failed one is a fresh insert again.
    assert record(database_url, event("failed")) == (["failed"], {"failed"})


def test_failed_transaction_stores_nothing(database_url: str) -> None:
    with pytest.raises(RuntimeError), session_scope(database_url) as session:
        record_events(session, events=[event("m1")])
        raise RuntimeError("signal failed before commit")
    assert count(database_url, Event) == 0


def test_customer_events_are_the_customers_own_in_time_order(database_url: str) -> None:
    record(
        database_url,
        event("late", timestamp=T0 + timedelta(hours=1)),
        event("early", timestamp=T0 - timedelta(hours=1)),
        event("someone-else", customer_id="user-2"),
        event("middle", timestamp=T0),
    )
    with session_scope(database_url) as session:
        got = [e.message_id for e in customer_events(session, customer_id="user-1")]
    assert got == ["early", "middle", "late"]


# Timestamps and JSON.


def test_timestamps_round_trip_as_the_same_aware_instant(database_url: str) -> None:
    # 10:30 at +02:00 is 08:30 UTC; the offset must not be dropped (nor the value made naive).
    local = datetime(2026, 3, 1, 10, 30, 15, 123456, tzinfo=PLUS_TWO)
    record(database_url, event("m1", timestamp=local, received_at=T0))

    stored = stored_event(database_url, "m1")
    assert stored is not None
    for value, expected in ((stored.timestamp, local), (stored.received_at, T0)):
        assert value.tzinfo is not None, "naive datetime read back"
        assert value == expected  # the same instant
        assert value.utcoffset() == timedelta(0)  # normalised to UTC on every back-end


def test_events_with_different_offsets_sort_by_instant(database_url: str) -> None:
    record(
        database_url,
        event("second", timestamp=datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
        event("first", timestamp=datetime(2026, 3, 1, 10, 0, tzinfo=PLUS_TWO)),  # 08:00 UTC
    )
    with session_scope(database_url) as session:
        got = [e.message_id for e in customer_events(session, customer_id="user-1")]
    assert got == ["first", "second"]


def test_naive_timestamps_are_taken_as_utc(database_url: str) -> None:
    record(database_url, event("m1", timestamp=datetime(2026, 3, 1, 12, 0)))
    stored = stored_event(database_url, "m1")
    assert stored is not None and stored.timestamp == T0


def test_json_payload_round_trips(database_url: str) -> None:
    payload = {
        "messageId": "m1",
        "type": "track",
        "event": "Order Completed",
        "properties": {
            "total": 19.99,
            "count": 3,
            "gift": False,
            "coupon": None,
            "tags": ["a", "b"],
            "products": [{"product_id": "p1", "price": 9.5, "name": "Café ☕ 日本"}],
        },
        "context": {"nested": {"deeper": {"emoji": "🚀", "quote": 'it\'s "quoted"'}}},
    }
    record(database_url, event("m1", payload=payload))
    stored = stored_event(database_url, "m1")
    assert stored is not None and stored.payload == payload


# Identities.


def test_link_identity_is_new_once_and_keeps_the_first_customer(database_url: str) -> None:
    with session_scope(database_url) as session:
        assert link_identity(session, anonymous_id="anon-1", customer_id="user-1") is True
    with session_scope(database_url) as session:
        assert link_identity(session, anonymous_id="anon-1", customer_id="user-1") is False
        assert link_identity(session, anonymous_id="anon-1", customer_id="user-2") is False
    with session_scope(database_url) as session:
        identity = session.get(Identity, "anon-1")
        assert identity is not None and identity.customer_id == "user-1"
        assert identity.linked_at.tzinfo is not None
    assert count(database_url, Identity) == 1


def test_link_identity_twice_in_one_session(database_url: str) -> None:
    with session_scope(database_url) as session:
        assert link_identity(session, anonymous_id="anon-1", customer_id="user-1") is True
        assert link_identity(session, anonymous_id="anon-1", customer_id="user-1") is False
    assert count(database_url, Identity) == 1


def test_resolve_anonymous_maps_only_linked_ids(database_url: str) -> None:
    with session_scope(database_url) as session:
        link_identity(session, anonymous_id="anon-1", customer_id="user-1")
        link_identity(session, anonymous_id="anon-2", customer_id="user-2")
    with session_scope(database_url) as session:
        assert resolve_anonymous(session, anonymous_ids=["anon-1", "anon-2", "anon-3"]) == {
            "anon-1": "user-1",
            "anon-2": "user-2",
        }
        assert resolve_anonymous(session, anonymous_ids=["anon-3"]) == {}
        assert resolve_anonymous(session, anonymous_ids=[]) == {}


# Profiles and orders.


def test_upsert_traits_creates_then_merges(database_url: str) -> None:
    with session_scope(database_url) as session:
        upsert_traits(
            session, customer_id="user-1", traits={"email": "a@example.com", "plan": "free"}
        )
    with session_scope(database_url) as session:
        first = session.get(Customer, "user-1")
        assert first is not None
        created, first_update = first.created_at, first.updated_at
    with session_scope(database_url) as session:
        upsert_traits(
            session, customer_id="user-1", traits={"plan": "pro", "address": {"city": "Zürich"}}
        )

    with session_scope(database_url) as session:
        customer = session.get(Customer, "user-1")
        assert customer is not None
        assert customer.traits == {
            "email": "a@example.com",
            "plan": "pro",
            "address": {"city": "Zürich"},
        }
        assert customer.created_at == created
        assert customer.updated_at >= first_update
        assert customer.created_at.tzinfo is not None and customer.updated_at.tzinfo is not None
        assert customer.merged_into is None
    assert count(database_url, Customer) == 1


def test_record_order_stores_once(database_url: str) -> None:
    at = datetime(2026, 3, 1, 14, 0, tzinfo=PLUS_TWO)
    products = [{"product_id": "p1", "quantity": 2, "price": 5.0}]
    with session_scope(database_url) as session:
        record_order(
            session,
            order_id="o1",
            customer_id="user-1",
            properties={"total": "12.50", "currency": "EUR", "products": products},
            at=at,
        )
    with session_scope(database_url) as session:  # a replayed activity
        record_order(session, order_id="o1", customer_id="user-1", properties={"total": 99}, at=T0)
        record_order(session, order_id="o2", customer_id="user-1", properties={"revenue": 7}, at=T0)

    with session_scope(database_url) as session:
        order = session.get(Order, "o1")
        assert order is not None
        assert (order.total, order.currency, order.products) == (12.5, "EUR", products)
        assert order.created_at == at and order.created_at.tzinfo is not None
        other = session.get(Order, "o2")
        assert other is not None and (other.total, other.currency, other.products) == (
            7.0,
            "USD",
            [],
        )
    assert count(database_url, Order) == 2


# Merges.


def test_merge_customers_moves_everything_to_the_target(database_url: str) -> None:
    source, target = "anonymous:anon-1", "user-1"
    with session_scope(database_url) as session:
        upsert_traits(session, customer_id=source, traits={"color": "blue", "plan": "trial"})
        upsert_traits(session, customer_id=target, traits={"email": "a@example.com", "plan": "pro"})
        record_events(
            session, events=[event("s1", source), event("s2", source), event("t1", target)]
        )
        record_order(session, order_id="o1", customer_id=source, properties={"total": 3}, at=T0)
        link_identity(session, anonymous_id="anon-1", customer_id=source)
        record_events(session, events=[event("x1", "bystander")])

    with session_scope(database_url) as session:
        merge_customers(session, source_id=source, target_id=target)

    with session_scope(database_url) as session:
        moved = {e.message_id for e in customer_events(session, customer_id=target)}
        assert moved == {"s1", "s2", "t1"}
        assert customer_events(session, customer_id=source) == []
        assert [e.message_id for e in customer_events(session, customer_id="bystander")] == ["x1"]
        order = session.get(Order, "o1")
        assert order is not None and order.customer_id == target
        assert resolve_anonymous(session, anonymous_ids=["anon-1"]) == {"anon-1": target}
        merged_target = session.get(Customer, target)
        assert merged_target is not None
        # The source's traits join the target's; the target's own values win.
        assert merged_target.traits == {"email": "a@example.com", "plan": "pro", "color": "blue"}
        merged_source = session.get(Customer, source)
        assert merged_source is not None and merged_source.merged_into == target

    # A replayed merge activity changes nothing.
    with session_scope(database_url) as session:
        merge_customers(session, source_id=source, target_id=target)
    with session_scope(database_url) as session:
        again = session.get(Customer, target)
        assert again is not None and again.traits == merged_target.traits
        assert len(customer_events(session, customer_id=target)) == 3


def test_merge_into_a_customer_without_profile_creates_it(database_url: str) -> None:
    with session_scope(database_url) as session:
        upsert_traits(session, customer_id="anonymous:a", traits={"color": "blue"})
        record_events(session, events=[event("s1", "anonymous:a")])
    with session_scope(database_url) as session:
        merge_customers(session, source_id="anonymous:a", target_id="user-9")
    with session_scope(database_url) as session:
        target = session.get(Customer, "user-9")
        assert target is not None and target.traits == {"color": "blue"}
        assert [e.message_id for e in customer_events(session, customer_id="user-9")] == ["s1"]


def test_merge_of_a_source_without_profile_still_moves_its_events(database_url: str) -> None:
    with session_scope(database_url) as session:
        record_events(session, events=[event("s1", "anonymous:a")])
    with session_scope(database_url) as session:
        merge_customers(session, source_id="anonymous:a", target_id="user-1")
    with session_scope(database_url) as session:
        assert [e.message_id for e in customer_events(session, customer_id="user-1")] == ["s1"]
        source = session.get(Customer, "anonymous:a")  # remembered, so calls are routed on
        assert source is not None and (source.merged_into, source.traits) == ("user-1", {})
        assert survivors(session, customer_ids=["anonymous:a", "user-1"]) == {
            "anonymous:a": "user-1"
        }


def test_stage_entries_are_kept_once_across_retries_and_offsets(database_url: str) -> None:
    """The customer's store activity is retried whole: its stage entries land once, also when
    the same instant comes back in another UTC offset."""
    at = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    entries = [
        StageChange(stage=Stage.AWARENESS, at=at, cause="first_seen"),
        StageChange(stage=Stage.CONSIDERATION, at=at + timedelta(minutes=1), cause="page"),
        StageChange(stage=Stage.CONSIDERATION, at=at + timedelta(minutes=1), cause="page"),
    ]
    plus_two = timezone(timedelta(hours=2))
    again = [e.model_copy(update={"at": e.at.astimezone(plus_two)}) for e in entries]
    for attempt in (entries, again):
        with session_scope(database_url) as session:
            record_stage_entries(session, customer_id="c1", entries=attempt, previous=None)
    with session_scope(database_url) as session:
        rows = session.exec(select(StageEntry).order_by(StageEntry.at)).all()
        customer = session.get(Customer, "c1")
        stage = customer.stage if customer else None
    assert [(r.stage, r.previous) for r in rows] == [
        ("awareness", None), ("consideration", "awareness"),
    ]  # fmt: skip
    assert stage == "consideration"


MERGED_AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def merged_moves(database_url: str, identified_moved_to: Stage) -> list[tuple[str, str | None]]:
    """(stage, previous) of each entry once the identified customer's own history (first seen
    an hour in, then `identified_moved_to`) and then the joined one (the anonymous visit first
    seen earlier, in consideration after five minutes) are written; the latter's write retried."""
    at = MERGED_AT
    own = [
        StageChange(stage=Stage.AWARENESS, at=at + timedelta(hours=1), cause="first_seen"),
        StageChange(stage=identified_moved_to, at=at + timedelta(hours=2), cause="Product Added"),
    ]
    joined = [
        StageChange(stage=Stage.AWARENESS, at=at, cause="first_seen"),  # the anonymous visit
        StageChange(stage=Stage.CONSIDERATION, at=at + timedelta(minutes=5), cause="page"),
        *own[1:],
    ]
    for entries in (own, joined, joined):
        with session_scope(database_url) as session:
            record_stage_entries(session, customer_id="c1", entries=entries, previous=None)
    with session_scope(database_url) as session:
        rows = session.exec(select(StageEntry).order_by(StageEntry.at)).all()
        return [(r.stage, r.previous) for r in rows]


def test_a_merged_stage_history_names_the_stage_each_entry_came_from(database_url: str) -> None:
    """Before the merge the identified customer moved awareness -> decision; in the joined
    history the anonymous visit's consideration came between, and the entry says so (it showed
    `awareness -> decision` after `awareness -> consideration` in `journeys inspect`)."""
    assert merged_moves(database_url, Stage.DECISION) == [
        ("awareness", None), ("consideration", "awareness"), ("decision", "consideration"),
    ]  # fmt: skip


def test_a_merged_stage_history_has_no_move_from_a_stage_to_itself(database_url: str) -> None:
    """The anonymous visit reached consideration before the identified customer did: in the
    joined history the customer never left it, so the identified customer's own entry is no
    move (the funnel counted `consideration -> consideration` once, seen with `journeys
    simulate`)."""
    assert merged_moves(database_url, Stage.CONSIDERATION) == [
        ("awareness", None), ("consideration", "awareness"),
    ]  # fmt: skip
    with session_scope(database_url) as session:
        customer = session.get(Customer, "c1")
    assert customer is not None and customer.stage == "consideration"


def test_a_merged_stage_history_keeps_one_first_sighting(database_url: str) -> None:
    """A merge writes the joined history again, whose first sighting is the earlier of the two
    customers'; the identified customer's own, later one goes (`journeys inspect` showed both),
    and a later life (the workflow recreated) adds none."""
    at = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    own = [StageChange(stage=Stage.AWARENESS, at=at + timedelta(hours=1), cause="first_seen")]
    joined = [
        StageChange(stage=Stage.AWARENESS, at=at, cause="first_seen"),  # the anonymous visit
        StageChange(stage=Stage.CONSIDERATION, at=at + timedelta(minutes=5), cause="page"),
        StageChange(stage=Stage.DECISION, at=at + timedelta(hours=2), cause="merge"),
    ]
    new_life = [StageChange(stage=Stage.AWARENESS, at=at + timedelta(days=9), cause="first_seen")]
    for entries in (own, joined, joined, new_life):  # the joined history's write retried
        with session_scope(database_url) as session:
            record_stage_entries(session, customer_id="c1", entries=entries, previous=None)
    with session_scope(database_url) as session:
        rows = session.exec(select(StageEntry).order_by(StageEntry.at)).all()

    def utc(moment: datetime) -> datetime:  # SQLite's come back naive
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    assert [(utc(r.at), r.stage, r.cause) for r in rows] == [
        (at, "awareness", "first_seen"),
        (at + timedelta(minutes=5), "consideration", "page"),
        (at + timedelta(hours=2), "decision", "merge"),
    ]


def test_a_customer_s_lives_are_numbered_once_each(database_url: str) -> None:
    """A retried start (same lineage) keeps its number; a recreated customer takes the next;
    each customer counts its own."""
    with session_scope(database_url) as session:
        first = customer_epoch(session, customer_id="c1", lineage="run-a")
        again = customer_epoch(session, customer_id="c1", lineage="run-a")
        other = customer_epoch(session, customer_id="c2", lineage="run-x")
    with session_scope(database_url) as session:
        second = customer_epoch(session, customer_id="c1", lineage="run-b")
    assert (first, again, other, second) == (1, 1, 1, 2)


def test_a_runs_records_are_written_once_however_often_they_come(database_url: str) -> None:
    """A retried activity brings the same records again (and a send its step's record after
    its run wrote the others): each (run, seq) is stored once, the first time, and the caller
    learns which were new."""
    at = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    records = [
        JourneyRecordInput(
            workflow_id="journey-w-c1-1",
            seq=seq,
            customer_id="c1",
            journey="w",
            version=1,
            kind=kind,
            step=step,
            detail=detail,
            at=at,
        )  # fmt: skip
        for seq, kind, step, detail in [
            (1, "entered", None, "v1"),
            (2, "step", "hello", "email sent"),
        ]
    ]
    with session_scope(database_url) as session:
        assert record_journey_events(session, records=records) == records
    again = records[1].model_copy(update={"detail": "email failed"})  # a retry's own words
    third = records[1].model_copy(update={"seq": 3, "step": "rest", "detail": ""})
    with session_scope(database_url) as session:
        assert record_journey_events(session, records=[records[0], again, third, third]) == [third]
        assert not record_journey_event(session, record=records[0])
    with session_scope(database_url) as session:
        stored = journey_events(session, workflow_id="journey-w-c1-1")
    assert [(r.seq, r.kind, r.step, r.detail, r.at) for r in stored] == [
        (1, "entered", None, "v1", at),
        (2, "step", "hello", "email sent", at),
        (3, "step", "rest", "", at),
    ]


def test_a_customer_story_tells_what_its_merged_visits_got(database_url: str) -> None:
    """A merge moves events, orders and identities; the journey records, messages and decisions
    of an anonymous visit keep its id. `journeys inspect` of the identified customer showed
    neither the visit's welcome run nor its popover; it reads them through the merges now (two
    hops: a visit merged into a visit merged into the customer), and nobody else's."""
    visits = {"anonymous:z": "anonymous:a", "anonymous:a": "user-1", "anonymous:x": None}
    with session_scope(database_url) as session:
        upsert_traits(session, customer_id="user-1", traits={})
        for visit in visits:
            run = f"journey-welcome-{visit}-1"
            record = JourneyRecordInput(
                workflow_id=run, seq=1, customer_id=visit, journey="welcome", version=1,
                kind="entered", at=T0,
            )  # fmt: skip
            record_journey_events(session, records=[record])
            session.add(Message(idempotency_key=f"{run}:hello", customer_id=visit,
                                journey="welcome", step="hello", channel="popover",
                                template="welcome_popover", created_at=T0))  # fmt: skip
            session.add(Decision(decision_id=f"{run}:pick", workflow_id=run, customer_id=visit,
                                 journey="welcome", version=1, step="pick", at=T0))  # fmt: skip
    for source, target in visits.items():
        if target is not None:
            with session_scope(database_url) as session:
                merge_customers(session, source_id=source, target_id=target)
    with session_scope(database_url) as session:
        story = customer_story(session, "user-1")
    merged = ["journey-welcome-anonymous:a-1", "journey-welcome-anonymous:z-1"]
    assert sorted(run["workflow_id"] for run in story["runs"]) == merged
    assert [m["template"] for m in story["messages"]] == ["welcome_popover"] * 2
    assert [d["step"] for d in story["decisions"]] == ["pick", "pick"]
