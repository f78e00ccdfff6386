"""KPI reports on a store with known answers (tests/helpers/report_data.py), on SQLite and
PostgreSQL (whose session time zone is New York: periods must still be UTC)."""

from datetime import UTC, datetime

import pytest

from journeys.kpis.experiments import wilson
from journeys.kpis.reports import NpsFigure, as_json, bucket, clv_summary, nps_score
from journeys.store.db import session_scope
from journeys.store.kpis import CustomerValue, RunFilter, customer_value
from journeys.store.reports import (
    clv_report,
    funnel_report,
    journey_report,
    journeys_report,
    nps_report,
)
from tests.helpers.report_data import at, seed


@pytest.fixture
def store(database_url: str) -> str:
    seed(database_url)
    return database_url


def figures(rows) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    return {row.key: (row.entries, row.conversions) for row in rows}


def test_conversion_per_journey_with_period_and_version_filters(store: str) -> None:
    with session_scope(store) as session:
        everything = journeys_report(session, runs=RunFilter())
        assert figures(everything) == {"cart": (7, 4), "welcome": (1, 0)}
        cart = everything[0]
        assert cart.rate == pytest.approx(4 / 7) and (cart.low, cart.high) == wilson(4, 7)
        assert figures(journeys_report(session, runs=RunFilter(version=2))) == {"cart": (1, 0)}
        second_week = RunFilter(start=at(12, 0), end=at(19, 0))
        assert figures(journeys_report(session, runs=second_week)) == {"cart": (4, 2)}


def test_conversion_per_step_variant_segment_and_week(store: str) -> None:
    with session_scope(store) as session:
        report = journey_report(session, name="cart", runs=RunFilter(), period="week")
        assert report is not None
        # every step of the spec in its order: v2's reminder, which no run reached, too
        assert [s.key for s in report.steps] == ["grace", "split", "email", "reminder"]
        assert figures(report.steps) == {
            "grace": (7, 4), "split": (5, 3), "email": (4, 3), "reminder": (0, 0),
        }  # fmt: skip
        # r1, r2, r7 got a (r1 converted); r3, r4 got b (both converted)
        [split] = report.experiments
        assert [(v.name, v.exposures, v.conversions) for v in split.variants] == [
            ("a", 3, 1),
            ("b", 2, 2),
        ]
        assert split.variants[1].probability_best > 0.8 and not split.sample_ratio_mismatch
        # vip: r1, r4 (left after it entered), r6 (joined the instant it entered)
        assert figures(report.segments) == {"vip": (3, 3), "newbies": (1, 0)}
        # r4 entered Monday 02:00 UTC, still Sunday in the PostgreSQL session's New York
        assert figures(report.over_time) == {"2026-01-05": (3, 2), "2026-01-12": (4, 2)}
        days = journey_report(session, name="cart", runs=RunFilter(version=1), period="day")
        assert days is not None and figures(days.over_time)["2026-01-12"] == (1, 1)
        assert [s.key for s in days.steps] == ["grace", "split", "email"]  # v1's spec alone
        assert sum(row.entries for row in days.over_time) == 6
        assert journey_report(session, name="nope", runs=RunFilter()) is None


def test_lifecycle_funnel(store: str) -> None:
    with session_scope(store) as session:
        funnel = funnel_report(session)
    stages = {s.stage: s for s in funnel.stages}
    assert [s.stage for s in funnel.stages][:3] == ["awareness", "consideration", "decision"]
    awareness = stages["awareness"]
    # f1 after 2 days, f2 after 4, f5 in the same instant (recorded after); f3 stays
    assert (awareness.customers, awareness.advanced, awareness.rate) == (4, 3, 0.75)
    assert (awareness.median_days, awareness.mean_days, awareness.still_in) == (2.0, 2.0, 1)
    consideration = stages["consideration"]
    assert (consideration.customers, consideration.advanced) == (4, 2)
    assert (consideration.median_days, consideration.still_in) == (1.0, 3)
    assert (stages["onboarding"].median_days, stages["loyalty"].median_days) == (6.0, 10.0)
    assert stages["loyalty"].rate == 0.0 and stages["advocacy"].customers == 0
    assert stages["advocacy"].rate is None
    moves = {(m.source, m.target): (m.count, m.backward) for m in funnel.moves}
    assert moves[("awareness", "consideration")] == (3, False)
    assert moves[("loyalty", "consideration")] == (1, True)
    with session_scope(store) as session:  # entries from day 2 on: not f4 (day 1)
        later = funnel_report(session, start=datetime(2026, 3, 3, tzinfo=UTC))
    assert {s.stage: s.customers for s in later.stages if s.customers} == {
        "consideration": 2, "decision": 1, "onboarding": 1, "loyalty": 1,
    }  # fmt: skip


def test_nps_per_week_and_journey(store: str) -> None:
    with session_scope(store) as session:
        report = nps_report(session, period="week")
        cart = nps_report(session, period="month", journey="cart")
    # 10, 7, 9, 8, 3, 10 ("9" as text is no score)
    assert report.overall == NpsFigure("all", 6, 3, 2, 1, pytest.approx(100 * 2 / 6))
    assert report.ignored == 1
    assert [(f.key, f.responses, f.score) for f in report.trend] == [
        ("2026-01-05", 2, 50.0),
        ("2026-01-12", 2, -50.0),
        ("2026-02-09", 1, 100.0),
        ("2026-02-23", 1, 100.0),
    ]
    # the answer exactly 30 days after r7 entered counts for cart; 53 days after r3 does not
    assert {f.key: (f.responses, f.promoters) for f in report.journeys} == {
        "cart": (3, 2),
        "welcome": (1, 1),
    }
    assert cart.overall.responses == 3 and cart.overall.score == pytest.approx(200 / 3)
    assert [f.key for f in cart.trend] == ["2026-01-01", "2026-02-01"]
    assert [f.key for f in cart.journeys] == ["cart"]


def test_historic_clv(store: str) -> None:
    with session_scope(store) as session:
        summary = clv_report(session)
        one = customer_value(session, customer_id="c1")
        none = customer_value(session, customer_id="c9")
        unknown = customer_value(session, customer_id="nobody")
    assert (summary.customers, summary.total, summary.mean, summary.median) == (4, 400, 100, 90)
    assert summary.p90 == pytest.approx(185.0)  # 150 + 0.7 * (200 - 150)
    assert [v.customer_id for v in summary.top] == ["c4", "c1", "c2", "c3"]
    assert one == CustomerValue("c1", 150.0, 2, at(5), at(20))
    assert none == CustomerValue("c9", 0.0, 0, None, None) and unknown is None


def test_pure_helpers() -> None:
    assert bucket(datetime(2026, 3, 1, 23, tzinfo=UTC), "week").isoformat() == "2026-02-23"
    assert bucket(datetime(2026, 3, 2, tzinfo=UTC), "week").isoformat() == "2026-03-02"
    assert bucket(datetime(2026, 3, 17, tzinfo=UTC), "month").isoformat() == "2026-03-01"
    assert [nps_score(v) for v in (9, 9.0, 9.5, "9", True, 11, -1, None, 0)] == [
        9, 9, None, None, None, None, None, None, 0,
    ]  # fmt: skip
    empty = clv_summary([])
    assert (empty.customers, empty.mean, empty.p90) == (0, None, None)
    assert as_json(CustomerValue("c", 1.0, 1, at(5), None))["first_order"] == (
        "2026-01-05T10:00:00+00:00"
    )
