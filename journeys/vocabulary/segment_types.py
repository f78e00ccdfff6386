"""Payloads of segmentation (import-light): what the customer's workflow asks after its events,
and the membership changes it gets back, which it applies as events of its own."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from journeys.vocabulary.events import CustomerEvent, Stage

SEGMENT_ENTERED = "Segment Entered"  # properties: {segment}
SEGMENT_EXITED = "Segment Exited"


class SegmentEvaluationInput(BaseModel):
    """Evaluate every active segment for one customer, as of `at` (the workflow's now). The
    stage travels with it: the store keeps it for batch evaluation and SQL."""

    customer_id: str
    stage: Stage
    at: datetime


class SegmentChange(BaseModel):
    segment: str
    change: Literal["entered", "exited"]
    at: datetime

    @property
    def event_name(self) -> str:
        return SEGMENT_ENTERED if self.change == "entered" else SEGMENT_EXITED

    def message_id(self, customer_id: str) -> str:
        """The same change always has the same id: the batch job and the customer's own
        evaluation may both report it, and the customer applies it once."""
        return f"segment:{self.segment}:{customer_id}:{self.change}:{self.at.isoformat()}"

    def event(self, customer_id: str) -> CustomerEvent:
        """The event the customer's workflow applies, from either evaluation path."""
        return CustomerEvent(message_id=self.message_id(customer_id), type="track",
                             event=self.event_name, timestamp=self.at,
                             properties={"segment": self.segment})  # fmt: skip


class SegmentEvaluation(BaseModel):
    changes: list[SegmentChange] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)  # every segment the customer is in now
    # the next `quiet_events` events that bring no traits, order or stage change, before
    # `quiet_until`, cannot change a membership (segments.evaluate.quiet_after): the workflow
    # does not ask after them. 0 in results recorded before: it asks after every event.
    quiet_events: int = 0
    quiet_until: datetime | None = None


class SegmentRefreshInput(BaseModel):
    """The batch refresh (SegmentRefreshWorkflow and its `refresh_segments` activity): every
    active segment evaluated as of `as_of`; the workflow sets it to its start time, so a
    retried activity computes, stamps and delivers the same changes."""

    as_of: datetime | None = None


class SegmentRefreshResult(BaseModel):
    segments: int = 0  # active segments evaluated
    entered: int = 0
    exited: int = 0
    customers_notified: int = 0  # customer workflows signalled with their changes
