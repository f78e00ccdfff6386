"""The tracking plan check: a journey may name only planned events and, in its conditions, only
the properties planned for the events those conditions read. Pure: the caller loads the plan."""

import ast

from pydantic import BaseModel

from journeys.vocabulary.journey_spec import Branch, JourneySpec, WaitForEvent


class TrackingPlan(BaseModel):
    events: dict[str, list[str]]


def _properties_read(expression: str | None) -> set[str]:
    """The `properties.x` / `properties["x"]` names an expression reads."""
    if not expression:
        return set()
    names = set()
    for node in ast.walk(ast.parse(expression, mode="eval")):
        base = getattr(node, "value", None)
        if not (isinstance(base, ast.Name) and base.id == "properties"):
            continue
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            names.add(str(node.slice.value))
    return names


def plan_problems(spec: JourneySpec, plan: TrackingPlan) -> list[str]:
    """Every event or property the spec names that the plan does not know, with where."""
    problems: list[str] = []

    def check(where: str, events: list[str], expression: str | None) -> None:
        for event in events:
            if event not in plan.events:
                problems.append(f"{where}: event {event!r} is not in the tracking plan")
        known = {p for e in events for p in plan.events.get(e, [])}
        for name in sorted(_properties_read(expression) - known):
            problems.append(
                f"{where}: property {name!r} is not planned for {' or '.join(map(repr, events))}"
            )

    trigger_events = [spec.trigger.event] if spec.trigger.event else []
    check("trigger", trigger_events, spec.trigger.where)
    if spec.goal:
        check("goal", [spec.goal.event], spec.goal.where)
    for i, rule in enumerate(spec.exits):
        check(f"exits[{i}]", [rule.event], rule.where)
    for where, match in spec.correlations():  # the key must be planned on both sides
        for event in trigger_events + [match.event]:
            if match.correlate not in plan.events.get(event, [match.correlate]):
                problems.append(
                    f"{where}.correlate: property {match.correlate!r} is not planned for {event!r}"
                )
    awaited = [s.event for s in spec.steps if isinstance(s, WaitForEvent)]
    for i, step in enumerate(spec.steps):
        where = f"steps[{i}] (id {step.id!r})"
        if isinstance(step, WaitForEvent):
            check(where, [step.event], step.where)
        elif isinstance(step, Branch):  # `properties` there: the trigger's or an awaited event's
            for case in step.cases:
                check(f"{where}.when", trigger_events + awaited, case.when)
    return problems
