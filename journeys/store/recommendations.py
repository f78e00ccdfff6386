"""Recommendation data: trained model versions, merchandiser links, the catalogue, and the
interactions the recommenders learn from (orders, product events)."""

import json
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from journeys.recommendations.types import CatalogueItem, Customer, Interaction, Model
from journeys.store.models import Customer as Profile
from journeys.store.models import Event, Order, Product, ProductLink, RecommenderModel

# Segment e-commerce events that say a customer cared about a product, weaker than buying it
PRODUCT_EVENTS = {"Product Viewed": 0.2, "Product Clicked": 0.2, "Product Added": 0.5}
RECENT_EVENTS = 50  # a customer's latest product events that serving reads


def save_model(session: Session, *, model: Model, trained_at: datetime) -> int:
    """Store `model` as the next version of its kind; returns the version."""
    latest = session.exec(
        select(func.max(RecommenderModel.version)).where(RecommenderModel.kind == model.kind)
    ).one()
    version = (latest or 0) + 1
    data = zlib.compress(json.dumps(model.to_data(), separators=(",", ":")).encode(), 6)
    session.add(
        RecommenderModel(
            kind=model.kind,
            version=version,
            trained_at=trained_at,
            parameters=model.params,
            payload=data,
            size_bytes=len(data),
        )
    )
    session.flush()
    return version


def latest_versions(session: Session) -> dict[str, int]:
    """Each kind's newest version: one small indexed query, to check a cache cheaply."""
    query = select(RecommenderModel.kind, func.max(RecommenderModel.version)).group_by(
        col(RecommenderModel.kind)
    )
    return {kind: version for kind, version in session.exec(query).all()}


def load_model(session: Session, *, kind: str, version: int | None = None) -> tuple[int, Model]:
    """A stored model (the newest if no version); LookupError if there is none."""
    query = select(RecommenderModel).where(RecommenderModel.kind == kind)
    if version is not None:
        query = query.where(RecommenderModel.version == version)
    row = session.exec(query.order_by(col(RecommenderModel.version).desc()).limit(1)).first()
    if row is None:
        raise LookupError(f"no {kind} model" + (f" version {version}" if version else ""))
    return row.version, Model.from_data(json.loads(zlib.decompress(row.payload)))


def set_links(session: Session, *, product_id: str, related: Sequence[str]) -> None:
    """Replace a product's related products with `related`, in that order."""
    session.execute(delete(ProductLink).where(col(ProductLink.product_id) == product_id))
    now = datetime.now(UTC)
    for position, related_id in enumerate(dict.fromkeys(related)):
        session.add(
            ProductLink(
                product_id=product_id, related_id=related_id, position=position, updated_at=now
            )
        )
    session.flush()


def links(
    session: Session, *, product_ids: Iterable[str] | None = None
) -> list[tuple[str, str, int]]:
    """(product, related product, position) for these products, or for all."""
    query = select(ProductLink.product_id, ProductLink.related_id, ProductLink.position)
    if product_ids is not None:
        query = query.where(col(ProductLink.product_id).in_(list(product_ids)))
    return [tuple(row) for row in session.exec(query.order_by(col(ProductLink.position))).all()]  # type: ignore[misc]


def upsert_products(session: Session, *, products: Iterable[dict[str, Any]]) -> int:
    """Insert or replace catalogue products (fields of `Product`); returns how many."""
    count = 0
    for fields in products:
        session.merge(Product(**fields))
        count += 1
    session.flush()
    return count


def catalogue(session: Session) -> list[CatalogueItem]:
    rows = session.exec(select(Product).order_by(col(Product.product_id)))
    return [
        CatalogueItem(
            product_id=p.product_id, name=p.name, description=p.description, category=p.category
        )
        for p in rows
    ]


def products(session: Session, *, product_ids: Iterable[str]) -> dict[str, Product]:
    ids = list(product_ids)
    if not ids:
        return {}
    rows = session.exec(select(Product).where(col(Product.product_id).in_(ids)))
    return {p.product_id: p for p in rows}


def catalogue_ids(session: Session, *, limit: int) -> list[str]:
    """The first products in catalogue order: the last-resort recommendation."""
    query = select(Product.product_id).order_by(col(Product.product_id)).limit(limit)
    return list(session.exec(query).all())


def interactions(session: Session, *, since: datetime | None = None) -> list[Interaction]:
    """Order lines (quantity, order id) and product events (a fraction of a unit, no order)."""
    found: list[Interaction] = []
    # columns, not ORM objects: training reads every order of the window
    orders = select(Order.customer_id, Order.order_id, Order.created_at, Order.products)
    if since is not None:
        orders = orders.where(col(Order.created_at) >= since)
    for customer_id, order_id, created_at, lines in session.exec(orders):
        at = created_at.timestamp()
        for product_id, quantity in _lines(lines):
            found.append(Interaction(customer_id, product_id, at, quantity, order_id))
    events = select(Event.customer_id, Event.event, Event.timestamp, Event.payload).where(
        col(Event.event).in_(list(PRODUCT_EVENTS))
    )
    if since is not None:
        events = events.where(col(Event.timestamp) >= since)
    for customer_id, name, timestamp, payload in session.exec(events):
        viewed = product_id_of(payload.get("properties") or {})
        if viewed and name is not None:  # never None: the query asks for PRODUCT_EVENTS only
            found.append(
                Interaction(customer_id, viewed, timestamp.timestamp(), PRODUCT_EVENTS[name])
            )
    return found


def customer(session: Session, *, customer_id: str) -> Customer | None:
    """What serving needs of a customer (orders, latest product events); None if the store
    has never seen this customer id. A customer merged into another reads as that one."""
    profile = session.get(Profile, customer_id)
    if profile is not None and profile.merged_into:
        customer_id = profile.merged_into
    elif profile is None and not _seen(session, customer_id):
        return None
    bought: list[tuple[float, str]] = []
    for order in session.exec(select(Order).where(Order.customer_id == customer_id)):
        bought.extend((order.created_at.timestamp(), p) for p, _ in _lines(order.products))
    events = session.exec(
        select(Event.timestamp, Event.payload)
        .where(Event.customer_id == customer_id, col(Event.event).in_(list(PRODUCT_EVENTS)))
        .order_by(col(Event.timestamp).desc())
        .limit(RECENT_EVENTS)
    ).all()
    seen = [
        (at.timestamp(), p)
        for at, payload in events
        if (p := product_id_of(payload.get("properties") or {}))
    ]
    history = [p for _, p in sorted(bought + seen)]
    return Customer(history=history, purchased={p for _, p in bought})


def _seen(session: Session, customer_id: str) -> bool:
    """An event or an order with this customer id (both indexed by it)."""
    for query in (
        select(Event.message_id).where(Event.customer_id == customer_id).limit(1),
        select(Order.order_id).where(Order.customer_id == customer_id).limit(1),
    ):
        if session.exec(query).first() is not None:
            return True
    return False


def _lines(products: Sequence[Any] | None) -> list[tuple[str, float]]:
    """An order's (product id, quantity) lines; anything not a line with a product id is
    skipped."""
    lines = []
    for line in products or []:
        if isinstance(line, dict) and (product_id := product_id_of(line)):
            try:
                quantity = float(line.get("quantity") or 1)
            except (TypeError, ValueError):
                quantity = 1.0
            lines.append((product_id, quantity if quantity > 0 else 1.0))
    return lines


def product_id_of(properties: dict[str, Any]) -> str | None:
    """A Segment product's id: `product_id`, else `sku`."""
    value = properties.get("product_id") or properties.get("sku")
    return str(value) if value not in (None, "") else None
