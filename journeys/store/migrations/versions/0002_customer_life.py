"""Customer lives: each customer workflow's lifetime numbered, so a recreated customer's
journey runs never take the ids (and the send ledger's keys) of an earlier life's.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customerlife",
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("lineage", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "epoch"),
        sa.UniqueConstraint("lineage"),
    )


def downgrade() -> None:
    op.drop_table("customerlife")
