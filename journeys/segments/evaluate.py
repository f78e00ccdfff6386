"""The incremental path: a segment definition evaluated in Python for one customer, from that
customer's rows (profile, events, orders), with the meaning of the SQL in `store/segment_sql.py`."""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from journeys.segments.definition import (
    ENGAGED_TYPES,
    ENGAGEMENT_WINDOW_DAYS,
    AllOf,
    AnyOf,
    Condition,
    NotOf,
    Rule,
    SegmentDefinition,
)
from journeys.segments.rfm import RfmThresholds, ascending_score, engagement_level, recency_score
from journeys.vocabulary.events import PASSIVE_EVENTS


@dataclass(frozen=True)
class CustomerFacts:
    """What evaluation reads about one customer. `events` and `orders` need only cover the
    longest window the definitions use (`facts_since`); RFM reads every order."""

    customer_id: str
    traits: dict[str, Any]
    stage: str | None
    events: Sequence[tuple[str, str | None, datetime]]  # (type, event name, timestamp)
    orders: Sequence[tuple[float, datetime]]  # (total, created_at)


def facts_since(definitions: Sequence[SegmentDefinition], as_of: datetime) -> datetime | None:
    """The earliest event timestamp any of the definitions can count (None: all of them)."""
    windows: list[timedelta] = []
    for definition in definitions:
        for rule in definition.rules():
            if rule.field == "events.count":
                if rule.within is None:
                    return None
                windows.append(rule.within)
            elif rule.field == "engagement":
                windows.append(timedelta(days=ENGAGEMENT_WINDOW_DAYS))
    return as_of - max(windows) if windows else as_of


def is_member(
    definition: SegmentDefinition,
    facts: CustomerFacts,
    *,
    as_of: datetime,
    thresholds: RfmThresholds | None,
) -> bool:
    return _Evaluation(facts, as_of, thresholds).condition(definition.condition)


QUIET_AT_MOST = 100  # events one evaluation lets pass without another


@dataclass(frozen=True)
class Quiet:
    """How long a customer's memberships cannot change by events alone: the next `events`
    events that bring no traits, order or stage change, before `until` (None: no bound)."""

    events: int
    until: datetime | None


def quiet_after(
    definitions: Sequence[SegmentDefinition], facts: CustomerFacts, *, as_of: datetime
) -> Quiet:
    """After an evaluation, how many more such events can come before any definition could
    decide otherwise, so the customer's workflow asks again only then (issue 12: browsing is
    most of a shop's events). Such an event adds one at most to each count a rule reads
    (`events.count`, `engagement`), so each count rule is asked at each larger count: the first
    that changes its answer ends the quiet. Everything else a rule reads moves with time (the
    scheduled refresh's part) or with what is no such event. A count can also fall, as its
    oldest event leaves its window, and rise again with new events while another rule hides
    both: so the quiet ends when the first counted event leaves its window."""
    evaluation = _Evaluation(facts, as_of, thresholds=None)
    events, until = QUIET_AT_MOST, None
    for definition in definitions:
        for rule in definition.rules():
            if rule.field == "events.count":
                window = rule.within
                answer = functools.partial(compare, op=rule.operator, value=rule.value)
            elif rule.field == "engagement":
                window = timedelta(days=ENGAGEMENT_WINDOW_DAYS)
                answer = functools.partial(_engagement_is, rule=rule)
            else:
                continue
            held = [at for at in evaluation.counted(rule) if evaluation.in_window(at, window)]
            now = answer(len(held))
            events = min(
                events,
                next((more - 1 for more in range(1, events + 1)
                      if answer(len(held) + more) != now), events),
            )  # fmt: skip
            if window is not None and held:
                leaves = min(held) + window
                until = leaves if until is None else min(until, leaves)
    return Quiet(events=events, until=until)


def _engagement_is(engaged: int, *, rule: Rule) -> bool:
    return compare(engagement_level(engaged), rule.operator, rule.value)


