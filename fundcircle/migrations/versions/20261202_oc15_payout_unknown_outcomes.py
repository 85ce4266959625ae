"""How many requests of a payout ended with an unknown outcome: after a bounded number the payout waits for a
treasurer instead of being retried forever. And whether a connection's token belongs to an account with two-factor
authentication (then Open Collective refuses its expense mutations unless it was made with "Advanced privileges").

Existing payouts start at 0 (their earlier unknown outcomes are in the ledger, but none has been counted against the
bound yet); existing connections do not know about two-factor authentication (NULL) until they connect again.

Revision ID: oc15_0001
Revises: inbox16_0001
Create Date: 2026-12-02 04:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "oc15_0001"
down_revision = "inbox16_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unknown_outcomes", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("opencollective_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_two_factor", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("opencollective_connections", schema=None) as batch_op:
        batch_op.drop_column("token_two_factor")
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_column("unknown_outcomes")
