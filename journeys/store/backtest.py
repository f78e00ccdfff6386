"""What a backtest reads from stores: the rows that decide delivery, copied from the live store
into the backtest's own, and afterwards its runs, messages and events for the report."""

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel, col, select

from journeys.config.settings import ConfigError
from journeys.data import SEGMENTS
from journeys.segments.definition import parse_definition
from journeys.store.db import get_engine, session_scope
from journeys.store.models import (
    Event,
    JourneyEvent,
    Message,
    Product,
    Segment,
    Subscription,
    Suppression,
)
from journeys.store.segments import save_segment

# Consent and suppressions decide who may be sent what; products and segment definitions are
# what recommendations and segment conditions read. Nothing else leaves the live store.
REFERENCE_TABLES: list[type[SQLModel]] = [Suppression, Subscription, Product, Segment]


def live_store_exists(url: str) -> bool:
    """False for a SQLite file that is not there (opening it would create it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return True
    return parsed.database == ":memory:" or Path(parsed.database).exists()


def copy_reference_data(source_url: str, target_url: str) -> dict[str, int]:
    """Copy REFERENCE_TABLES from the live store (read only) into the backtest's; rows per
    table. A live store without our schema yet gives nothing."""
    if not live_store_exists(source_url):
        return {}
    present = set(inspect(get_engine(source_url)).get_table_names())
    copied: dict[str, int] = {}
    for model in REFERENCE_TABLES:
        table = model.__tablename__  # type: ignore[attr-defined]
        if table not in present:
            continue
        with session_scope(source_url) as source:
            rows = [row.model_dump() for row in source.exec(select(model))]
        with session_scope(target_url) as target:
            target.add_all(model.model_validate(row) for row in rows)
        copied[str(table)] = len(rows)
    return copied


def add_missing_segments(session: Any, names: list[str]) -> list[str]:
    """The segments a spec names that the live store had none of, from the shipped definitions
    (journeys/data/segments), as a fresh stack would have them; the ones added."""
    added = []
    for name in dict.fromkeys(names):
        if session.get(Segment, name) is not None:
            continue
        shipped = SEGMENTS / f"{name}.yaml"
        if not shipped.is_file():
            raise ConfigError(f"segment {name!r}: not in the store and not a shipped segment "
                              "(publish it with `journeys segments publish`)")  # fmt: skip
        definition = parse_definition(yaml.safe_load(shipped.read_text(encoding="utf-8")))
        save_segment(session, definition=definition)
        added.append(name)
    return added


def run_records(session: Any, *, customer_ids: list[str] | None = None) -> list[JourneyEvent]:
    """Every run's records (one customer's, if its ids are named), run by run in order."""
    query = select(JourneyEvent)
    if customer_ids is not None:
        query = query.where(col(JourneyEvent.customer_id).in_(customer_ids))
    return list(session.exec(query.order_by(col(JourneyEvent.workflow_id), col(JourneyEvent.seq))))


def event_customers(session: Any) -> list[str]:
    """Every customer the log's calls went to (merged ones too), in order."""
    query = select(Event.customer_id).distinct().order_by(col(Event.customer_id))
    return list(session.exec(query))


def ledger(session: Any) -> list[Message]:
    return list(session.exec(select(Message).order_by(col(Message.idempotency_key))))
