"""The store: SQLModel tables and plain data functions. SQLite by default, PostgreSQL at scale.

Workflows never touch it; the API and activities do.
"""
