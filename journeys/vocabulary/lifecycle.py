"""The lifecycle stage machine: pure functions over a state and an event.

The default rules follow Segment's semantic event specs (E-commerce v2) so existing
instrumentation works unchanged; a YAML file named by `JOURNEYS_LIFECYCLE_RULES_FILE` replaces them.
"""

from typing import Any

from journeys.vocabulary.customer_types import (
    EVENT_NAMES_KEPT,
    MERGES_KEPT,
    OTHER_EVENTS,
    CustomerState,
    LifecycleRule,
    PropertyTest,
)
from journeys.vocabulary.events import CustomerEvent, Stage

BUY = [Stage.AWARENESS, Stage.CONSIDERATION, Stage.DECISION]
OWN = [Stage.ONBOARDING, Stage.LOYALTY]


def _rule(event: str, stage: Stage, **kw: Any) -> LifecycleRule:
    return LifecycleRule(event=event, stage=stage, **kw)


DEFAULT_RULES: list[LifecycleRule] = [
    *(
        _rule(name, Stage.CONSIDERATION, from_stages=[Stage.AWARENESS, Stage.DECISION])
        for name in (
            "Product Viewed",
            "Product List Viewed",
            "Product Clicked",
            "Products Searched",
            "Promotion Clicked",
        )
    ),
    *(
        _rule(name, Stage.DECISION, from_stages=[Stage.AWARENESS, Stage.CONSIDERATION])
        for name in (
            "Product Added",
            "Cart Viewed",
            "Checkout Started",
            "Checkout Step Completed",
            "Payment Info Entered",
        )
    ),
    _rule("Order Completed", Stage.ONBOARDING, max_count=1),
    _rule("Order Completed", Stage.LOYALTY, min_count=2),
    _rule(
        "Product Reviewed", Stage.ADVOCACY, from_stages=OWN, where={"rating": PropertyTest(gte=4)}
    ),
    _rule("NPS Submitted", Stage.ADVOCACY, from_stages=OWN, where={"score": PropertyTest(gte=9)}),
    _rule(
        "NPS Submitted",
        Stage.LOYALTY,
        from_stages=[Stage.ADVOCACY],
        where={"score": PropertyTest(lte=6)},
    ),
    _rule("Product Shared", Stage.ADVOCACY, from_stages=[Stage.LOYALTY]),
]


def _passes(test: PropertyTest, value: Any) -> bool:
    if value is None:
        return False
    if test.eq is not None and value != test.eq:
        return False
    if test.gte is not None or test.lte is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        if test.gte is not None and number < test.gte:
            return False
        if test.lte is not None and number > test.lte:
            return False
    return True


def matches(rule: LifecycleRule, state: CustomerState, event: CustomerEvent) -> bool:
    """Whether `rule` fires for `event`; counters must already include the event."""
    if rule.event != event.key:
        return False
    if rule.from_stages and state.stage not in rule.from_stages and not state.at_risk:
        return False
    count = state.event_counts.get(event.key, 0)
    if rule.min_count is not None and count < rule.min_count:
        return False
    if rule.max_count is not None and count > rule.max_count:
        return False
    return all(_passes(test, event.properties.get(name)) for name, test in rule.where.items())


def next_stage(
    rules: list[LifecycleRule], state: CustomerState, event: CustomerEvent
) -> Stage | None:
    """The stage the first matching rule moves to, or None when no rule fires or nothing changes."""
    for rule in rules:
        if matches(rule, state, event):
            return rule.stage if rule.stage != state.stage else None
    return None


def merge_states(target: CustomerState, source: CustomerState) -> CustomerState:
    """Join `source`'s history into `target` (alias / identity resolution).

    Histories interleave by time; the current stage is the one reached by the latest real
    transition of either, so an identified customer who just arrived (only `first_seen`) takes the
    stage their anonymous browsing had reached.
    """
    history = sorted([*target.stage_history, *source.stage_history], key=lambda c: c.at)
    firsts_seen = [i for i, change in enumerate(history) if change.cause == "first_seen"]
    history = [c for i, c in enumerate(history) if i not in firsts_seen[1:]]  # one first sighting
    moves = [change for change in history if change.cause != "first_seen"]
    counts = dict(target.event_counts)
    for key, value in source.event_counts.items():
        if key not in counts and len(counts) >= EVENT_NAMES_KEPT:
            key = OTHER_EVENTS
        counts[key] = counts.get(key, 0) + value
    seen = [m for m in [*target.recent_message_ids, *source.recent_message_ids]]
    firsts = [t for t in (target.first_seen_at, source.first_seen_at) if t is not None]
    lasts = [t for t in (target.last_event_at, source.last_event_at) if t is not None]
    return target.model_copy(
        update={
            "stage": moves[-1].stage if moves else target.stage,
            "stage_history": history,
            "events_total": target.events_total + source.events_total,
            "event_counts": counts,
            "first_seen_at": min(firsts) if firsts else None,
            "last_event_at": max(lasts) if lasts else None,
            "stage_entries": {
                stage: target.stage_entries.get(stage, 0) + source.stage_entries.get(stage, 0)
                for stage in {*target.stage_entries, *source.stage_entries}
            },
            "merged_from": [*target.merged_from, source.customer_id, *source.merged_from][
                -MERGES_KEPT:
            ],
            "recent_message_ids": seen,
            "stages_recorded": 0,  # the joined history is written again (idempotent rows)
        }
    )
