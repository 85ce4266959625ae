"""Quadratic voting: ballots and their votes, the stored result of a decided round, and payouts.

Revision ID: 64f1b0c02a4d
Revises: 953a82818772
Create Date: 2026-11-24 22:38:29.278906

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "64f1b0c02a4d"
down_revision = "953a82818772"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ballots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("credits_spent", sa.Integer(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=True),
        sa.Column("receipt", sa.String(length=64), nullable=True),
        sa.CheckConstraint("credits_spent >= 0", name=op.f("ck_ballots_credits_spent_not_negative")),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_ballots_revision_positive")),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_ballots_round_id_rounds")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_ballots_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballots")),
        sa.UniqueConstraint("round_id", "user_id", name=op.f("uq_ballots_round_id_user_id")),
    )
    with op.batch_alter_table("ballots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballots_round_id"), ["round_id"], unique=False)

    op.create_table(
        "round_tallies",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("ballots_cast", sa.Integer(), nullable=False),
        sa.Column("eligible_voters", sa.Integer(), nullable=False),
        sa.Column("quorum_percent", sa.Integer(), nullable=False),
        sa.Column("quorum_met", sa.Boolean(), nullable=False),
        sa.Column("budget_minor", sa.Integer(), nullable=False),
        sa.Column("funded_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checkpoint_seq", sa.Integer(), nullable=False),
        sa.Column("checkpoint_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_round_tallies_round_id_rounds")),
        sa.PrimaryKeyConstraint("round_id", name=op.f("pk_round_tallies")),
    )
    op.create_table(
        "ballot_votes",
        sa.Column("ballot_id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.CheckConstraint("votes <> 0", name=op.f("ck_ballot_votes_votes_not_zero")),
        sa.ForeignKeyConstraint(
            ["ballot_id"], ["ballots.id"], name=op.f("fk_ballot_votes_ballot_id_ballots"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_ballot_votes_proposal_id_proposals")),
        sa.PrimaryKeyConstraint("ballot_id", "proposal_id", name=op.f("pk_ballot_votes")),
    )
    op.create_table(
        "payouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("proposal_version", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payee_slug", sa.String(length=100), nullable=True),
        sa.Column("payee_name", sa.String(length=120), nullable=True),
        sa.Column("payee_email", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('awaiting_approval', 'approved', 'requested', 'invited', 'approved_on_oc', 'paid',"
            " 'rejected', 'failed', 'cancelled')",
            name=op.f("ck_payouts_status_known"),
        ),
        sa.CheckConstraint(
            "(payee_slug IS NOT NULL AND payee_name IS NULL AND payee_email IS NULL)"
            " OR (payee_slug IS NULL AND payee_name IS NOT NULL AND payee_email IS NOT NULL)",
            name=op.f("ck_payouts_one_kind_of_payee"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_payouts_amount_positive")),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_payouts_circle_id_circles")),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_payouts_proposal_id_proposals")),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_payouts_round_id_rounds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("proposal_id", name=op.f("uq_payouts_proposal_id")),
    )
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payouts_circle_id"), ["circle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payouts_round_id"), ["round_id"], unique=False)

    op.create_table(
        "proposal_results",
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("funded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_proposal_results_proposal_id_proposals")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["round_tallies.round_id"], name=op.f("fk_proposal_results_round_id_round_tallies")
        ),
        sa.PrimaryKeyConstraint("round_id", "proposal_id", name=op.f("pk_proposal_results")),
        sa.UniqueConstraint("round_id", "rank", name=op.f("uq_proposal_results_round_id_rank")),
    )


def downgrade() -> None:
    op.drop_table("proposal_results")
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payouts_round_id"))
        batch_op.drop_index(batch_op.f("ix_payouts_circle_id"))

    op.drop_table("payouts")
    op.drop_table("ballot_votes")
    op.drop_table("round_tallies")
    with op.batch_alter_table("ballots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballots_round_id"))

    op.drop_table("ballots")
