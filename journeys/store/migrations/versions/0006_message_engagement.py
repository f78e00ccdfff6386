"""When a sent message was first opened and first clicked, by the person and by a machine
(privacy proxies, link scanners) apart: engagement figures used to have no source but the
events, and could not tell the two.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("opened_at", "clicked_at", "machine_opened_at", "machine_clicked_at")


def upgrade() -> None:
    with op.batch_alter_table("message") as table:
        for name in COLUMNS:
            table.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message") as table:
        for name in reversed(COLUMNS):
            table.drop_column(name)
