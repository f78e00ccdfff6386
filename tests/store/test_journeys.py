"""The journey catalog on SQLite and on a real PostgreSQL server (see tests/conftest.py).

Each step runs in its own `session_scope`, as the CLI and activities do, so what is checked is
what the database holds.
"""

from typing import Any

import pytest

from journeys.store.catalog import catalog_version
from journeys.store.db import session_scope
from journeys.store.journeys import (
    CatalogError,
    NotFound,
    PublishResult,
    active_specs,
    content_hash,
    get_version,
    list_journeys,
    publish_spec,
    set_status,
)
from journeys.store.models import JourneyVersion
from journeys.vocabulary.journey_spec import JourneySpec


def spec(name: str = "cart_recovery", wait: str = "1h", **extra: Any) -> JourneySpec:
    return JourneySpec.model_validate(
        {
            "name": name,
            "trigger": {"event": "Cart Abandoned"},
            "steps": [
                {"id": "pause", "kind": "wait", "duration": wait},
                {"id": "remind", "kind": "send", "channel": "email", "template": "cart"},
            ],
            **extra,
        }
    )


def publish(url: str, journey: JourneySpec) -> PublishResult:
    with session_scope(url) as session:
        return publish_spec(session, spec=journey)


def test_a_version_is_created_only_when_the_content_changes(database_url: str) -> None:
    assert publish(database_url, spec()) == PublishResult("cart_recovery", 1, created=True)
    assert publish(database_url, spec()) == PublishResult("cart_recovery", 1, created=False)
    # Key order does not matter, and a default written out is the same content.
    same = spec(re_entry={"policy": "never"})
    assert publish(database_url, same) == PublishResult("cart_recovery", 1, created=False)
    assert publish(database_url, spec(wait="2h")) == PublishResult("cart_recovery", 2, True)
    with session_scope(database_url) as session:
        (journey,) = list_journeys(session)
    assert (journey.name, journey.status, journey.latest_version) == ("cart_recovery", "active", 2)


def test_a_version_stored_before_a_new_field_is_the_same_spec_again(database_url: str) -> None:
    """An upgrade that gives a step kind a field with a default (`since` on `wait_for_event`)
    does not make every journey with such a step a new version at its next publish."""
    waits = {"id": "watch", "kind": "wait_for_event", "event": "Product Viewed", "timeout": "1d"}
    remind = {"id": "remind", "kind": "send", "channel": "email", "template": "cart"}
    journey = spec(steps=[waits, remind])
    assert publish(database_url, journey).created
    with session_scope(database_url) as session:  # as the release before `since` stored it
        row = session.get(JourneyVersion, ("cart_recovery", 1))
        assert row is not None and row.spec["steps"][0].pop("since") == "entry"
        row.spec = {**row.spec}
        row.content_hash = content_hash(row.spec)
        session.add(row)
    assert publish(database_url, journey) == PublishResult("cart_recovery", 1, created=False)
    since_step = spec(steps=[{**waits, "since": "step"}, remind])
    assert publish(database_url, since_step) == PublishResult("cart_recovery", 2, created=True)


def test_versions_are_immutable_and_readable_by_number(database_url: str) -> None:
    publish(database_url, spec(wait="1h"))
    publish(database_url, spec(wait="2h"))
    publish(database_url, spec(wait="1h"))  # back to the first content: a new version, v3
    with session_scope(database_url) as session:
        assert get_version(session, name="cart_recovery") == spec(wait="1h")
        assert get_version(session, name="cart_recovery", version=1) == spec(wait="1h")
        assert get_version(session, name="cart_recovery", version=2) == spec(wait="2h")
        assert get_version(session, name="cart_recovery", version=3) == spec(wait="1h")
        assert get_version(session, name="cart_recovery", version=4) is None
        assert get_version(session, name="nothing") is None
        assert list_journeys(session)[0].latest_version == 3


def test_an_archived_journey_refuses_new_versions(database_url: str) -> None:
    publish(database_url, spec())
    with session_scope(database_url) as session:
        set_status(session, name="cart_recovery", status="archived")
    with pytest.raises(CatalogError, match="archived"):
        publish(database_url, spec(wait="2h"))
    with session_scope(database_url) as session:
        assert get_version(session, name="cart_recovery") == spec()
        set_status(session, name="cart_recovery", status="active")
    assert publish(database_url, spec(wait="2h")).version == 2


def test_a_disabled_journey_gets_versions_but_is_not_active(database_url: str) -> None:
    publish(database_url, spec("welcome"))
    publish(database_url, spec("cart_recovery"))
    with session_scope(database_url) as session:
        set_status(session, name="cart_recovery", status="disabled")
    assert publish(database_url, spec("cart_recovery", wait="2h")).version == 2
    with session_scope(database_url) as session:
        assert [j.status for j in list_journeys(session)] == ["disabled", "active"]
        assert active_specs(session) == [(1, spec("welcome"))]
        set_status(session, name="cart_recovery", status="active")
    with session_scope(database_url) as session:
        assert active_specs(session) == [
            (2, spec("cart_recovery", wait="2h")),
            (1, spec("welcome")),
        ]


def test_the_catalog_version_counts_new_versions_and_status_changes(database_url: str) -> None:
    def version() -> int:
        with session_scope(database_url) as session:
            return catalog_version(session)

    def status(name: str, value: Any) -> None:
        with session_scope(database_url) as session:
            set_status(session, name=name, status=value)

    assert version() == 0
    publish(database_url, spec())
    assert version() == 1
    publish(database_url, spec())  # unchanged
    assert version() == 1
    publish(database_url, spec(wait="2h"))
    publish(database_url, spec("welcome"))
    assert version() == 3
    status("welcome", "disabled")
    assert version() == 4
    status("welcome", "disabled")  # already disabled: no change
    assert version() == 4
    status("cart_recovery", "archived")
    assert version() == 5
    with pytest.raises(CatalogError, match="archived"):
        publish(database_url, spec(wait="3h"))  # refused and rolled back: no bump
    assert version() == 5


def test_unknown_journeys_and_statuses_are_refused(database_url: str) -> None:
    publish(database_url, spec())
    with session_scope(database_url) as session:
        with pytest.raises(NotFound, match="'nothing'"):
            set_status(session, name="nothing", status="disabled")
        with pytest.raises(CatalogError, match="unknown status 'paused'"):
            set_status(session, name="cart_recovery", status="paused")  # type: ignore[arg-type]


def test_a_step_kind_the_worker_cannot_run_yet_is_refused(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every kind runs today; a kind added to the spec before its interpreter lands must not
    monkeypatch.setattr("journeys.vocabulary.journey_spec.RUNNABLE_KINDS", ("wait", "send", "exit"))
    task = {"id": "picks", "kind": "recommend", "recommender": "trending", "count": 4}
    journey = spec()
    journey = JourneySpec.model_validate({**journey.model_dump(by_alias=True), "steps": [
        *journey.model_dump(by_alias=True)["steps"], task]})  # fmt: skip
    with pytest.raises(CatalogError, match="recommend.*not supported yet"):
        publish(database_url, journey)
    with session_scope(database_url) as session:
        assert list_journeys(session) == [] and catalog_version(session) == 0