class _Evaluation:
    def __init__(
        self, facts: CustomerFacts, as_of: datetime, thresholds: RfmThresholds | None
    ) -> None:
        self.facts, self.as_of, self.thresholds = facts, as_of, thresholds

    def condition(self, node: Condition) -> bool:
        if isinstance(node, AllOf):
            return all(self.condition(child) for child in node.all)
        if isinstance(node, AnyOf):
            return any(self.condition(child) for child in node.any)
        if isinstance(node, NotOf):
            return not self.condition(node.not_)
        return self.rule(node)

    def rule(self, rule: Rule) -> bool:
        field, op, value = rule.field, rule.operator, rule.value
        if field.startswith("traits."):
            return self.trait(rule, field.removeprefix("traits."))
        if field == "stage":
            if op == "exists":
                return (self.facts.stage is not None) == value
            return compare(self.facts.stage, op, value)
        if field == "events.count":
            return compare(self.event_count(rule), op, value)
        if field == "orders.count":
            return compare(len(self.orders(rule.within)), op, value)
        if field == "orders.total":
            return compare(sum(total for total, _ in self.orders(rule.within)), op, value)
        if field == "engagement":
            return compare(self.engagement(), op, value)
        return compare(self.rfm_score(field.removeprefix("rfm.")), op, value)

    def trait(self, rule: Rule, name: str) -> bool:
        raw = self.facts.traits.get(name)
        op, value = rule.operator, rule.value
        if op == "exists":
            return (raw is not None) == value
        if op == "contains":
            return isinstance(raw, list) and any(
                isinstance(item, str) and item == value for item in raw
            )
        typed: float | str | None
        if rule.kind == "number":
            typed = float(raw) if _is_number(raw) else None
        else:
            typed = raw if isinstance(raw, str) else None
        return compare(typed, op, value)

    def in_window(self, at: datetime, within: timedelta | None) -> bool:
        return at <= self.as_of and (within is None or at > self.as_of - within)

    def event_count(self, rule: Rule) -> int:
        return sum(1 for at in self.counted(rule) if self.in_window(at, rule.within))

    def counted(self, rule: Rule) -> list[datetime]:
        """When each event an `events.count` or `engagement` rule counts happened, windows
        aside."""
        if rule.field == "engagement":
            return self._engaged_at()
        return [
            at
            for kind, name, at in self.facts.events
            if (
                (kind == "track" and name == rule.event)
                if rule.event is not None
                else (rule.type is None or kind == rule.type)
            )
        ]

    def orders(self, within: timedelta | None) -> list[tuple[float, datetime]]:
        return [(t, at) for t, at in self.facts.orders if self.in_window(at, within)]

    def engagement(self) -> str:
        return engagement_level(self.engaged())

    def engaged(self) -> int:
        window = timedelta(days=ENGAGEMENT_WINDOW_DAYS)
        return sum(1 for at in self._engaged_at() if self.in_window(at, window))

    def _engaged_at(self) -> list[datetime]:
        return [at for kind, name, at in self.facts.events
                if kind in ENGAGED_TYPES and (name or "") not in PASSIVE_EVENTS]  # fmt: skip

    def rfm_score(self, measure: str) -> int | None:
        orders = self.orders(None)
        if not orders:
            return None
        thresholds = self.thresholds
        if measure == "recency":
            edges = thresholds.recency_edges() if thresholds else []
            return recency_score(max(at for _, at in orders), self.as_of, edges)
        if measure == "frequency":
            return ascending_score(len(orders), thresholds.frequency if thresholds else [])
        total = sum(t for t, _ in orders)
        return ascending_score(total, thresholds.monetary if thresholds else [])


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare(actual: Any, op: str, value: Any) -> bool:
    """Like SQL's comparisons with NULL: nothing to compare is false, whatever the operator."""
    if actual is None:
        return False
    if op == "eq":
        return bool(actual == value)
    if op == "ne":
        return bool(actual != value)
    if op == "in":
        return actual in value
    if op == "not_in":
        return actual not in value
    if op == "gt":
        return bool(actual > value)
    if op == "gte":
        return bool(actual >= value)
    if op == "lt":
        return bool(actual < value)
    if op == "lte":
        return bool(actual <= value)
    raise ValueError(f"unknown operator {op}")
