"""Payload types of the scheduled experiment evaluation (pydantic only, import-light)."""

from pydantic import BaseModel, Field


class EvaluateExperimentsInput(BaseModel):
    journey: str | None = None  # one journey, or every active one


class PromotionMade(BaseModel):
    journey: str
    step: str
    winner: str
    from_version: int
    to_version: int
    probability_best: float | None = None


class EvaluateExperimentsResult(BaseModel):
    evaluated: int = 0  # experiment steps with a `promote` block looked at
    promotions: list[PromotionMade] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)  # winners a publish refused
