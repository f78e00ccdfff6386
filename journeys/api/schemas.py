"""What the tracking endpoints receive: the Segment HTTP Tracking API payloads.

Unknown fields are kept (Segment clients send `integrations`, `channel`, `version`, ...).
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CallType = Literal["identify", "track", "page", "screen", "group", "alias"]
MAX_ID = 255
MAX_VERSION = 2**31 - 1  # a version number both stores keep (PostgreSQL INTEGER)


class SegmentCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: CallType
    userId: str | None = None
    anonymousId: str | None = None
    messageId: str | None = Field(default=None, max_length=MAX_ID)
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)
    event: str | None = Field(default=None, max_length=MAX_ID)
    name: str | None = None
    groupId: str | None = None
    previousId: str | None = None

    @field_validator("userId", "anonymousId", "groupId", "previousId", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        """Segment clients send numeric ids too; they name the same customer as their text."""
        if isinstance(value, bool):
            raise ValueError("must be a string or a number")
        if isinstance(value, int | float):
            return str(value)
        return value

    @field_validator("userId", "anonymousId", "previousId")
    @classmethod
    def _id_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value) > MAX_ID:
            raise ValueError(f"must be at most {MAX_ID} characters")
        return value

    @model_validator(mode="after")
    def _required_per_type(self) -> "SegmentCall":
        if self.type == "alias":
            if not self.userId:
                raise ValueError("userId: alias needs the new userId")
            if not self.previousId:
                raise ValueError("previousId: alias needs the previous id")
        elif not self.userId and not self.anonymousId:
            raise ValueError("userId: either userId or anonymousId is required")
        if self.type == "track" and not self.event:
            raise ValueError("event: track needs an event name")
        if self.type == "group" and not self.groupId:
            raise ValueError("groupId: group needs a groupId")
        return self


class SegmentBatch(BaseModel):
    model_config = ConfigDict(extra="allow")

    batch: list[dict[str, Any]] = Field(min_length=1)
    context: dict[str, Any] = Field(default_factory=dict)
    sentAt: datetime | None = None
