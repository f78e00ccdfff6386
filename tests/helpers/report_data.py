"""A small store with known report figures (worked out by hand in the comments), shared by the
KPI, API, CLI and browser tests.

Journey `cart` (v1: grace → split (experiment a/b, weights 1:1) → email; v2: the same):
  run  customer  entered (UTC)      steps                      end
  r1   c1        Mon 01-05 10:00    grace, split a, email      converted
  r2   c2        Tue 01-06 10:00    grace, split a, email      completed
  r3   c3        Wed 01-07 10:00    grace, split b, email      converted
  r4   c4        Mon 01-12 02:00    grace, split b, email      converted  (Sun 21:00 in New York)
  r5   c5        Tue 01-13 10:00    grace                      exited
  r6   c6        Wed 01-14 10:00    grace (interrupted)        converted
  r7   c7 (v2)   Thu 01-15 10:00    grace, split a             completed
Journey `welcome`: r8 c1 Mon 01-05 10:00, hello, completed.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from journeys.store.db import session_scope
from journeys.store.models import (
    Customer,
    Event,
    Journey,
    JourneyEvent,
    JourneyVersion,
    Order,
    SegmentMembership,
    StageEntry,
)

ADMIN_KEY = "admin-secret"


def at(day: int, hour: int = 10, month: int = 1, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


CART_SPEC: dict[str, Any] = {
    "name": "cart",
    "trigger": {"event": "Checkout Started"},
    "goal": {"event": "Order Completed", "within": "7d"},
    "steps": [
        {"id": "grace", "kind": "wait", "duration": "1h"},
        {
            "id": "split",
            "kind": "experiment",
            "variants": [
                {"name": "a", "weight": 1, "goto": "email"},
                {"name": "b", "weight": 1, "goto": "email"},
            ],
        },  # fmt: skip
        {"id": "email", "kind": "send", "channel": "email", "template": "cart_recovery_email"},
    ],
}
# v2 adds a reminder after the email that none of the runs below reached
CART_SPEC_V2: dict[str, Any] = {**CART_SPEC, "steps": [
    *CART_SPEC["steps"],
    {"id": "reminder", "kind": "send", "channel": "sms", "template": "cart_recovery_sms"},
]}  # fmt: skip

RUNS = [  # (journey, version, customer, run, entered, steps, end)
    ("cart", 1, "c1", 1, at(5), [("grace", ""), ("split", "variant a"), ("email", "sent")],
     "converted"),
    ("cart", 1, "c2", 2, at(6), [("grace", ""), ("split", "variant a"), ("email", "sent")],
     "completed"),
    ("cart", 1, "c3", 3, at(7), [("grace", ""), ("split", "variant b"), ("email", "sent")],
     "converted"),
    ("cart", 1, "c4", 4, at(12, 2), [("grace", ""), ("split", "variant b"), ("email", "sent")],
     "converted"),
    ("cart", 1, "c5", 5, at(13), [("grace", "")], "exited"),
    ("cart", 1, "c6", 6, at(14), [("grace", "interrupted: converted")], "converted"),
    ("cart", 2, "c7", 7, at(15), [("grace", ""), ("split", "variant a")], "completed"),
    ("welcome", 1, "c1", 1, at(5), [("hello", "sent")], "completed"),
]  # fmt: skip

MEMBERSHIPS = [  # (segment, customer, entered, exited)
    ("vip", "c1", at(1), None),  # r1 and r8 count
    ("vip", "c2", at(1), at(6)),  # left the instant r2 entered: r2 does not count
    ("vip", "c3", at(8), at(20)),  # joined after r3 entered
    ("vip", "c4", at(1), at(12, 3)),  # r4 (02:00) counts
    ("vip", "c5", at(1), at(13, 9)),  # left an hour before r5
    ("vip", "c6", at(14), None),  # joined the instant r6 entered: counts
    ("newbies", "c7", at(1), None),  # r7 counts
]

T0 = at(1, 0, month=3)
STAGES = [  # (customer, days after T0, stage, previous)
    ("f1", 0, "awareness", None),
    ("f1", 2, "consideration", "awareness"),
    ("f1", 3, "decision", "consideration"),
    ("f1", 4, "onboarding", "decision"),
    ("f1", 10, "loyalty", "onboarding"),
    ("f1", 20, "consideration", "loyalty"),  # back again
    ("f2", 0, "awareness", None),
    ("f2", 4, "consideration", "awareness"),
    ("f3", 0, "awareness", None),
    ("f4", 0, "consideration", None),
    ("f4", 1, "decision", "consideration"),
    ("f5", 0, "awareness", None),
    ("f5", 0, "consideration", "awareness"),  # the same instant, recorded after
]

NPS = [  # (messageId, customer, at, score)
    ("n1", "c1", at(10), 10),  # cart (r1) and welcome (r8)
    ("n2", "c2", at(10), 7),  # cart (r2)
    ("n3", "c3", at(1, month=3), 9),  # r3 was 53 days before: no journey
    ("n4", "c9", at(13), 8),  # no runs
    ("n5", "c4", at(13), "9"),  # not a number: ignored
    ("n6", "c5", at(12), 3),  # r5 entered the next day: no journey
    ("n8", "c7", at(15) + timedelta(days=30), 10),  # exactly 30 days after r7: cart
]

ORDERS = [  # (order, customer, total, at)
    ("o1", "c1", 100.0, at(5)),
    ("o2", "c1", 50.0, at(20)),
    ("o3", "c2", 30.0, at(6)),
    ("o4", "c3", 20.0, at(7)),
    ("o5", "c4", 200.0, at(12)),
]


def seed(url: str) -> None:
    with session_scope(url) as session:
        session.add(Journey(name="cart", latest_version=2, created_at=at(1), updated_at=at(1)))
        session.add(Journey(name="welcome", latest_version=1, created_at=at(1), updated_at=at(1)))
        for version, spec in ((1, CART_SPEC), (2, CART_SPEC_V2)):
            session.add(JourneyVersion(name="cart", version=version, spec=spec,
                                       content_hash=str(version), published_at=at(1)))  # fmt: skip
        welcome = {"name": "welcome", "trigger": {"event": "page"},
                   "steps": [{"id": "hello", "kind": "wait", "duration": "1h"}]}  # fmt: skip
        session.add(JourneyVersion(name="welcome", version=1, spec=welcome,
                                   content_hash="w", published_at=at(1)))  # fmt: skip
        for journey, version, customer, n, entered, steps, end in RUNS:
            wf = f"journey-{journey}-{customer}-{n}"
            kinds = [("entered", None, f"v{version}")] + [("step", s, d) for s, d in steps]
            kinds.append((end, None, steps[-1][0]))
            for seq, (kind, step, detail) in enumerate(kinds, start=1):
                session.add(
                    JourneyEvent(
                        key=f"{wf}:{seq}",
                        workflow_id=wf,
                        seq=seq,
                        customer_id=customer,
                        journey=journey,
                        version=version,
                        kind=kind,
                        step=step,
                        detail=detail,
                        at=entered + timedelta(minutes=seq),
                    )  # fmt: skip
                )
        for segment, customer, entered, exited in MEMBERSHIPS:
            session.add(SegmentMembership(segment=segment, customer_id=customer,
                                          entered_at=entered, exited_at=exited))  # fmt: skip
        for customer, days, stage, previous in STAGES:
            session.add(StageEntry(customer_id=customer, at=T0 + timedelta(days=days),
                                   stage=stage, previous=previous, cause="test"))  # fmt: skip
            session.flush()  # ids in arrival order
        for message_id, customer, when, score in NPS:
            payload = {"type": "track", "event": "NPS Submitted", "userId": customer,
                       "properties": {"score": score, "comment": "x" * 10}}  # fmt: skip
            session.add(Event(message_id=message_id, customer_id=customer, type="track",
                              event="NPS Submitted", user_id=customer, timestamp=when,
                              received_at=when, payload=payload))  # fmt: skip
        for order_id, customer, total, when in ORDERS:
            session.add(Order(order_id=order_id, customer_id=customer, total=total,
                              created_at=when))  # fmt: skip
        for customer in ("c1", "c2", "c3", "c4", "c9"):
            session.add(Customer(customer_id=customer, created_at=at(1), updated_at=at(1)))
