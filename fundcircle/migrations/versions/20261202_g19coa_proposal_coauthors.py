"""Co-authored proposals: the members an author invites to write a proposal with them, and their answers. A new
table only: every existing proposal keeps its one author.

Revision ID: g19coa_0001
Revises: g19rot_0001
Create Date: 2026-12-02 18:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g19coa_0001"
down_revision = "g19rot_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposal_coauthors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("invited_by_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('invited', 'accepted', 'declined', 'withdrawn')",
            name=op.f("ck_proposal_coauthors_status_known"),
        ),
        sa.CheckConstraint("user_id <> invited_by_id", name=op.f("ck_proposal_coauthors_not_self_invited")),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_proposal_coauthors_proposal_id_proposals")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_proposal_coauthors_user_id_users")),
        sa.ForeignKeyConstraint(
            ["invited_by_id"], ["users.id"], name=op.f("fk_proposal_coauthors_invited_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["answered_by_id"], ["users.id"], name=op.f("fk_proposal_coauthors_answered_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_coauthors")),
        sa.UniqueConstraint("proposal_id", "user_id", name=op.f("uq_proposal_coauthors_proposal_id_user_id")),
    )
    op.create_index(op.f("ix_proposal_coauthors_proposal_id"), "proposal_coauthors", ["proposal_id"])
    op.create_index(op.f("ix_proposal_coauthors_user_id"), "proposal_coauthors", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_proposal_coauthors_user_id"), table_name="proposal_coauthors")
    op.drop_index(op.f("ix_proposal_coauthors_proposal_id"), table_name="proposal_coauthors")
    op.drop_table("proposal_coauthors")
