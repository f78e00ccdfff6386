"""Alembic's entry: migrations run on the connection `journeys.store.schema` passes (which holds
the lock), or, for a developer's `alembic` command, on JOURNEYS_DATABASE_URL."""

from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

from journeys.store.models import UTCDateTime  # and every table, on SQLModel.metadata


def _render_item(kind: str, item: object, autogen_context: AutogenContext) -> str | Literal[False]:
    """Drafted revisions name plain SQLAlchemy types, never our model classes (which change)."""
    if kind == "type" and isinstance(item, AutoString):
        return f"sa.String({item.length})" if item.length else "sa.String()"
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,  # SQLite alters a table by copying it
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from journeys.config.settings import get_settings
    from journeys.store.db import create_store_engine

    engine = create_store_engine(get_settings().database_url)
    with engine.begin() as own:
        _run(own)
