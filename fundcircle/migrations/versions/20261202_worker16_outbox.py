"""The notice outbox, notice preferences and the worker's heartbeat; failed notices are now outbox rows.

Notices still kept in `failed_notices` (mail that failed before this version) are carried into the outbox for the
person whose address they were sent to, under the kind "round.phase_changed" (the old table did not say which
kind; the subject and body are as they were), and delivered by the worker.

Revision ID: worker16_0001
Revises: oc15_0001
Create Date: 2026-12-02 05:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "worker16_0001"
down_revision = "oc15_0001"
branch_labels = None
depends_on = None

DELIVERY_KNOWN = "delivery IN ('immediate', 'daily', 'weekly', 'inbox')"


def upgrade() -> None:
    op.create_table(
        "notice_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=True),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.CheckConstraint(DELIVERY_KNOWN, name=op.f("ck_notice_outbox_delivery_known")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notice_outbox_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_outbox")),
    )
    op.create_index("ix_notice_outbox_pending", "notice_outbox", ["delivery", "sent_at", "next_attempt_at"])
    op.create_index(op.f("ix_notice_outbox_user_id"), "notice_outbox", ["user_id"])
    op.create_table(
        "notice_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.CheckConstraint(DELIVERY_KNOWN, name=op.f("ck_notice_preferences_delivery_known")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notice_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notice_preferences")),
    )
    op.create_table(
        "worker_heartbeats",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_heartbeats")),
    )
    op.execute(
        "INSERT INTO notice_outbox (user_id, recipient, subject, body, kind, delivery, created_at, attempts)"
        " SELECT users.id, failed_notices.recipient, failed_notices.subject, failed_notices.body,"
        " 'round.phase_changed', 'immediate', failed_notices.failed_at, 0"
        " FROM failed_notices JOIN users ON users.email = failed_notices.recipient"
    )
    op.drop_table("failed_notices")


def downgrade() -> None:
    op.create_table(
        "failed_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sending_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failed_notices")),
    )
    op.drop_table("worker_heartbeats")
    op.drop_table("notice_preferences")
    op.drop_index(op.f("ix_notice_outbox_user_id"), table_name="notice_outbox")
    op.drop_index("ix_notice_outbox_pending", table_name="notice_outbox")
    op.drop_table("notice_outbox")
