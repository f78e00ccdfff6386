"""Does an event end a run, by its goal or an exit? Pure functions: a run in flight and a
customer holding a run's first wait (`customer_journeys`) must answer alike."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from journeys.vocabulary.events import CustomerEvent, Stage
from journeys.vocabulary.expressions import evaluate
from journeys.vocabulary.journey_spec import EventMatch, JourneySpec
from journeys.vocabulary.journey_types import CustomerProfile, Outcome


def event_context(event: CustomerEvent | None, stage: Stage) -> dict[str, Any]:
    """What a condition on an event reads (a branch adds traits and segments)."""
    return {
        "properties": event.properties if event else {},
        "event": event.key if event else None,
        "stage": stage.value,
        "segments": [],
    }


def branch_context(event: Mapping[str, Any], profile: CustomerProfile) -> dict[str, Any]:
    """What a branch condition reads: the event's context (`event_context`) with the customer's
    traits, segments and stage (the stage at entry until the store reports one)."""
    context = {**event, "traits": profile.traits, "segments": profile.segments}
    if profile.stage is not None:
        context["stage"] = profile.stage
    return context


def first_case(conditions: list[str], context: Mapping[str, Any]) -> int | None:
    """The index of a branch's first condition that holds; None: its `otherwise`."""
    return next((i for i, when in enumerate(conditions) if evaluate(when, context)), None)


def branch_detail(case: int | None) -> str:
    """A branch step's result as runs show and record it."""
    return "otherwise" if case is None else f"case {case + 1}"


def branch_case(detail: str) -> int | None:
    """The case a recorded branch result names (`branch_detail` read back)."""
    return None if detail == "otherwise" else int(detail.removeprefix("case ")) - 1


def event_matches(
    match: EventMatch, event: CustomerEvent, *, trigger: CustomerEvent | None, stage: Stage
) -> bool:
    if event.key != match.event:
        return False
    if match.correlate:  # only specs published with `correlate` get here: replay-safe
        wanted = trigger.properties.get(match.correlate) if trigger else None
        if wanted is None or event.properties.get(match.correlate) != wanted:
            return False
    if match.where is None:
        return True
    return evaluate(match.where, event_context(event, stage))


def goal_or_exit(
    spec: JourneySpec,
    event: CustomerEvent,
    *,
    trigger: CustomerEvent | None,
    stage: Stage,
    entered_at: datetime,
) -> Outcome | None:
    """`converted` (the goal, within its time), `exited` (an exit rule) or None. The goal's
    `within` counts in event time, from the trigger event to the goal event (from entry when
    no event triggered the run), so a backlog or an import judges it as it happened."""
    goal = spec.goal
    if goal and event_matches(goal, event, trigger=trigger, stage=stage):
        start = trigger.timestamp if trigger is not None else entered_at
        if goal.within is None or event.timestamp <= start + goal.within:
            return "converted"
    if any(event_matches(rule, event, trigger=trigger, stage=stage) for rule in spec.exits):
        return "exited"
    return None
