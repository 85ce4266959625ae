"""Rotation terms counted in rounds: a call sets term_days or term_rounds (exactly one), and a term in rounds has no
end time but counts the circle's rounds closed since it began. Existing calls and terms are in days: they keep
their values, and the new constraints hold for them as they are.

Revision ID: g19ret_0002
Revises: g19ret_0001
Create Date: 2026-12-03 09:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g19ret_0002"
down_revision = "g19ret_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rotation_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("term_rounds", sa.Integer(), nullable=True))
        batch_op.alter_column("term_days", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(
            batch_op.f("ck_rotation_calls_term_rounds_in_range"), "term_rounds BETWEEN 1 AND 12"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rotation_calls_one_kind_of_term"), "(term_days IS NULL) <> (term_rounds IS NULL)"
        )
    with op.batch_alter_table("rotation_terms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("term_rounds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rounds_closed", sa.Integer(), server_default="0", nullable=False))
        batch_op.alter_column("ends_at", existing_type=sa.DateTime(timezone=True), nullable=True)
        batch_op.create_check_constraint(
            batch_op.f("ck_rotation_terms_one_kind_of_end"), "(ends_at IS NULL) <> (term_rounds IS NULL)"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_rotation_terms_rounds_closed_not_negative"), "rounds_closed >= 0"
        )


def downgrade() -> None:
    # Terms and calls in rounds have no value for the columns that become NOT NULL again: this fails while any
    # exists, rather than inventing a number of days for them.
    with op.batch_alter_table("rotation_terms", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_rotation_terms_rounds_closed_not_negative"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_rotation_terms_one_kind_of_end"), type_="check")
        batch_op.alter_column("ends_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_column("rounds_closed")
        batch_op.drop_column("term_rounds")
    with op.batch_alter_table("rotation_calls", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_rotation_calls_one_kind_of_term"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_rotation_calls_term_rounds_in_range"), type_="check")
        batch_op.alter_column("term_days", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("term_rounds")
