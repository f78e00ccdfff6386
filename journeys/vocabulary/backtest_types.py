"""Payloads of a backtest run as a workflow (import-light): what `POST /v1/backtests` asks for,
and what the `run_backtest` activity says it did."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

BACKTEST_WORKFLOW = "BacktestWorkflow"


def backtest_workflow_id(backtest_id: str) -> str:
    return f"backtest-{backtest_id}"


class BacktestInput(BaseModel):
    """One spec, or two side by side, over the store's own calls from `start` until `end`.
    The specs travel whole (a draft need not be published), as JSON."""

    backtest_id: str
    specs: list[dict[str, Any]] = Field(min_length=1, max_length=2)
    start: datetime
    end: datetime
    # what each spec is, as the report names it beside the journey ("v3", "draft"): two
    # versions of one journey share its name
    sources: list[str] = Field(default_factory=list)


class BacktestResult(BaseModel):
    status: Literal["done", "stopped", "failed"]
    calls: int = 0  # calls in the window
    error: str = ""
