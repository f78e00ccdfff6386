"""Baseline: the 0.1 schema, which 0.1 made with `create_all`.

On an empty database this creates every table. On a 0.1 store (tables, no alembic_version) it
adopts what is there: it creates only the missing tables and indexes and adds the nullable
columns an older 0.1 lacked (customer.stage), so the rows already stored stay as they are.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# dependants before what they depend on (journeyversion before journey)
TABLES_NEWEST_FIRST = [
    "journeyversion",
    "task",
    "suppression",
    "subscription",
    "stageentry",
    "segmentmembership",
    "segment",
    "rfm_thresholds",
    "recommendermodel",
    "productlink",
    "product",
    "order",
    "message",
    "journeyevent",
    "journey",
    "identity",
    "experimentpromotion",
    "event",
    "decision",
    "customer",
    "clv_model",
    "catalog",
    "apikey",
]


def _existing() -> sa.Inspector:
    return sa.inspect(op.get_bind())


def _table(name: str, *columns: sa.Column | sa.Constraint) -> None:
    inspector = _existing()
    if not inspector.has_table(name):
        op.create_table(name, *columns)
        return
    have = {column["name"] for column in inspector.get_columns(name)}
    for column in columns:
        if isinstance(column, sa.Column) and column.name not in have:
            if not column.nullable:
                raise RuntimeError(
                    f"store table {name!r} lacks the required column {column.name!r}"
                )
            op.add_column(name, column)


def _index(name: str, table: str, columns: list[str], **options: object) -> None:
    if name not in {index["name"] for index in _existing().get_indexes(table)}:
        op.create_index(name, table, columns, **options)  # type: ignore[arg-type]


def upgrade() -> None:
    _table(
        "apikey",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("digest"),
    )
    _table(
        "catalog",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_catalog_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    _table(
        "clv_model",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fit_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calibration_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("horizon_days", sa.Float(), nullable=False),
        sa.Column("window_days", sa.Float(), nullable=True),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("repeat_customers", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("bg_nbd_log_likelihood", sa.Float(), nullable=True),
        sa.Column("gamma_gamma_log_likelihood", sa.Float(), nullable=True),
        sa.Column("traits_written", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
        sa.UniqueConstraint("fit_key"),
    )
    _table(
        "customer",
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("traits", sa.JSON(), nullable=False),
        sa.Column("merged_into", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    _table(
        "decision",
        sa.Column("decision_id", sa.String(length=500), nullable=False),
        sa.Column("workflow_id", sa.String(length=400), nullable=False),
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("chosen", sa.String(length=64), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("decision_id"),
    )
    _index("ix_decision_customer_id", "decision", ["customer_id"], unique=False)
    _index("ix_decision_journey_step", "decision", ["journey", "step"], unique=False)
    _index("ix_decision_workflow_id", "decision", ["workflow_id"], unique=False)

    _table(
        "event",
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=300), nullable=True),
        sa.Column("user_id", sa.String(length=300), nullable=True),
        sa.Column("anonymous_id", sa.String(length=300), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    _index("ix_event_customer_time", "event", ["customer_id", "timestamp"], unique=False)

    _table(
        "experimentpromotion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("winner", sa.String(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("weights_before", sa.JSON(), nullable=False),
        sa.Column("probability_best", sa.Float(), nullable=True),
        sa.Column("exposures", sa.JSON(), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverted_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("ix_experimentpromotion_journey", "experimentpromotion", ["journey"], unique=False)

    _table(
        "identity",
        sa.Column("anonymous_id", sa.String(length=300), nullable=False),
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("anonymous_id"),
    )
    _index("ix_identity_customer_id", "identity", ["customer_id"], unique=False)

    _table(
        "journey",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pause_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'disabled', 'archived')", name="ck_journey_status"
        ),
        sa.PrimaryKeyConstraint("name"),
    )
    _table(
        "journeyevent",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("workflow_id", sa.String(length=400), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    _index("ix_journeyevent_customer_id", "journeyevent", ["customer_id"], unique=False)
    _index("ix_journeyevent_journey", "journeyevent", ["journey"], unique=False)
    _index("ix_journeyevent_workflow_id", "journeyevent", ["workflow_id"], unique=False)

    _table(
        "message",
        sa.Column("idempotency_key", sa.String(length=500), nullable=False),
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=200), nullable=False),
        sa.Column("fallback", sa.String(length=16), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("served_session", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    _index("ix_message_customer_id", "message", ["customer_id"], unique=False)
    _index("ix_message_served_session", "message", ["served_session"], unique=False)

    _table(
        "order",
        sa.Column("order_id", sa.String(length=300), nullable=False),
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
    )
    _index("ix_order_customer_id", "order", ["customer_id"], unique=False)

    _table(
        "product",
        sa.Column("product_id", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("product_id"),
    )
    _index("ix_product_category", "product", ["category"], unique=False)

    _table(
        "productlink",
        sa.Column("product_id", sa.String(length=300), nullable=False),
        sa.Column("related_id", sa.String(length=300), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "related_id"),
    )
    _table(
        "recommendermodel",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "version"),
    )
    _table(
        "rfm_thresholds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("recency", sa.JSON(), nullable=False),
        sa.Column("frequency", sa.JSON(), nullable=False),
        sa.Column("monetary", sa.JSON(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_rfm_thresholds_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    _table(
        "segment",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'archived')", name="ck_segment_status"),
        sa.PrimaryKeyConstraint("name"),
    )
    _table(
        "segmentmembership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _index(
        "ix_segment_membership_customer",
        "segmentmembership",
        ["customer_id", "segment"],
        unique=False,
    )
    _index("ix_segment_membership_entered_at", "segmentmembership", ["entered_at"], unique=False)
    _index("ix_segment_membership_exited_at", "segmentmembership", ["exited_at"], unique=False)
    _index(
        "ix_segment_membership_segment", "segmentmembership", ["segment", "exited_at"], unique=False
    )
    _index(
        "ux_segment_membership_open",
        "segmentmembership",
        ["segment", "customer_id"],
        unique=True,
        sqlite_where=sa.text("exited_at IS NULL"),
        postgresql_where=sa.text("exited_at IS NULL"),
    )

    _table(
        "stageentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=True),
        sa.Column("cause", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("ix_stageentry_stage_at", "stageentry", ["stage", "at"], unique=False)
    _index("ux_stageentry_once", "stageentry", ["customer_id", "at", "stage"], unique=True)

    _table(
        "subscription",
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "channel", "topic"),
    )
    _table(
        "suppression",
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "channel"),
    )
    _table(
        "task",
        sa.Column("task_id", sa.String(length=500), nullable=False),
        sa.Column("workflow_id", sa.String(length=400), nullable=False),
        sa.Column("customer_id", sa.String(length=300), nullable=False),
        sa.Column("journey", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=100), nullable=True),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
    )
    _index("ix_task_customer_id", "task", ["customer_id"], unique=False)
    _index("ix_task_status", "task", ["status"], unique=False)
    _index("ix_task_team", "task", ["team"], unique=False)

    _table(
        "journeyversion",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["journey.name"],
        ),
        sa.PrimaryKeyConstraint("name", "version"),
    )


def downgrade() -> None:
    for name in TABLES_NEWEST_FIRST:
        op.drop_table(name)
