"""Proposals' discussion: comments and questions, follows, rendered bodies, and the e-mail notices setting.

New NOT NULL columns are added with a server default for existing rows, which is then dropped.

Revision ID: 953a82818772
Revises: b18ae432b75f
Create Date: 2026-11-24 22:23:00.966688

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "953a82818772"
down_revision = "b18ae432b75f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("is_question", sa.Boolean(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_by_id", sa.Integer(), nullable=True),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "NOT (is_question AND parent_id IS NOT NULL)", name=op.f("ck_comments_questions_are_top_level")
        ),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_comments_author_id_users")),
        sa.ForeignKeyConstraint(["hidden_by_id"], ["users.id"], name=op.f("fk_comments_hidden_by_id_users")),
        sa.ForeignKeyConstraint(["parent_id"], ["comments.id"], name=op.f("fk_comments_parent_id_comments")),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_comments_proposal_id_proposals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_comments_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_comments_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index("ix_comments_proposal_id_created", ["proposal_id", "id"], unique=False)

    op.create_table(
        "proposal_follows",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_proposal_follows_proposal_id_proposals")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_proposal_follows_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "proposal_id", name=op.f("pk_proposal_follows")),
    )
    with op.batch_alter_table("proposal_follows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_follows_proposal_id"), ["proposal_id"], unique=False)

    with op.batch_alter_table("proposal_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_html", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("proposal_versions", schema=None) as batch_op:
        batch_op.alter_column("body_html", server_default=None)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_notices", sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("email_notices", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_notices")

    with op.batch_alter_table("proposal_versions", schema=None) as batch_op:
        batch_op.drop_column("body_html")

    with op.batch_alter_table("proposal_follows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_follows_proposal_id"))

    op.drop_table("proposal_follows")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_proposal_id_created")
        batch_op.drop_index(batch_op.f("ix_comments_parent_id"))
        batch_op.drop_index(batch_op.f("ix_comments_author_id"))

    op.drop_table("comments")
