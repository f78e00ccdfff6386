"""Membership: entries and exits stored with their times, re-entry keeps the history, retries
and a second writer change nothing twice; the batch refresh and a customer's own evaluation
agree. On SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

from journeys.activities.segments import evaluate_customer, refresh_memberships
from journeys.segments.definition import parse_definition
from journeys.store.customers import record_stage
from journeys.store.db import session_scope
from journeys.store.models import Customer, Event
from journeys.store.segments import (
    apply_membership,
    changes_at,
    customer_memberships,
    member_ids,
    save_segment,
    set_segment_status,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
UK = parse_definition({"name": "uk", "condition": {"field": "traits.country", "eq": "GB"}})
LOYAL = parse_definition({"name": "loyal", "condition": {"field": "stage", "in": ["loyalty"]}})
VIEWERS = parse_definition(
    {
        "name": "viewers",
        "condition": {"field": "events.count", "event": "Product Viewed", "within": "7d", "gte": 2},
    }
)


def _customer(url: str, customer_id: str, **traits: object) -> None:
    with session_scope(url) as session:
        session.add(Customer(customer_id=customer_id, traits=traits, created_at=T0, updated_at=T0))


def _view(url: str, customer_id: str, n: int, at: datetime) -> None:
    with session_scope(url) as session:
        session.add(
            Event(message_id=f"{customer_id}-{n}", customer_id=customer_id, type="track",
                  event="Product Viewed", timestamp=at, received_at=at)
        )  # fmt: skip


def _evaluate(url: str, customer_id: str, stage: str, at: datetime):  # type: ignore[no-untyped-def]
    with session_scope(url) as session:
        return evaluate_customer(session, customer_id=customer_id, stage=stage, at=at)


def test_enter_exit_and_reenter_keep_history(database_url: str) -> None:
    with session_scope(database_url) as session:
        save_segment(session, definition=LOYAL)
    first = _evaluate(database_url, "u1", "loyalty", T0)
    assert [(c.segment, c.change, c.at) for c in first.changes] == [("loyal", "entered", T0)]
    assert first.segments == ["loyal"]
    assert _evaluate(database_url, "u1", "loyalty", T0 + timedelta(hours=1)).changes == []
    left = _evaluate(database_url, "u1", "advocacy", T0 + timedelta(days=1))
    assert [(c.change, c.at) for c in left.changes] == [("exited", T0 + timedelta(days=1))]
    assert left.segments == []
    back = _evaluate(database_url, "u1", "loyalty", T0 + timedelta(days=2))
    assert [c.change for c in back.changes] == ["entered"]
    with session_scope(database_url) as session:
        stays = customer_memberships(session, customer_id="u1", history=True)
        assert session.get(Customer, "u1").stage == "loyalty"  # type: ignore[union-attr]
    assert [(s.entered_at, s.exited_at) for s in stays] == [
        (T0, T0 + timedelta(days=1)),
        (T0 + timedelta(days=2), None),
    ]


def test_a_redefined_segment_is_evaluated_by_its_new_condition(database_url: str) -> None:
    _customer(database_url, "u3", country="FR")
    with session_scope(database_url) as session:
        save_segment(session, definition=UK)
    assert _evaluate(database_url, "u3", "loyalty", T0).segments == []
    europe = {"name": "uk", "condition": {"field": "traits.country", "in": ["GB", "FR"]}}
    with session_scope(database_url) as session:
        save_segment(session, definition=parse_definition(europe))
    later = _evaluate(database_url, "u3", "loyalty", T0 + timedelta(hours=1))
    assert later.segments == ["uk"]
    assert [c.change for c in later.changes] == ["entered"]


def test_a_retry_returns_the_same_changes_and_no_new_ones(database_url: str) -> None:
    _customer(database_url, "u2", country="GB")
    with session_scope(database_url) as session:
        save_segment(session, definition=UK)
        save_segment(session, definition=LOYAL)
    first = _evaluate(database_url, "u2", "loyalty", T0)
    retry = _evaluate(database_url, "u2", "loyalty", T0)
    assert first == retry
    assert {(c.segment, c.change) for c in first.changes} == {("uk", "entered"),
                                                              ("loyal", "entered")}  # fmt: skip
    ids = {c.message_id("u2") for c in first.changes}
    assert len(ids) == 2
    with session_scope(database_url) as session:
        assert len(customer_memberships(session, customer_id="u2", history=True)) == 2


def test_a_second_writer_changes_nothing_twice(database_url: str) -> None:
    with session_scope(database_url) as session:
        made = apply_membership(session, segment="s", entered=["a", "b"], exited=[], at=T0)
        again = apply_membership(session, segment="s", entered=["a", "b", "c"],
                                 exited=["zz"], at=T0 + timedelta(seconds=1))  # fmt: skip
        gone = apply_membership(session, segment="s", entered=[], exited=["a"], at=T0)
        gone_again = apply_membership(session, segment="s", entered=[], exited=["a"], at=T0)
        assert member_ids(session, segment="s") == {"b", "c"}
    assert [c.customer_id for c in made] == ["a", "b"]
    assert [c.customer_id for c in again] == ["c"]
    assert [c.change for c in gone] == ["exited"] and gone_again == []


def test_batch_refresh_and_customer_evaluation_agree_and_archive_empties(
    database_url: str,
) -> None:
    for n, country in enumerate(["GB", "GB", "FR"]):
        _customer(database_url, f"b{n}", country=country)
    _view(database_url, "b2", 1, T0 - timedelta(days=1))
    _view(database_url, "b2", 2, T0 - timedelta(days=2))
    _view(database_url, "anon-x", 3, T0 - timedelta(days=1))  # no profile yet
    _view(database_url, "anon-x", 4, T0 - timedelta(days=1, hours=1))
    with session_scope(database_url) as session:
        for definition in (UK, VIEWERS):
            save_segment(session, definition=definition)
        record_stage(session, customer_id="b0", stage="loyalty")
    list(refresh_memberships(database_url, as_of=T0))
    with session_scope(database_url) as session:
        assert member_ids(session, segment="uk") == {"b0", "b1"}
        assert member_ids(session, segment="viewers") == {"b2", "anon-x"}
        stamped = changes_at(session, at=T0)
    assert len(stamped) == 4 and {c.change for c in stamped} == {"entered"}
    # the customer's own evaluation at the same instant finds nothing new
    assert _evaluate(database_url, "b2", "awareness", T0).segments == ["viewers"]
    # a week later the views are out of the window: the batch says b2 and anon-x left
    later = T0 + timedelta(days=7)
    list(refresh_memberships(database_url, as_of=later))
    with session_scope(database_url) as session:
        assert member_ids(session, segment="viewers") == set()
        assert {(c.customer_id, c.change) for c in changes_at(session, at=later)} == {
            ("b2", "exited"), ("anon-x", "exited"),
        }  # fmt: skip
        set_segment_status(session, name="uk", status="archived")
    end = later + timedelta(hours=1)
    list(refresh_memberships(database_url, as_of=end))
    with session_scope(database_url) as session:
        assert member_ids(session, segment="uk") == set()
        assert len(changes_at(session, at=end)) == 2
    # the customer path makes a customer leave an archived segment as well
    with session_scope(database_url) as session:
        set_segment_status(session, name="uk", status="active")
    assert _evaluate(database_url, "b0", "loyalty", end + timedelta(hours=1)).segments == ["uk"]
    with session_scope(database_url) as session:
        set_segment_status(session, name="uk", status="archived")
    result = _evaluate(database_url, "b0", "loyalty", end + timedelta(hours=2))
    assert [(c.segment, c.change) for c in result.changes] == [("uk", "exited")]


def test_a_store_made_before_segments_gets_the_stage_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE customer (customer_id VARCHAR(300) PRIMARY KEY, traits JSON NOT NULL,"
            " merged_into VARCHAR(300), created_at DATETIME NOT NULL,"
            " updated_at DATETIME NOT NULL)"
        )
    url = f"sqlite:///{path}"
    with session_scope(url) as session:
        record_stage(session, customer_id="old-1", stage="loyalty")
    with session_scope(url) as session:
        assert session.get(Customer, "old-1").stage == "loyalty"  # type: ignore[union-attr]
