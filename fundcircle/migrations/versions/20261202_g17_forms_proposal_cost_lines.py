"""Cost lines of a proposal version: what the money pays for, line by line (what, and how much); the lines of a
version add up to its amount. Existing versions have no lines: they ask for their amount as one sum.

Revision ID: g17_forms_0001
Revises: worker16_0001
Create Date: 2026-12-02 15:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g17_forms_0001"
down_revision = "worker16_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposal_cost_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.CheckConstraint("position >= 1", name=op.f("ck_proposal_cost_lines_position_positive")),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_proposal_cost_lines_amount_positive")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["proposal_versions.id"], name=op.f("fk_proposal_cost_lines_version_id_proposal_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_cost_lines")),
        sa.UniqueConstraint("version_id", "position", name=op.f("uq_proposal_cost_lines_version_id_position")),
    )
    op.create_index(op.f("ix_proposal_cost_lines_version_id"), "proposal_cost_lines", ["version_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_proposal_cost_lines_version_id"), table_name="proposal_cost_lines")
    op.drop_table("proposal_cost_lines")
