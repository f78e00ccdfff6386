"""The provider's word on a sent message (delivered, bounced, complained, failed): a bounce
used to leave the ledger row `sent`, and reports counted it as a message that went out.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message") as table:
        table.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        table.add_column(sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message") as table:
        table.drop_column("outcome_at")
        table.drop_column("outcome")
