"""Round retrospectives: members' answers to a closed round (what worked, what to change, two ratings), anonymous
or not. A new table only: nothing to backfill.

Revision ID: g19ret_0001
Revises: g19rep_0001
Create Date: 2026-12-03 08:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g19ret_0001"
down_revision = "g19rep_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrospective_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("voter_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("worked", sa.Text(), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("fairness", sa.Integer(), nullable=False),
        sa.Column("effort", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("fairness BETWEEN 1 AND 5", name=op.f("ck_retrospective_answers_fairness_in_range")),
        sa.CheckConstraint("effort BETWEEN 1 AND 5", name=op.f("ck_retrospective_answers_effort_in_range")),
        sa.CheckConstraint(
            "length(worked) <= 2000 AND length(change) <= 2000", name=op.f("ck_retrospective_answers_texts_short")
        ),
        sa.CheckConstraint(
            "(anonymous AND user_id IS NULL) OR (NOT anonymous AND user_id IS NOT NULL)",
            name=op.f("ck_retrospective_answers_user_unless_anonymous"),
        ),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_retrospective_answers_round_id_rounds")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_retrospective_answers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retrospective_answers")),
        sa.UniqueConstraint("round_id", "voter_key", name=op.f("uq_retrospective_answers_round_id_voter_key")),
    )
    op.create_index(op.f("ix_retrospective_answers_round_id"), "retrospective_answers", ["round_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_retrospective_answers_round_id"), table_name="retrospective_answers")
    op.drop_table("retrospective_answers")
