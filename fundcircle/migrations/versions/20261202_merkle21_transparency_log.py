"""A Merkle tree over every ledger chain (its perfect nodes and, on the head row, its frontier) and signed
checkpoints; a circle may name a witness that receives each checkpoint.

Backfill, by hand: each existing chain's tree is built from its entries in seq order, with the pure tree code the
append uses (ledger/merkle.py) over the same canonical JSON (ledger/chain.py): both are fixed by RFC 9162 and by the
chain's hashing, so this migration's result does not change when the application does.

Revision ID: merkle21_0001
Revises: rules20_0001
Create Date: 2026-12-02 05:00:00

"""

from datetime import UTC

import sqlalchemy as sa
from alembic import op

from fundcircle.ledger.chain import EntryContent, canonical_json
from fundcircle.ledger.merkle import append_leaves, encode_frontier, leaf_hash

# revision identifiers, used by Alembic.
revision = "merkle21_0001"
down_revision = "rules20_0001"
branch_labels = None
depends_on = None

_ENTRIES = sa.table(
    "ledger_entries",
    sa.column("chain_id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("circle_id", sa.Integer),
    sa.column("actor_id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("subject_type", sa.String),
    sa.column("subject_id", sa.Integer),
    sa.column("data", sa.JSON),
)
_NODES = sa.table(
    "ledger_tree_nodes",
    sa.column("chain_id", sa.Integer),
    sa.column("level", sa.Integer),
    sa.column("idx", sa.Integer),
    sa.column("hash", sa.String),
)


def upgrade() -> None:
    op.add_column("ledger_chains", sa.Column("tree_frontier", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "ledger_tree_nodes",
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["ledger_chains.id"], name=op.f("fk_ledger_tree_nodes_chain_id_ledger_chains")
        ),
        sa.PrimaryKeyConstraint("chain_id", "level", "idx", name=op.f("pk_ledger_tree_nodes")),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("witnessed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("size >= 0", name=op.f("ck_ledger_checkpoints_size_not_negative")),
        sa.CheckConstraint(
            "reason IN ('result', 'payout', 'daily', 'asked')", name=op.f("ck_ledger_checkpoints_reason_known")
        ),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["ledger_chains.id"], name=op.f("fk_ledger_checkpoints_chain_id_ledger_chains")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
        sa.UniqueConstraint("chain_id", "size", name=op.f("uq_ledger_checkpoints_chain_id_size")),
    )
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_checkpoints_chain_id"), ["chain_id"], unique=False)
    # Plain ADD COLUMN (no batch copy: SQLite cannot drop a table that others refer to).
    op.add_column("circles", sa.Column("ledger_witness", sa.String(length=500), nullable=True))
    _build_trees()


def _build_trees() -> None:
    connection = op.get_bind()
    chains = connection.execute(sa.text("SELECT id, head_seq FROM ledger_chains ORDER BY id")).all()
    for chain_id, head_seq in chains:
        size, frontier = 0, []
        rows = connection.execute(sa.select(_ENTRIES).where(_ENTRIES.c.chain_id == chain_id).order_by(_ENTRIES.c.seq))
        for batch in rows.partitions(1000):
            leaves = []
            for row in batch:
                at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)
                content = EntryContent(
                    row.seq, at, row.circle_id, row.actor_id, row.action, row.subject_type, row.subject_id, row.data
                )
                leaves.append(leaf_hash(canonical_json(content.as_json_object())))
            appended = append_leaves(size, frontier, leaves)
            size, frontier = size + len(leaves), appended.frontier
            connection.execute(
                _NODES.insert(),
                [{"chain_id": chain_id, "level": lv, "idx": ix, "hash": h.hex()} for lv, ix, h in appended.nodes],
            )
        if size != head_seq:
            raise RuntimeError(f"ledger chain {chain_id} holds {size} entries but its head says {head_seq}")
        connection.execute(
            sa.text("UPDATE ledger_chains SET tree_frontier = :frontier WHERE id = :id"),
            {"frontier": encode_frontier(frontier), "id": chain_id},
        )


def downgrade() -> None:
    op.drop_column("circles", "ledger_witness")  # SQLite 3.35+ drops a column in place
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_checkpoints_chain_id"))
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_tree_nodes")
    op.drop_column("ledger_chains", "tree_frontier")
