"""Approval and cumulative ballots beside quadratic ones, and the allocation rule of a voting round (greedy by
score or the method of equal shares), with the most approvals an approval ballot may give.

Existing rounds keep what they were: their allocation rule becomes "greedy" (the only one there was).

Revision ID: rules20_0001
Revises: duties_0001
Create Date: 2026-12-02 05:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "rules20_0001"
down_revision = "duties_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allocation_rule", sa.String(length=16), server_default="greedy", nullable=False))
        batch_op.add_column(sa.Column("max_approvals", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_rounds_method_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_method_known"), "method IN ('quadratic', 'approval', 'cumulative', 'consent')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_allocation_rule_known"), "allocation_rule IN ('greedy', 'equal_shares')"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rounds_max_approvals_of_approval"),
            "max_approvals IS NULL OR (method = 'approval' AND max_approvals > 0)",
        )
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.alter_column("allocation_rule", existing_type=sa.String(length=16), server_default=None)


def downgrade() -> None:
    # Approval and cumulative rounds cannot go back: the restored constraint refuses them, so this fails while any
    # exists rather than dropping a circle's rounds and their ledger's subject.
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_rounds_max_approvals_of_approval"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_rounds_allocation_rule_known"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_rounds_method_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_rounds_method_known"), "method IN ('quadratic', 'consent')")
        batch_op.drop_column("max_approvals")
        batch_op.drop_column("allocation_rule")
