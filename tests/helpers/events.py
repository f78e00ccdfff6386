"""Customer events as the API hands them to a customer's workflow."""

import uuid
from datetime import UTC, datetime
from typing import Any

from journeys.vocabulary.events import CustomerEvent

# One instant for the whole test session: the workflows read event times, and the tests compare
# what they derive. It is now, not a date in the past: inactivity counts in event time, and a
# customer whose events are weeks old is at risk from the start.
AT = datetime.now(UTC).replace(microsecond=0)


def event(name: str, **properties: Any) -> CustomerEvent:
    """A `track` event named `name`, at AT."""
    return CustomerEvent(
        message_id=str(uuid.uuid4()), type="track", event=name, timestamp=AT, properties=properties
    )


track = event  # the customer workflow tests' name for it


def identify(**traits: object) -> CustomerEvent:
    """An `identify` event with `traits`, now."""
    return CustomerEvent(
        message_id=str(uuid.uuid4()), type="identify", timestamp=datetime.now(UTC), traits=traits
    )
