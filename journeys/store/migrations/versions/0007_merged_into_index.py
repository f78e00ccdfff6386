"""An index on customer.merged_into: a customer's story and every page's popovers look up the
ids merged into a customer, which scanned the whole customer table.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_customer_merged_into", "customer", ["merged_into"])


def downgrade() -> None:
    op.drop_index("ix_customer_merged_into", table_name="customer")
