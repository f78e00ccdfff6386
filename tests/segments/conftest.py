"""Segment tests run on SQLite and on the throw-away PostgreSQL cluster, like the store's."""

from tests.store.conftest import database_url, postgres_url  # noqa: F401  (the fixtures)
