"""The scheduled CLV fit's rows: the orders it reads, its versioned ClvModel records, and the
traits it writes on customers (kpis/clv.py has the models, activities/kpis.py the run)."""

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Float, case, func, literal
from sqlmodel import Session, col, select

from journeys.store.models import ClvModel, Customer, Order, UTCDateTime
from journeys.store.segment_sql import JsonIs
from journeys.vocabulary.kpi_types import PREDICTED_TRAITS

_order = Order.__table__  # type: ignore[attr-defined]
_customer = Customer.__table__  # type: ignore[attr-defined]


def transactions(
    session: Session, *, as_of: datetime, since: datetime | None = None
) -> list[tuple[str, date, float]]:
    """Every order up to `as_of` (and after `since`) as (customer, day in UTC, total)."""
    query = select(_order.c.customer_id, _order.c.created_at, _order.c.total).where(
        _order.c.created_at <= literal(as_of, UTCDateTime())
    )
    if since is not None:
        query = query.where(_order.c.created_at > literal(since, UTCDateTime()))
    return [(cid, at.astimezone(UTC).date(), float(total)) for cid, at, total in
            session.execute(query)]  # fmt: skip


def order_totals(session: Session, *, as_of: datetime) -> dict[str, float]:
    """Each customer's spend over all their orders up to `as_of` (historic CLV)."""
    query = (
        select(_order.c.customer_id, func.sum(_order.c.total))
        .where(_order.c.created_at <= literal(as_of, UTCDateTime()))
        .group_by(_order.c.customer_id)
    )
    return {cid: float(total or 0.0) for cid, total in session.execute(query)}


def find_fit(session: Session, *, fit_key: str) -> ClvModel | None:
    return session.exec(select(ClvModel).where(ClvModel.fit_key == fit_key)).first()


def save_fit(session: Session, *, fit: ClvModel) -> ClvModel:
    """Store `fit` as the next version; returns it with its version."""
    latest = session.exec(select(func.max(ClvModel.version))).one()
    fit.version = (latest or 0) + 1
    session.add(fit)
    session.flush()
    return fit


def latest_fit(session: Session, *, fitted_only: bool = True) -> ClvModel | None:
    query = select(ClvModel)
    if fitted_only:
        query = query.where(ClvModel.status == "fitted")
    return session.exec(query.order_by(col(ClvModel.version).desc()).limit(1)).first()


def skip_fit(session: Session, *, version: int, reason: str) -> ClvModel:
    row = session.get(ClvModel, version)
    assert row is not None, f"no CLV model {version}"
    row.status, row.reason = "skipped", reason
    session.add(row)
    return row


def set_traits_written(session: Session, *, version: int, count: int) -> None:
    row = session.get(ClvModel, version)
    if row is not None:
        row.traits_written = count
        session.add(row)


def write_traits(session: Session, *, values: Mapping[str, dict[str, Any]], at: datetime) -> int:
    """Merge each customer's values into their traits (a profile is made for a customer known
    only by orders; a customer merged into another is left alone). Returns how many changed:
    a retry writing the same values changes none."""
    ids = list(values)
    found = {c.customer_id: c for c in session.exec(
        select(Customer).where(col(Customer.customer_id).in_(ids)))}  # fmt: skip
    changed = 0
    for customer_id in ids:
        customer = found.get(customer_id)
        if customer is None:
            customer = Customer(customer_id=customer_id, traits={}, created_at=at, updated_at=at)
        elif customer.merged_into is not None:
            continue
        merged = {**(customer.traits or {}), **values[customer_id]}
        if merged == customer.traits:
            continue
        customer.traits = merged  # a new dict: the JSON column sees the change
        customer.updated_at = at
        session.add(customer)
        changed += 1
    return changed


def clear_stale_predictions(session: Session, *, version: int, at: datetime) -> int:
    """Remove the predicted traits (and clv_version) from customers an earlier fit wrote and
    this one, `version`, did not (their orders fell out of the window): a prediction is either
    the latest fit's or absent. Returns how many customers were cleared."""
    traits = _customer.c.traits
    written_by = case((JsonIs(traits, "clv_version", "number"),
                       traits["clv_version"].as_float()), else_=None).cast(Float)  # fmt: skip
    stale = session.exec(select(Customer).where(written_by < version)).all()
    drop = {*PREDICTED_TRAITS, "clv_version"}
    for customer in stale:
        customer.traits = {k: v for k, v in customer.traits.items() if k not in drop}
        customer.updated_at = at
        session.add(customer)
    return len(stale)
