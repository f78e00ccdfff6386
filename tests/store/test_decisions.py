"""A `decide` step's evidence: a decision counts once its run has ended, a conversion if the
run reached its goal; a run still in flight is neither (on SQLite and PostgreSQL)."""

from datetime import UTC, datetime

from journeys.store.db import session_scope
from journeys.store.decisions import decision_stats
from journeys.store.models import Decision, JourneyEvent
from journeys.vocabulary.journey_types import ActionStats

AT = datetime(2026, 11, 1, tzinfo=UTC)


def decided(url: str, run: str, action: str, *records: str) -> None:
    with session_scope(url) as session:
        session.add(Decision(decision_id=f"{run}:pick:1", workflow_id=run, customer_id=run,
                             journey="offer", version=1, step="pick", chosen=action, inputs={},
                             at=AT))  # fmt: skip
        for seq, kind in enumerate(["entered", "step", *records], start=1):
            session.add(JourneyEvent(key=f"{run}:{seq}", workflow_id=run, seq=seq,
                                     customer_id=run, journey="offer", version=1, kind=kind,
                                     step="pick" if kind == "step" else None, at=AT))  # fmt: skip


def test_runs_in_flight_are_neither_exposures_nor_failures(database_url: str) -> None:
    decided(database_url, "r1", "ten_off", "converted")
    decided(database_url, "r2", "ten_off", "exited")
    decided(database_url, "r3", "ten_off")  # still waiting for the customer
    decided(database_url, "r4", "free_shipping", "completed")
    decided(database_url, "r5", "free_shipping")
    decided(database_url, "r6", "gift")  # only in flight: no evidence yet
    with session_scope(database_url) as session:
        stats = decision_stats(session, journey="offer", step="pick")
    assert stats == {
        "ten_off": ActionStats(exposures=2, conversions=1),
        "free_shipping": ActionStats(exposures=1, conversions=0),
    }
