"""RFM scores (1-5) and engagement levels: the measures both evaluation paths share.

RFM is computed over the orders placed up to the evaluation instant (`as_of`), for customers
with at least one; a customer without orders has no score (every comparison with it is false).

- recency: time since the last order; frequency: number of orders; monetary: their total.
- Thresholds are the quintile edges (20th, 40th, 60th, 80th percentiles, lower value) of each
  measure over every customer with orders, computed by the batch refresh and stored, so the
  incremental path scores a customer against the same edges as the batch query.
- frequency and monetary score 1 + the number of edges the value is above (above all four: 5);
  recency scores 5 - the number of recency edges the time since the last order is above
  (ordered a moment ago: 5). Ties on an edge take the lower score.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel

from journeys.segments.definition import ENGAGEMENT_BOUNDS, ENGAGEMENT_LEVELS


class RfmThresholds(BaseModel):
    computed_at: datetime
    customers: int  # customers with orders the edges were computed over
    recency: list[float]  # seconds since the last order
    frequency: list[float]
    monetary: list[float]

    def recency_edges(self) -> list[timedelta]:
        """As durations: both paths compare `last_order < as_of - edge` with these values."""
        return [timedelta(seconds=edge) for edge in self.recency]


def quintile_edges(values: Sequence[float]) -> list[float]:
    """The 20/40/60/80th percentile edges (the value at rank floor(k·n/5) of the sorted
    values); empty for no values."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return []
    return [float(ordered[min(n - 1, k * n // 5)]) for k in (1, 2, 3, 4)]


def compute_thresholds(
    as_of: datetime, per_customer: Sequence[tuple[int, float, datetime]]
) -> RfmThresholds:
    """Edges from (order count, total spend, last order time) of each customer with orders."""
    return RfmThresholds(
        computed_at=as_of,
        customers=len(per_customer),
        recency=quintile_edges([(as_of - last).total_seconds() for _, _, last in per_customer]),
        frequency=quintile_edges([float(count) for count, _, _ in per_customer]),
        monetary=quintile_edges([float(total) for _, total, _ in per_customer]),
    )


def ascending_score(value: float, edges: Sequence[float]) -> int:
    return 1 + sum(1 for edge in edges if value > edge)


def recency_score(last_order: datetime, as_of: datetime, edges: Sequence[timedelta]) -> int:
    return 5 - sum(1 for edge in edges if last_order < as_of - edge)


def engagement_level(events: int) -> str:
    """none: 0 events in the window, low: 1-4, medium: 5-19, high: 20 or more."""
    return ENGAGEMENT_LEVELS[sum(1 for bound in ENGAGEMENT_BOUNDS if events >= bound)]
