"""Failed notices: e-mail notices that could not be sent after their change was committed, kept for
`flask notices retry`.

Revision ID: input_0001
Revises: 5d1c0a7e9b21
Create Date: 2026-12-02 01:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "input_0001"
down_revision = "5d1c0a7e9b21"
branch_labels = None
depends_on = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_table("failed_notices")
