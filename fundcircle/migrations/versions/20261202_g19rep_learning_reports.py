"""Learning reports from funded proposals (issue 19): the round's report settings (when reports are due, an optional
mid-way update, the guiding questions), the reports, their comments and the reminders sent about them. Existing
rounds ask for a report 90 days after each payout, with the four default questions.

Revision ID: g19rep_0001
Revises: g19att_0001
Create Date: 2026-12-02 19:00:00

"""

import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g19rep_0001"
down_revision = "g19att_0001"
branch_labels = None
depends_on = None

_DUE_CHECK = "ck_rounds_report_due_days_not_negative"
_MIDWAY_CHECK = "ck_rounds_midway_update_days_positive"
#: As fundcircle.rounds.models.DEFAULT_REPORT_QUESTIONS when this was written (a migration does not import models).
_QUESTIONS = json.dumps(
    ["What happened?", "What did you learn?", "What would you do differently?", "What can others reuse?"]
)


def upgrade() -> None:
    # Not a batch (a copy of the table) on SQLite: `rounds` is referenced by most tables, and copying it fails their
    # foreign keys once they hold rows. SQLite adds (and later drops) columns with their own CHECK in place.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE rounds ADD COLUMN report_due_days INTEGER DEFAULT '90' NOT NULL "
            f"CONSTRAINT {_DUE_CHECK} CHECK (report_due_days >= 0)"
        )
        op.execute(
            "ALTER TABLE rounds ADD COLUMN midway_update_days INTEGER "
            f"CONSTRAINT {_MIDWAY_CHECK} CHECK (midway_update_days IS NULL OR midway_update_days > 0)"
        )
        op.execute(f"ALTER TABLE rounds ADD COLUMN report_questions JSON DEFAULT '{_QUESTIONS}' NOT NULL")
    else:
        op.add_column("rounds", sa.Column("report_due_days", sa.Integer(), server_default="90", nullable=False))
        op.create_check_constraint(op.f(_DUE_CHECK), "rounds", "report_due_days >= 0")
        op.add_column("rounds", sa.Column("midway_update_days", sa.Integer(), nullable=True))
        op.create_check_constraint(
            op.f(_MIDWAY_CHECK), "rounds", "midway_update_days IS NULL OR midway_update_days > 0"
        )
        op.add_column("rounds", sa.Column("report_questions", sa.JSON(), server_default=_QUESTIONS, nullable=False))
    op.create_table(
        "learning_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('final', 'midway')", name=op.f("ck_learning_reports_kind_known")),
        sa.CheckConstraint(
            "received_at IS NULL OR received_by_id IS NOT NULL", name=op.f("ck_learning_reports_received_by_someone")
        ),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_learning_reports_circle_id_circles")),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_learning_reports_proposal_id_proposals")
        ),
        sa.ForeignKeyConstraint(
            ["received_by_id"], ["users.id"], name=op.f("fk_learning_reports_received_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_learning_reports_submitted_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_reports")),
        sa.UniqueConstraint("proposal_id", "kind", name="uq_learning_reports_proposal_id_kind"),
    )
    op.create_index(
        "ix_learning_reports_circle_id_submitted_at", "learning_reports", ["circle_id", "submitted_at"], unique=False
    )
    op.create_table(
        "learning_report_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_learning_report_comments_author_id_users")),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["learning_reports.id"],
            name=op.f("fk_learning_report_comments_report_id_learning_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_report_comments")),
    )
    op.create_index(
        op.f("ix_learning_report_comments_report_id"), "learning_report_comments", ["report_id"], unique=False
    )
    op.create_table(
        "learning_report_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('final', 'midway')", name=op.f("ck_learning_report_reminders_kind_known")),
        sa.CheckConstraint("stage IN ('due_soon', 'overdue')", name=op.f("ck_learning_report_reminders_stage_known")),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_learning_report_reminders_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learning_report_reminders")),
        sa.UniqueConstraint("proposal_id", "kind", "stage", "due_at", name="uq_learning_report_reminders_once"),
    )
    op.create_index(
        op.f("ix_learning_report_reminders_proposal_id"), "learning_report_reminders", ["proposal_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_learning_report_reminders_proposal_id"), table_name="learning_report_reminders")
    op.drop_table("learning_report_reminders")
    op.drop_index(op.f("ix_learning_report_comments_report_id"), table_name="learning_report_comments")
    op.drop_table("learning_report_comments")
    op.drop_index("ix_learning_reports_circle_id_submitted_at", table_name="learning_reports")
    op.drop_table("learning_reports")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE rounds DROP COLUMN report_questions")
        op.execute("ALTER TABLE rounds DROP COLUMN midway_update_days")
        op.execute("ALTER TABLE rounds DROP COLUMN report_due_days")
    else:
        op.drop_column("rounds", "report_questions")
        op.drop_constraint(op.f(_MIDWAY_CHECK), "rounds", type_="check")
        op.drop_column("rounds", "midway_update_days")
        op.drop_constraint(op.f(_DUE_CHECK), "rounds", type_="check")
        op.drop_column("rounds", "report_due_days")
