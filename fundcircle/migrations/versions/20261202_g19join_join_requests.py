"""Joining by request: a circle's setting "accepts requests to join" (off for every existing circle), and the
requests themselves, at most one open per person and circle.

Revision ID: g19join_0001
Revises: g17_forms_0001
Create Date: 2026-12-02 16:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g19join_0001"
down_revision = "g17_forms_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("circles") as batch:
        batch.add_column(sa.Column("accepts_join_requests", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "join_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'declined', 'withdrawn')", name=op.f("ck_join_requests_status_known")
        ),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_join_requests_circle_id_circles")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_join_requests_user_id_users")),
        sa.ForeignKeyConstraint(["answered_by_id"], ["users.id"], name=op.f("fk_join_requests_answered_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_requests")),
    )
    op.create_index(op.f("ix_join_requests_circle_id"), "join_requests", ["circle_id"])
    op.create_index(op.f("ix_join_requests_user_id"), "join_requests", ["user_id"])
    op.create_index(
        "uq_join_requests_one_open",
        "join_requests",
        ["circle_id", "user_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("uq_join_requests_one_open", table_name="join_requests")
    op.drop_index(op.f("ix_join_requests_user_id"), table_name="join_requests")
    op.drop_index(op.f("ix_join_requests_circle_id"), table_name="join_requests")
    op.drop_table("join_requests")
    with op.batch_alter_table("circles") as batch:
        batch.drop_column("accepts_join_requests")
