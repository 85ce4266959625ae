"""Payouts may be held: a payout whose amount, currency or payee disagrees with the ledger is not requested on Open
Collective but held, and says why (`failure_message`).

Revision ID: ledgerstate_0001
Revises: input_0001
Create Date: 2026-12-02 01:20:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "ledgerstate_0001"
down_revision = "input_0001"
branch_labels = None
depends_on = None

_OLD = (
    "awaiting_approval", "approved", "requesting", "requested", "invited", "approved_on_oc", "paid", "rejected",
    "failed", "cancelled",
)  # fmt: skip
_NEW = (*_OLD[:9], "held", "cancelled")


def _in(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payouts_status_known"), type_="check")
        batch_op.create_check_constraint("status_known", _in(_NEW))
        batch_op.create_check_constraint("held_says_why", "status <> 'held' OR failure_message IS NOT NULL")


def downgrade() -> None:
    # A held payout goes back to failed (its message stays), the nearest status the older schema knows.
    op.execute("UPDATE payouts SET status = 'failed' WHERE status = 'held'")
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payouts_held_says_why"), type_="check")
        batch_op.drop_constraint(op.f("ck_payouts_status_known"), type_="check")
        batch_op.create_check_constraint("status_known", _in(_OLD))
