"""The product catalogue behind the recommendations (admin key): `PUT /v1/products` adds or
replaces products, `/v1/products/{id}/related` reads and replaces a merchandiser's links."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, Field
from sqlmodel import Session

from journeys.api.deps import KeyFirstRoute, StoreDep, require_admin
from journeys.api.errors import ApiError
from journeys.store import recommendations as catalogue
from journeys.store.models import Product

MAX_LINKS = 100
MAX_PRODUCTS_PER_CALL = 10_000

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1/products",
    dependencies=[Depends(require_admin)],
    tags=["products"],
)


class ProductIn(BaseModel):
    product_id: str = Field(min_length=1, max_length=300)
    name: str = Field(min_length=1, max_length=1000)
    description: str = Field(default="", max_length=10_000)
    category: str = Field(default="", max_length=300)
    price: float = Field(default=0.0, ge=0)


class RelatedIn(BaseModel):
    related: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(max_length=MAX_LINKS)


@router.put("", summary="add or replace catalogue products")
async def put_products(
    products: Annotated[list[ProductIn], Body(max_length=MAX_PRODUCTS_PER_CALL)], store: StoreDep
) -> dict[str, int]:
    rows = [p.model_dump() for p in products]
    return {"upserted": await store.run(lambda s: catalogue.upsert_products(s, products=rows))}


@router.get("/{product_id}/related", summary="a product's merchandiser links, in order")
async def get_related(product_id: str, store: StoreDep) -> dict[str, Any]:
    def read(session: Session) -> list[str] | None:
        if session.get(Product, product_id) is None:
            return None
        return [r for _, r, _ in catalogue.links(session, product_ids=[product_id])]

    related = await store.run(read)
    if related is None:
        raise ApiError(404, f"no product {product_id!r}")
    return {"product_id": product_id, "related": related}


@router.put(
    "/{product_id}/related",
    summary="replace a product's merchandiser links (order = display order)",
)
async def put_related(product_id: str, body: RelatedIn, store: StoreDep) -> dict[str, Any]:
    def write(session: Session) -> list[dict[str, str]] | None:
        if session.get(Product, product_id) is None:
            return None
        known = catalogue.products(session, product_ids=body.related)
        errors = [
            {"field": f"related[{i}]", "reason": reason}
            for i, related in enumerate(body.related)
            if (reason := _link_problem(product_id, related, known))
        ]
        if not errors:
            catalogue.set_links(session, product_id=product_id, related=body.related)
        return errors

    errors = await store.run(write)
    if errors is None:
        raise ApiError(404, f"no product {product_id!r}")
    if errors:
        raise ApiError(400, "invalid related products", errors)
    return {"product_id": product_id, "related": list(dict.fromkeys(body.related))}


def _link_problem(product_id: str, related: str, known: dict[str, Product]) -> str | None:
    if related == product_id:
        return "a product cannot be related to itself"
    return None if related in known else f"no product {related!r}"
