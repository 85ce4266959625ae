"""When each role was granted, whether an approval came from a treasurer who held the role before the payout, and
consent objections that lapsed because their objector left the circle.

Backfills, written by hand: a role's `granted_at` becomes its membership's `joined_at` (the earliest moment the
database knows of; the ledger has the exact grant, but reading it here would tie the schema to the ledger's words);
an existing approval counts as one from an earlier treasurer when its approver had joined the circle by the time the
payout was created.

Revision ID: duties_0001
Revises: accounts_0001
Create Date: 2026-12-02 01:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "duties_0001"
down_revision = "accounts_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("membership_roles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("granted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE membership_roles SET granted_at = "
        "(SELECT memberships.joined_at FROM memberships WHERE memberships.id = membership_roles.membership_id)"
    )
    with op.batch_alter_table("membership_roles", schema=None) as batch_op:
        batch_op.alter_column("granted_at", existing_type=sa.DateTime(timezone=True), nullable=False)

    with op.batch_alter_table("payout_approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_role_before", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(
        sa.text(
            "UPDATE payout_approvals SET held_role_before = EXISTS ("
            "SELECT 1 FROM payouts JOIN memberships ON memberships.circle_id = payouts.circle_id "
            "WHERE payouts.id = payout_approvals.payout_id AND memberships.user_id = payout_approvals.treasurer_id "
            "AND memberships.joined_at <= payouts.created_at)"
        )
    )
    with op.batch_alter_table("payout_approvals", schema=None) as batch_op:
        batch_op.alter_column("held_role_before", existing_type=sa.Boolean(), server_default=None)

    with op.batch_alter_table("consent_answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lapsed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_answers", schema=None) as batch_op:
        batch_op.drop_column("lapsed_at")
    with op.batch_alter_table("payout_approvals", schema=None) as batch_op:
        batch_op.drop_column("held_role_before")
    with op.batch_alter_table("membership_roles", schema=None) as batch_op:
        batch_op.drop_column("granted_at")
