"""Ledger filter indexes: (chain, actor, seq) and (chain, action, seq), so that the ledger page filtered by person or
by action reads only matching entries of one chain; the index on action alone is replaced by the second.

Revision ID: 5d1c0a7e9b21
Revises: c7971c3b261a
Create Date: 2026-11-25 01:45:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "5d1c0a7e9b21"
down_revision = "c7971c3b261a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_chain_actor_seq", ["chain_id", "actor_id", "seq"], unique=False)
        batch_op.create_index("ix_ledger_entries_chain_action_seq", ["chain_id", "action", "seq"], unique=False)
        batch_op.drop_index(batch_op.f("ix_ledger_entries_action"))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_action"), ["action"], unique=False)
        batch_op.drop_index("ix_ledger_entries_chain_action_seq")
        batch_op.drop_index("ix_ledger_entries_chain_actor_seq")
