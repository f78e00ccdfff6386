"""Recommendations for websites (`GET /v1/recommendations/{userId}`, write key as for tracking)
and the catalogue behind them (`PUT /v1/products`, merchandiser links under
`/v1/products/{id}/related`, admin key)."""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from journeys.activities.recommendations import MAX_COUNT, RecommendationActivities
from journeys.api.auth import admin_guard, write_key_guard
from journeys.api.errors import ApiError
from journeys.config.settings import Settings
from journeys.recommendations.serving import KINDS
from journeys.store import recommendations as store
from journeys.store.db import session_scope
from journeys.store.models import Product
from journeys.vocabulary.recommendation_types import RecommendInput

MAX_LINKS = 100
MAX_PRODUCTS_PER_CALL = 10_000


class ProductIn(BaseModel):
    product_id: str = Field(min_length=1, max_length=300)
    name: str = Field(min_length=1, max_length=1000)
    description: str = Field(default="", max_length=10_000)
    category: str = Field(default="", max_length=300)
    price: float = Field(default=0.0, ge=0)


class RelatedIn(BaseModel):
    related: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(max_length=MAX_LINKS)


def recommendations_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["recommendations"])
    url = settings.database_url
    recommender = RecommendationActivities(url)
    admin = [Depends(admin_guard(settings))]

    @router.get(
        "/recommendations/{userId}",
        summary="products to show this customer",
        dependencies=[Depends(write_key_guard(settings))],
    )
    async def recommendations(
        userId: str,  # noqa: N803
        kind: Annotated[str, Query(description=" | ".join(KINDS))],
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

    @router.put("/products", summary="add or replace catalogue products", dependencies=admin)
    async def put_products(
        products: Annotated[list[ProductIn], Body(max_length=MAX_PRODUCTS_PER_CALL)],
    ) -> dict[str, int]:
        def write() -> int:
            with session_scope(url) as session:
                rows = [p.model_dump() for p in products]
                return store.upsert_products(session, products=rows)

        return {"upserted": await asyncio.to_thread(write)}

    @router.get(
        "/products/{product_id}/related",
        summary="a product's merchandiser links, in order",
        dependencies=admin,
    )
    async def get_related(product_id: str) -> dict[str, Any]:
        def read() -> list[str] | None:
            with session_scope(url) as session:
                if session.get(Product, product_id) is None:
                    return None
                return [r for _, r, _ in store.links(session, product_ids=[product_id])]

        related = await asyncio.to_thread(read)
        if related is None:
            raise ApiError(404, f"no product {product_id!r}")
        return {"product_id": product_id, "related": related}

    @router.put(
        "/products/{product_id}/related",
        summary="replace a product's merchandiser links (order = display order)",
        dependencies=admin,
    )
    async def put_related(product_id: str, body: RelatedIn) -> dict[str, Any]:
        def write() -> list[dict[str, str]] | None:
            with session_scope(url) as session:
                if session.get(Product, product_id) is None:
                    return None
                known = store.products(session, product_ids=body.related)
                errors = [
                    {"field": f"related[{i}]", "reason": reason}
                    for i, related in enumerate(body.related)
                    if (reason := _link_problem(product_id, related, known))
                ]
                if not errors:
                    store.set_links(session, product_id=product_id, related=body.related)
                return errors

        errors = await asyncio.to_thread(write)
        if errors is None:
            raise ApiError(404, f"no product {product_id!r}")
        if errors:
            raise ApiError(400, "invalid related products", errors)
        return {"product_id": product_id, "related": list(dict.fromkeys(body.related))}

    return router


def _link_problem(product_id: str, related: str, known: dict[str, Product]) -> str | None:
    if related == product_id:
        return "a product cannot be related to itself"
    return None if related in known else f"no product {related!r}"
