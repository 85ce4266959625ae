"""The inbox (a row per person per notice), the reminders sent about rounds, and each round's setting of how long
before a deadline it reminds.

Revision ID: inbox16_0001
Revises: merkle21_0001
Create Date: 2026-12-02 05:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "inbox16_0001"
down_revision = "merkle21_0001"
branch_labels = None
depends_on = None

_CHECK = "ck_rounds_remind_before_hours_not_negative"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["circle_id"], ["circles.id"], name=op.f("fk_notifications_circle_id_circles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "id"], unique=False)
    op.create_index("ix_notifications_user_id_read_at", "notifications", ["user_id", "read_at"], unique=False)
    op.create_table(
        "round_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_by_id", sa.Integer(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('deadline', 'manual')", name=op.f("ck_round_reminders_kind_known")),
        sa.CheckConstraint(
            "kind = 'manual' OR deadline_at IS NOT NULL",
            name=op.f("ck_round_reminders_deadline_reminder_has_deadline"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_round_reminders_round_id_rounds"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["sent_by_id"], ["users.id"], name=op.f("fk_round_reminders_sent_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_reminders")),
        sa.UniqueConstraint("round_id", "kind", "phase", "deadline_at", name="uq_round_reminders_once_per_deadline"),
    )
    op.create_index(op.f("ix_round_reminders_round_id"), "round_reminders", ["round_id"], unique=False)
    # Not a batch (a copy of the table) on SQLite: `rounds` is referenced by most tables, and copying it fails their
    # foreign keys once they hold rows. SQLite adds (and later drops) a column with its own CHECK in place.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE rounds ADD COLUMN remind_before_hours INTEGER DEFAULT '24' NOT NULL "
            f"CONSTRAINT {_CHECK} CHECK (remind_before_hours >= 0)"
        )
    else:
        op.add_column("rounds", sa.Column("remind_before_hours", sa.Integer(), server_default="24", nullable=False))
        op.create_check_constraint(op.f(_CHECK), "rounds", "remind_before_hours >= 0")


def downgrade() -> None:
    op.drop_index("ix_notifications_user_id_read_at", table_name="notifications")
    op.drop_index("ix_notifications_user_id_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_round_reminders_round_id"), table_name="round_reminders")
    op.drop_table("round_reminders")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE rounds DROP COLUMN remind_before_hours")
    else:
        op.drop_constraint(op.f(_CHECK), "rounds", type_="check")
        op.drop_column("rounds", "remind_before_hours")
