"""Payouts: treasurer approvals, the circle's Open Collective connection, the request and sync state of a payout,
and treasurers' TOTP second factor.

Checks on existing tables are added by hand (autogenerate does not see them): the circle's approval settings, and the
payout statuses, which gain `requesting` (a worker's claim while it asks Open Collective).

Revision ID: c7971c3b261a
Revises: 280e339f8c9e
Create Date: 2026-11-25 00:29:54.191016

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c7971c3b261a"
down_revision = "280e339f8c9e"
branch_labels = None
depends_on = None

STATUSES_BEFORE = (
    "'awaiting_approval', 'approved', 'requested', 'invited', 'approved_on_oc', "
    "'paid', 'rejected', 'failed', 'cancelled'"
)
STATUSES_WITH_REQUESTING = STATUSES_BEFORE.replace("'approved', ", "'approved', 'requesting', ")


def upgrade() -> None:
    op.create_table(
        "opencollective_connections",
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("api_url", sa.String(length=300), nullable=False),
        sa.Column("collective_slug", sa.String(length=100), nullable=False),
        sa.Column("collective_name", sa.String(length=200), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=False),
        sa.Column("token_account", sa.String(length=100), nullable=False),
        sa.Column("expense_type", sa.String(length=24), nullable=False),
        sa.Column("supported_expense_types", sa.JSON(), nullable=False),
        sa.Column("webhook_secret", sa.String(length=64), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=True),
        sa.Column("balance_currency", sa.String(length=3), nullable=True),
        sa.Column("balance_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connected_by_id", sa.Integer(), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "expense_type IN ('GRANT', 'INVOICE', 'RECEIPT', 'FUNDING_REQUEST')",
            name=op.f("ck_opencollective_connections_expense_type_known"),
        ),
        sa.ForeignKeyConstraint(
            ["circle_id"], ["circles.id"], name=op.f("fk_opencollective_connections_circle_id_circles")
        ),
        sa.ForeignKeyConstraint(
            ["connected_by_id"], ["users.id"], name=op.f("fk_opencollective_connections_connected_by_id_users")
        ),
        sa.PrimaryKeyConstraint("circle_id", name=op.f("pk_opencollective_connections")),
        sa.UniqueConstraint("webhook_secret", name=op.f("uq_opencollective_connections_webhook_secret")),
    )
    op.create_table(
        "payout_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payout_id", sa.Integer(), nullable=False),
        sa.Column("treasurer_id", sa.Integer(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["payout_id"], ["payouts.id"], name=op.f("fk_payout_approvals_payout_id_payouts")),
        sa.ForeignKeyConstraint(["treasurer_id"], ["users.id"], name=op.f("fk_payout_approvals_treasurer_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_approvals")),
        sa.UniqueConstraint("payout_id", "treasurer_id", name=op.f("uq_payout_approvals_payout_id_treasurer_id")),
    )
    with op.batch_alter_table("payout_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payout_approvals_payout_id"), ["payout_id"], unique=False)

    with op.batch_alter_table("circles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approvals_required", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("two_approvals_from_minor", sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint("approvals_required_in_range", "approvals_required BETWEEN 1 AND 5")
        batch_op.create_check_constraint(
            "threshold_positive", "two_approvals_from_minor IS NULL OR two_approvals_from_minor > 0"
        )

    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("approvals_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("request_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("outcome_unknown", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expense_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("expense_status", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure_message", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_payouts_expense_id"), ["expense_id"])
        batch_op.create_unique_constraint(batch_op.f("uq_payouts_request_key"), ["request_key"])
        batch_op.create_check_constraint("approvals_count_not_negative", "approvals_count >= 0")
        batch_op.drop_constraint(op.f("ck_payouts_status_known"), type_="check")
        batch_op.create_check_constraint(
            "status_known",
            f"status IN ({STATUSES_WITH_REQUESTING})",
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret_sealed", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_confirmed_at")
        batch_op.drop_column("totp_secret_sealed")

    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payouts_status_known"), type_="check")
        batch_op.create_check_constraint(
            "status_known",
            f"status IN ({STATUSES_BEFORE})",
        )
        batch_op.drop_constraint(op.f("ck_payouts_approvals_count_not_negative"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_payouts_request_key"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_payouts_expense_id"), type_="unique")
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("failure_message")
        batch_op.drop_column("synced_at")
        batch_op.drop_column("expense_status")
        batch_op.drop_column("expense_id")
        batch_op.drop_column("retry_at")
        batch_op.drop_column("outcome_unknown")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("request_key")
        batch_op.drop_column("approvals_count")
        batch_op.drop_column("status_changed_at")

    with op.batch_alter_table("circles", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_circles_threshold_positive"), type_="check")
        batch_op.drop_constraint(op.f("ck_circles_approvals_required_in_range"), type_="check")
        batch_op.drop_column("two_approvals_from_minor")
        batch_op.drop_column("approvals_required")

    with op.batch_alter_table("payout_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_approvals_payout_id"))

    op.drop_table("payout_approvals")
    op.drop_table("opencollective_connections")
