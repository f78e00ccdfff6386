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
    category: str | None = None  # trending: this category (default: the seeds', else all)
    # leave out what the customer bought; False for consumables people buy again
    exclude_purchased: bool = True


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
    """`extra` of each card holds its `score` and its `source`: the kind, or the fallback
    (trending, best_sellers, catalogue, similar for related) that filled the slot."""

    kind: str
    # the kind's model that answered; None: no model of the kind yet (the fallback answered),
    # or `related`, served from the merchandiser's live links
    model_version: int | None
    products: list[ProductCard] = Field(default_factory=list)
    fallback: str | None = None  # why the fallback answered, if it did


class TrainRecommendersInput(BaseModel):
    half_life_days: float = 7.0  # trending's time decay
    neighbours: int = 50  # per product, kept by people_like_you, bought_together, similar
    window_days: float = 365.0  # learn from the orders and events of this many days


class TrainRecommendersResult(BaseModel):
    versions: dict[str, int]  # kind → the version stored
    interactions: int
    products: int
