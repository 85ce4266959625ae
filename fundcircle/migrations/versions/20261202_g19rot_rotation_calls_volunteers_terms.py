"""Rotating circles: calls for volunteers to be the next deciding members, the volunteers, and the terms of those
drawn by sortition. New tables only: nothing to backfill.

Revision ID: g19rot_0001
Revises: g19join_0001
Create Date: 2026-12-02 16:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g19rot_0001"
down_revision = "g19join_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rotation_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("opened_by_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("term_days", sa.Integer(), nullable=False),
        sa.Column("newcomer_share_percent", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("draw_seq", sa.Integer(), nullable=True),
        sa.CheckConstraint("seats BETWEEN 1 AND 50", name=op.f("ck_rotation_calls_seats_in_range")),
        sa.CheckConstraint("term_days BETWEEN 1 AND 3650", name=op.f("ck_rotation_calls_term_days_in_range")),
        sa.CheckConstraint(
            "newcomer_share_percent BETWEEN 0 AND 100", name=op.f("ck_rotation_calls_newcomer_share_in_range")
        ),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_rotation_calls_circle_id_circles")),
        sa.ForeignKeyConstraint(["opened_by_id"], ["users.id"], name=op.f("fk_rotation_calls_opened_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_calls")),
    )
    op.create_index(op.f("ix_rotation_calls_circle_id"), "rotation_calls", ["circle_id"])
    op.create_table(
        "rotation_volunteers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("volunteered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["rotation_calls.id"],
            name=op.f("fk_rotation_volunteers_call_id_rotation_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_rotation_volunteers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_volunteers")),
        sa.UniqueConstraint("call_id", "user_id", name=op.f("uq_rotation_volunteers_call_id_user_id")),
    )
    op.create_index(op.f("ix_rotation_volunteers_call_id"), "rotation_volunteers", ["call_id"])
    op.create_table(
        "rotation_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("granted_role", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["rotation_calls.id"], name=op.f("fk_rotation_terms_call_id_rotation_calls")
        ),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_rotation_terms_circle_id_circles")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_rotation_terms_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rotation_terms")),
    )
    op.create_index(op.f("ix_rotation_terms_circle_id"), "rotation_terms", ["circle_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rotation_terms_circle_id"), table_name="rotation_terms")
    op.drop_table("rotation_terms")
    op.drop_index(op.f("ix_rotation_volunteers_call_id"), table_name="rotation_volunteers")
    op.drop_table("rotation_volunteers")
    op.drop_index(op.f("ix_rotation_calls_circle_id"), table_name="rotation_calls")
    op.drop_table("rotation_calls")
