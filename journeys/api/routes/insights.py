"""Insights (admin key): `GET /v1/insights/inflections` — the touchpoints after which a goal
becomes markedly more or less likely, controlled for lifecycle stage (kpis/inflections.py).
Association, not cause: an experiment step gives the causal answer."""

import asyncio
from dataclasses import asdict
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from journeys.api.deps import KeyFirstRoute, Store, StoreDep, require_admin
from journeys.api.routes.reports import From, To, last
from journeys.kpis.inflections import MIN_EXPOSED, Inflection, inflections
from journeys.store.insights import goal_landmarks

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1/insights",
    dependencies=[Depends(require_admin)],
    tags=["insights"],
)
PERIOD = timedelta(days=90)
DEFAULT_GOAL = "Order Completed"  # a customer's first order
CAVEAT = ("association, not cause: customers choose their touchpoints; run an experiment step "
          "for a causal answer")  # fmt: skip


async def find_inflections(
    store: Store, *, goal: str, start: datetime | None, end: datetime | None, window_days: int,
    min_exposed: int = MIN_EXPOSED,
) -> tuple[list[Inflection], int, datetime, datetime]:  # fmt: skip
    """The inflections of a period (90 days to now by default), and the landmarks behind them."""
    start, end = last(start, end, PERIOD)
    landmarks = await store.run(partial(goal_landmarks, goal=goal, start=start, end=end,
                                        window=timedelta(days=window_days)))  # fmt: skip
    found = await asyncio.to_thread(inflections, landmarks, min_exposed=min_exposed)
    return found, len(landmarks), start, end


@router.get("/inflections", summary="touchpoints after which a goal is markedly more likely")
async def inflection_points(
    store: StoreDep,
    goal: Annotated[str, Query(min_length=1, max_length=300)] = DEFAULT_GOAL,
    start: From = None,
    end: To = None,
    window_days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> dict[str, Any]:
    found, landmarks, start, end = await find_inflections(
        store, goal=goal, start=start, end=end, window_days=window_days
    )
    return {
        "goal": goal, "from": start.isoformat(), "to": end.isoformat(),
        "window_days": window_days, "stage_entries": landmarks, "note": CAVEAT,
        "inflections": [asdict(f) for f in found],
    }  # fmt: skip
