"""Alembic migrations of the store's schema (run through `journeys.store.schema`)."""
