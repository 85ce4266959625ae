"""Attachments and images on proposals, comments and reports. A new table only: nothing to backfill.

Revision ID: g19att_0001
Revises: g19coa_0001
Create Date: 2026-12-03 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g19att_0001"
down_revision = "g19coa_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "owner_kind IN ('proposal', 'comment', 'report')", name=op.f("ck_attachments_owner_kind_known")
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_attachments_size_positive")),
        sa.CheckConstraint("length(sha256) = 64", name=op.f("ck_attachments_sha256_is_hex_digest")),
        sa.CheckConstraint("(width IS NULL) = (height IS NULL)", name=op.f("ck_attachments_width_and_height_together")),
        sa.CheckConstraint(
            "width IS NULL OR (width > 0 AND height > 0)", name=op.f("ck_attachments_dimensions_positive")
        ),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_attachments_circle_id_circles")),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["users.id"], name=op.f("fk_attachments_uploaded_by_id_users")),
        sa.ForeignKeyConstraint(["removed_by_id"], ["users.id"], name=op.f("fk_attachments_removed_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index(op.f("ix_attachments_circle_id"), "attachments", ["circle_id"])
    op.create_index(op.f("ix_attachments_uploaded_by_id"), "attachments", ["uploaded_by_id"])
    op.create_index("ix_attachments_owner", "attachments", ["owner_kind", "owner_id"])


def downgrade() -> None:
    op.drop_index("ix_attachments_owner", table_name="attachments")
    op.drop_index(op.f("ix_attachments_uploaded_by_id"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_circle_id"), table_name="attachments")
    op.drop_table("attachments")
