"""Recommendations for websites: `GET /v1/recommendations/{userId}` (write key as for
tracking), served by the recommender the app holds (activities/recommendations.py)."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from journeys.activities.recommendations import MAX_COUNT
from journeys.api.deps import KeyFirstRoute, RecommenderDep, require_write_key
from journeys.api.errors import ApiError
from journeys.recommendations.serving import KINDS
from journeys.vocabulary.recommendation_types import RecommendInput

router = APIRouter(
    route_class=KeyFirstRoute, prefix="/v1/recommendations", tags=["recommendations"]
)


@router.get(
    "/{userId}",
    summary="products to show this customer",
    dependencies=[Depends(require_write_key)],
)
async def recommendations(
    userId: str,  # noqa: N803
    kind: Annotated[str, Query(description=" | ".join(KINDS))],
    recommender: RecommenderDep,
    k: Annotated[int, Query(ge=1, le=MAX_COUNT)] = 10,
    productId: Annotated[list[str] | None, Query(max_length=50)] = None,  # noqa: N803
    category: str | None = None,
    excludePurchased: bool = True,  # noqa: N803
) -> dict[str, Any]:
    """`productId` (repeatable): the viewed product or the cart's, seeds of related,
    bought_together and similar (unknown ones are ignored). A customer without history
    gets the fallback (trending, best-sellers, catalogue order) and `fallback` says why."""
    if kind not in KINDS:
        reason = f"unknown kind {kind!r}; one of {', '.join(KINDS)}"
        raise ApiError(400, "invalid request", [{"field": "kind", "reason": reason}])
    request = RecommendInput(
        customer_id=userId,
        kind=kind,
        count=k,
        product_ids=productId or [],
        category=category,
        exclude_purchased=excludePurchased,
    )
    answer = await asyncio.to_thread(recommender.serve, request, True)
    if answer is None:
        raise ApiError(
            404,
            "unknown customer",
            [{"field": "userId", "reason": "no event or profile has this customer id"}],
        )
    return answer.model_dump(mode="json")
