"""Accounts: the traits of Segment `group`s and the customers in each (group calls used to be
passed along and never stored).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("group_id", sa.String(length=300), nullable=False),
        sa.Column("traits", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_id"),
    )
    op.create_table(
        "accountmember",
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("group_id", sa.String(length=300), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "group_id"),
    )


def downgrade() -> None:
    op.drop_table("accountmember")
    op.drop_table("account")
