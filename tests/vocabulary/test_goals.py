"""Goals and exits judged in event time."""

from datetime import UTC, datetime, timedelta

from journeys.vocabulary.events import CustomerEvent, Stage
from journeys.vocabulary.goals import goal_or_exit
from journeys.vocabulary.journey_spec import JourneySpec

CART = JourneySpec.model_validate({
    "name": "cart", "trigger": {"event": "Checkout Started"},
    "goal": {"event": "Order Completed", "within": "7d"},
    "steps": [{"id": "wait", "kind": "wait", "duration": "30d"}],
})  # fmt: skip
T = datetime(2025, 3, 1, tzinfo=UTC)  # a year before the run: an import replaying last year


def at(name: str, when: datetime) -> CustomerEvent:
    return CustomerEvent(message_id=f"{name}-{when}", type="track", event=name, timestamp=when)


def test_the_goal_window_counts_from_the_trigger_event_to_the_goal_event() -> None:
    trigger = at("Checkout Started", T)
    entered = datetime.now(UTC)  # the run entered today, processing the import

    def judged(event: CustomerEvent) -> str | None:
        return goal_or_exit(CART, event, trigger=trigger, stage=Stage.DECISION, entered_at=entered)

    assert judged(at("Order Completed", T + timedelta(days=6))) == "converted"
    assert judged(at("Order Completed", T + timedelta(days=8))) is None  # too late, back then
