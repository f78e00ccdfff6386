"""Journey specs: every condition reads what it can evaluate where it stands, or is refused."""

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from journeys.vocabulary.journey_spec import JourneySpec


def spec(**parts: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "j",
        "trigger": {"event": "Checkout Started"},
        "steps": [
            {"id": "wait", "kind": "wait_for_event", "event": "Product Viewed", "timeout": "1d"}
        ],  # fmt: skip
    }
    return base | parts


def with_step_where(where: str) -> dict[str, Any]:
    step = {"id": "wait", "kind": "wait_for_event", "event": "Product Viewed", "timeout": "1d",
            "where": where}  # fmt: skip
    return spec(steps=[step])


def with_branch(when: str) -> dict[str, Any]:
    return spec(steps=[{"id": "b", "kind": "branch", "cases": [{"when": when, "goto": "e"}]},
                       {"id": "e", "kind": "exit"}])  # fmt: skip


@pytest.mark.parametrize(
    ("document", "refused"),
    [
        (spec(goal={"event": "Order", "where": "stage == 'loyalty'"}), "goal.where: stage"),
        (
            spec(goal={"event": "Order Completed", "where": "stage == 'loyalty'"}),
            "goal.where: stage",
        ),
        (spec(exits=[{"event": "Y", "where": "'vip' in segments"}]), "exits[0].where: segments"),
        (with_step_where("traits.tier > 1"), "steps[0] (id 'wait').where: traits"),
    ],
    ids=["trigger-traits", "goal-stage", "exit-segments", "wait_for_event-traits"],
)
def test_a_name_a_condition_cannot_read_is_refused_naming_the_site(
    document: dict[str, Any], refused: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        JourneySpec.model_validate(document)
    assert f"{refused} cannot be read in this condition" in str(raised.value)


@pytest.mark.parametrize(
    "document",
    [
        spec(trigger={"event": "X", "where": "stage == 'decision' and properties.total > 5"}),
        spec(goal={"event": "Order Completed", "where": "properties.total > 50"}),
        spec(exits=[{"event": "Y", "where": "event == 'Y'"}]),
        with_step_where("properties.sku == 'a'"),
        with_branch("traits.plan == 'pro' and 'vip' in segments and stage == 'loyalty'"),
    ],
    ids=["trigger", "goal", "exit", "wait_for_event", "branch"],
)
def test_what_each_site_can_read_is_published(document: dict[str, Any]) -> None:
    JourneySpec.model_validate(document)


def test_a_holdout_needs_a_goal_and_at_most_half_the_entrants() -> None:
    with pytest.raises(ValidationError, match="holdout: a holdout measures the goal, so"):
        JourneySpec.model_validate(spec(holdout=0.1))
    with pytest.raises(ValidationError, match="holdout"):
        JourneySpec.model_validate(spec(holdout=0.6, goal={"event": "Order Completed"}))
    held = JourneySpec.model_validate(spec(holdout=0.1, goal={"event": "Order Completed"}))
    assert held.model_dump()["holdout"] == 0.1
    # a spec without one is stored as before: published specs keep their content hash
    assert "holdout" not in JourneySpec.model_validate(spec()).model_dump()


def test_an_event_only_a_later_since_step_wait_reads_is_delayed_by_the_quickest_way_there() -> None:
    """listen_delays: the customer holds back what a run cannot take yet. A `wait` counts its
    duration, every other step none; the quickest path wins; a goal or an exit, or a wait
    counting from entry, on the same event takes it from the start."""
    browse = {"id": "browse", "kind": "wait_for_event", "event": "Product Viewed",
              "timeout": "3d", "since": "step"}  # fmt: skip
    steps = [
        {"id": "split", "kind": "branch", "cases": [{"when": "True", "goto": "long"}]},
        {"id": "short", "kind": "wait", "duration": "30m", "next": "browse"},
        {"id": "long", "kind": "wait", "duration": "2h"},
        browse,
    ]
    assert JourneySpec.model_validate(spec(steps=steps)).listen_delays() == {
        "Product Viewed": timedelta(minutes=30)
    }
    assert JourneySpec.model_validate(spec(steps=steps[2:])).listen_delays() == {
        "Product Viewed": timedelta(hours=2)
    }
    goal = {"event": "Product Viewed"}
    assert JourneySpec.model_validate(spec(steps=steps, goal=goal)).listen_delays() == {}
    from_entry = [*steps[:3], {**browse, "since": "entry"}]
    assert JourneySpec.model_validate(spec(steps=from_entry)).listen_delays() == {}
    first = [browse, {"id": "w", "kind": "wait", "duration": "1h", "next": "browse"}]
    assert JourneySpec.model_validate(spec(steps=first)).listen_delays() == {}  # no delay


def test_an_event_only_waits_from_entry_take_is_passed_once_for_each_such_wait() -> None:
    """listen_limits: each `wait_for_event` takes one event, so the customer passes a run no
    more of a key than it has waits on it; not where a goal or an exit names the key, a wait
    tests the event (`where`, `correlate`) or counts from its step, or sits in a loop; nor where
    another wait's key is not limited."""
    first_use = {"id": "first_use", "kind": "wait_for_event", "event": "Application Opened",
                 "timeout": "3d"}  # fmt: skip
    again = {**first_use, "id": "again"}
    assert JourneySpec.model_validate(spec(steps=[first_use])).listen_limits() == {
        "Application Opened": 1
    }
    assert JourneySpec.model_validate(spec(steps=[first_use, again])).listen_limits() == {
        "Application Opened": 2
    }
    goal = {"event": "Application Opened"}
    assert JourneySpec.model_validate(spec(steps=[first_use], goal=goal)).listen_limits() == {}
    tested = {**first_use, "where": "properties.screen == 'home'"}
    assert JourneySpec.model_validate(spec(steps=[tested])).listen_limits() == {}
    stepwise = {**first_use, "since": "step"}
    assert JourneySpec.model_validate(spec(steps=[stepwise])).listen_limits() == {}
    loop = [{**first_use, "on_event": "pause"},
            {"id": "pause", "kind": "wait", "duration": "1d", "next": "first_use"}]  # fmt: skip
    assert JourneySpec.model_validate(spec(steps=loop)).listen_limits() == {}
    # another wait, on product views with a condition, is not limited: a run keeps the latest
    # hundred events, and a hundred views could push out the one app open passed
    browse = {"id": "browse", "kind": "wait_for_event", "event": "Product Viewed",
              "timeout": "3d", "where": "properties.price > 100"}  # fmt: skip
    assert JourneySpec.model_validate(spec(steps=[first_use, browse])).listen_limits() == {}
