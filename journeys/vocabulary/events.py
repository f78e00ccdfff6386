"""The basic payloads everything else builds on: a customer event, a batch of them, a stage.

Import-light (pydantic only) and free of other project imports, so specs, journey payloads and
customer payloads can all use it without import cycles.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Stage(StrEnum):
    """Buy (awareness, consideration, decision) → Own (onboarding, loyalty) → Advocate."""

    AWARENESS = "awareness"
    CONSIDERATION = "consideration"
    DECISION = "decision"
    ONBOARDING = "onboarding"
    LOYALTY = "loyalty"
    ADVOCACY = "advocacy"


class CustomerEvent(BaseModel):
    """One Segment call as the workflow needs it (context stays in the store)."""

    message_id: str
    type: str  # identify | track | page | screen | group | alias
    timestamp: datetime
    event: str | None = None  # track: the event name
    name: str | None = None  # page/screen: the page name
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    merge_from: str | None = None  # customer id whose history joins this one (alias)

    @property
    def key(self) -> str:
        """The name lifecycle rules match: the track event name, else the call type."""
        return self.event if self.type == "track" and self.event else self.type


class EventBatch(BaseModel):
    """Signal `events`: one or more events of one customer, in arrival order."""

    events: list[CustomerEvent]
    catalog_version: int = 0  # the journey catalog the sender saw; newer ones get loaded


# Things that happened to the customer, not things the customer did: a delivery report, a
# bounce, a segment recomputed. They reach journeys like any event but never make an inactive
# customer active (opens, clicks and taps do).
PASSIVE_EVENTS = frozenset({
    "Segment Entered", "Segment Exited",
    "Email Delivered", "Email Bounced", "Email Failed", "Email Marked as Spam",
    "SMS Delivered", "SMS Bounced", "SMS Failed", "SMS Marked as Spam",
    "Push Notification Received", "Push Notification Bounced", "Push Notification Failed",
    "Webhook Delivered", "Webhook Failed",
})  # fmt: skip
