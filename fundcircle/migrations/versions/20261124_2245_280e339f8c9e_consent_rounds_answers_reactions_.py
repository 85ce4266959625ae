"""Consent rounds: rounds on a proposal version, answers, reactions; and the budget a consent round commits.

A partial unique index keeps one open consent round per proposal; a check keeps the committed money within the
budget (added by hand: autogenerate does not see new checks on existing tables).

Revision ID: 280e339f8c9e
Revises: 64f1b0c02a4d
Create Date: 2026-11-24 22:45:13.977091

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "280e339f8c9e"
down_revision = "64f1b0c02a4d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("opened_by_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('consented', 'not_consented')", name=op.f("ck_consent_rounds_outcome_known")
        ),
        sa.ForeignKeyConstraint(["opened_by_id"], ["users.id"], name=op.f("fk_consent_rounds_opened_by_id_users")),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_consent_rounds_proposal_id_proposals")
        ),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_consent_rounds_round_id_rounds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_rounds")),
    )
    with op.batch_alter_table("consent_rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_rounds_round_id"), ["round_id"], unique=False)
        batch_op.create_index(
            "uq_consent_rounds_open_per_proposal",
            ["proposal_id"],
            unique=True,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )

    op.create_table(
        "consent_answers",
        sa.Column("consent_round_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.String(length=16), nullable=False),
        sa.Column("argument", sa.Text(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_round_id"], ["consent_rounds.id"], name=op.f("fk_consent_answers_consent_round_id_consent_rounds")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_consent_answers_user_id_users")),
        sa.PrimaryKeyConstraint("consent_round_id", "user_id", name=op.f("pk_consent_answers")),
    )
    op.create_table(
        "consent_reactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consent_round_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_consent_reactions_author_id_users")),
        sa.ForeignKeyConstraint(
            ["consent_round_id"],
            ["consent_rounds.id"],
            name=op.f("fk_consent_reactions_consent_round_id_consent_rounds"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_reactions")),
    )
    with op.batch_alter_table("consent_reactions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_reactions_consent_round_id"), ["consent_round_id"], unique=False)

    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("committed_minor", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.alter_column("committed_minor", server_default=None)
        batch_op.create_check_constraint(
            "committed_within_budget", "committed_minor >= 0 AND committed_minor <= budget_minor"
        )


def downgrade() -> None:
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_rounds_committed_within_budget"), type_="check")
        batch_op.drop_column("committed_minor")

    with op.batch_alter_table("consent_reactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_reactions_consent_round_id"))

    op.drop_table("consent_reactions")
    op.drop_table("consent_answers")
    with op.batch_alter_table("consent_rounds", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_consent_rounds_open_per_proposal",
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_consent_rounds_round_id"))

    op.drop_table("consent_rounds")
