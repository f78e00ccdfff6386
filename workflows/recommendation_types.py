"""Payloads of product recommendations (import-light): a journey's `recommend` step asks for
products, later templates read them (`products`, or the step's `save_as`)."""

from typing import Any

from pydantic import BaseModel, Field


class RecommendInput(BaseModel):
    customer_id: str
    kind: str  # trending | people_like_you | related | bought_together | similar
    count: int = 4
    # products the context is about (the cart's, the viewed product): seeds for related,
    # bought_together and similar; empty: the customer's own history
    product_ids: list[str] = Field(default_factory=list)


class ProductCard(BaseModel):
    """What a template shows of a recommended product."""

    product_id: str
    name: str
    category: str = ""
    price: float = 0.0
    url: str | None = None
    image_url: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class Recommendations(BaseModel):
    kind: str
    model_version: int | None  # None: the cold-start fallback answered
    products: list[ProductCard] = Field(default_factory=list)
    fallback: str | None = None  # why the fallback answered, if it did
