"""Payloads of the scheduled CLV fit (import-light): ClvFitWorkflow's input and the `fit_clv`
activity's result."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

# The traits a fit writes on each customer with orders (activities/kpis.py); segments read them
# as number traits (segments/definition.py), journeys as `traits.<name>`.
PREDICTED_TRAITS = ("p_alive", "churn_risk", "expected_purchases", "predicted_clv")
# Traits only the product writes: an identify (or a journey's update_profile) naming one is
# not applied to it, so a client cannot overwrite what the fit computed.
COMPUTED_TRAITS = (*PREDICTED_TRAITS, "historic_clv", "clv_version")


class ClvFitInput(BaseModel):
    """Fit BG/NBD and Gamma-Gamma to the store's orders up to `as_of` (the calibration end; the
    workflow sets it to its start time, so a retried activity fits the same data) and write
    the predictions as traits."""

    as_of: datetime | None = None
    unit: Literal["days", "weeks"] = "weeks"  # the models' time unit
    # expected_purchases and predicted_clv look this many days ahead
    horizon_days: float = Field(default=90.0, gt=0)
    # fit on the orders of this many days up to as_of only; None: every order
    window_days: float | None = Field(default=None, gt=0)
    batch_size: int = Field(default=500, ge=1, le=10_000)  # customers per trait transaction


class ClvFitResult(BaseModel):
    version: int  # the ClvModel row recording this fit, fitted or skipped
    status: Literal["fitted", "skipped"]
    reason: str = ""  # why skipped: too few repeat buyers, no convergence
    customers: int = 0  # customers with orders in the calibration period
    repeat_customers: int = 0
    traits_written: int = 0  # customers given predicted traits
    traits_cleared: int = 0  # customers whose predictions of an earlier fit were removed
    bg_nbd: dict[str, float] = Field(default_factory=dict)  # r, alpha, a, b, log_likelihood
    gamma_gamma: dict[str, float] = Field(default_factory=dict)  # p, q, gamma, log_likelihood
