"""Does an event start a journey for this customer? Pure functions, so the rules are testable
and every answer carries its reason (shown to operators in the customer's state)."""

from datetime import datetime

from journeys.vocabulary.customer_types import CustomerJourneys
from journeys.vocabulary.events import CustomerEvent, Stage
from journeys.vocabulary.expressions import evaluate
from journeys.vocabulary.journey_types import JourneyTrigger
from journeys.vocabulary.segment_types import SEGMENT_ENTERED, SEGMENT_EXITED


def trigger_matches(
    trigger: JourneyTrigger, event: CustomerEvent, stage: Stage, previous_stage: Stage
) -> bool:
    """Event triggers see the event's `properties`, `event` and the customer's `stage`;
    stage triggers fire on the event that changed the stage; segment triggers on the
    `Segment Entered` / `Segment Exited` event naming their segment."""
    spec = trigger.trigger
    if spec.event is not None:
        if event.key != spec.event:
            return False
        context = {"properties": event.properties, "event": event.key, "stage": stage.value}
        return spec.where is None or evaluate(spec.where, context)
    if spec.stage_changed is not None and stage != previous_stage:
        change = spec.stage_changed
        return (change.to is None or change.to == stage) and (
            change.from_ is None or change.from_ == previous_stage
        )
    if spec.segment_entered is not None or spec.segment_exited is not None:
        name, wanted = (
            (SEGMENT_ENTERED, spec.segment_entered)
            if spec.segment_entered is not None
            else (SEGMENT_EXITED, spec.segment_exited)
        )
        return event.key == name and event.properties.get("segment") == wanted
    return False


def refusal_kind(reason: str) -> str:
    """A refusal without its particulars (run id, date): what the counters are keyed by."""
    for kind in ("already in the journey", "re-entry: never", "re-entry: cool-down"):
        if reason.startswith(kind.replace(" the journey", "")):
            return kind
    return "run id in use" if reason.startswith("run id") else reason[:60]


def entry_refusal(trigger: JourneyTrigger, journeys: CustomerJourneys, now: datetime) -> str | None:
    """Why the customer may not enter now, or None. At most one active run per journey."""
    name = trigger.name
    if name in journeys.active:
        return f"already in {name} ({journeys.active[name].workflow_id})"
    if not journeys.entries.get(name):
        return None
    policy = trigger.re_entry
    if policy.policy == "never":
        return "re-entry: never (entered before)"
    if policy.policy == "cooldown":
        assert policy.cooldown is not None
        ended = journeys.last_ended.get(name)
        if ended is not None and now < ended + policy.cooldown:
            return f"re-entry: cool-down until {(ended + policy.cooldown).isoformat()}"
    return None
