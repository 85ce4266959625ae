"""Foundation: accounts, circles, memberships and roles, invitations, rounds, proposals, the ledger.

The site's own ledger chain (circle_id NULL) is created here, so that the first entry has a head row to lock.

Revision ID: b18ae432b75f
Revises:
Create Date: 2026-11-24 22:13:29.033933

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b18ae432b75f"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "throttle_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_throttle_events")),
    )
    with op.batch_alter_table("throttle_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_throttle_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_throttle_events_key"), ["key"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_auth_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_sessions_token_hash")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "circles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_circles_currency_is_iso_code")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_circles_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circles")),
        sa.UniqueConstraint("slug", name=op.f("uq_circles_slug")),
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["accepted_by_id"], ["users.id"], name=op.f("fk_invitations_accepted_by_id_users")),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_invitations_circle_id_circles")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_invitations_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitations_circle_id"), ["circle_id"], unique=False)

    op.create_table(
        "ledger_chains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=True),
        sa.Column("head_seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("head_seq >= 0", name=op.f("ck_ledger_chains_head_seq_not_negative")),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_ledger_chains_circle_id_circles")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_chains")),
        sa.UniqueConstraint("circle_id", name=op.f("uq_ledger_chains_circle_id")),
    )
    ledger_chains = sa.table(
        "ledger_chains",
        sa.column("circle_id", sa.Integer),
        sa.column("head_seq", sa.Integer),
        sa.column("head_hash", sa.String),
    )
    op.bulk_insert(ledger_chains, [{"circle_id": None, "head_seq": 0, "head_hash": "0" * 64}])
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_memberships_circle_id_circles")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("circle_id", "user_id", name=op.f("uq_memberships_circle_id_user_id")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_circle_id"), ["circle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("budget_minor", sa.Integer(), nullable=False),
        sa.Column("per_proposal_cap_minor", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("allow_negative", sa.Boolean(), nullable=False),
        sa.Column("quorum_percent", sa.Integer(), nullable=False),
        sa.Column("consent_rules", sa.String(length=16), nullable=False),
        sa.Column("secret_ballot", sa.Boolean(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("max_proposals_per_member", sa.Integer(), nullable=False),
        sa.Column("proposals_close_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deliberation_close_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deciding_close_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("phase_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("consent_rules IN ('sociocratic', 'consensus')", name=op.f("ck_rounds_consent_rules_known")),
        sa.CheckConstraint("method IN ('quadratic', 'consent')", name=op.f("ck_rounds_method_known")),
        sa.CheckConstraint(
            "phase IN ('draft', 'proposals', 'deliberation', 'deciding', 'decided', 'closed', 'cancelled')",
            name=op.f("ck_rounds_phase_known"),
        ),
        sa.CheckConstraint("budget_minor > 0", name=op.f("ck_rounds_budget_positive")),
        sa.CheckConstraint("credits > 0", name=op.f("ck_rounds_credits_positive")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_rounds_currency_is_iso_code")),
        sa.CheckConstraint("max_proposals_per_member > 0", name=op.f("ck_rounds_max_proposals_positive")),
        sa.CheckConstraint(
            "per_proposal_cap_minor > 0 AND per_proposal_cap_minor <= budget_minor",
            name=op.f("ck_rounds_cap_within_budget"),
        ),
        sa.CheckConstraint("quorum_percent >= 0 AND quorum_percent <= 100", name=op.f("ck_rounds_quorum_is_percent")),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_rounds_circle_id_circles")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_rounds_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rounds")),
    )
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rounds_circle_id"), ["circle_id"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("circle_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_ledger_entries_seq_positive")),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_ledger_entries_actor_id_users")),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["ledger_chains.id"], name=op.f("fk_ledger_entries_chain_id_ledger_chains")
        ),
        sa.ForeignKeyConstraint(["circle_id"], ["circles.id"], name=op.f("fk_ledger_entries_circle_id_circles")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("chain_id", "seq", name=op.f("uq_ledger_entries_chain_id_seq")),
        sa.UniqueConstraint("hash", name=op.f("uq_ledger_entries_hash")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_chain_id"), ["chain_id"], unique=False)

    op.create_table(
        "membership_roles",
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "role IN ('member', 'circle', 'treasurer', 'admin')", name=op.f("ck_membership_roles_role_known")
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["memberships.id"],
            name=op.f("fk_membership_roles_membership_id_memberships"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("membership_id", "role", name=op.f("pk_membership_roles")),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'submitted', 'withdrawn')", name=op.f("ck_proposals_status_known")),
        sa.CheckConstraint("current_version >= 1", name=op.f("ck_proposals_current_version_positive")),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_proposals_author_id_users")),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"], name=op.f("fk_proposals_round_id_rounds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
    )
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposals_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposals_round_id"), ["round_id"], unique=False)

    op.create_table(
        "proposal_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("summary", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=True),
        sa.Column("payee_slug", sa.String(length=100), nullable=True),
        sa.Column("payee_name", sa.String(length=120), nullable=True),
        sa.Column("payee_email", sa.String(length=254), nullable=True),
        sa.Column("change_note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(payee_slug IS NOT NULL AND payee_name IS NULL AND payee_email IS NULL)"
            " OR (payee_slug IS NULL AND payee_name IS NOT NULL AND payee_email IS NOT NULL)",
            name=op.f("ck_proposal_versions_one_kind_of_payee"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_proposal_versions_amount_positive")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_proposal_versions_currency_is_iso_code")),
        sa.CheckConstraint("number >= 1", name=op.f("ck_proposal_versions_number_positive")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_proposal_versions_created_by_id_users")),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name=op.f("fk_proposal_versions_proposal_id_proposals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_versions")),
        sa.UniqueConstraint("proposal_id", "number", name=op.f("uq_proposal_versions_proposal_id_number")),
    )
    with op.batch_alter_table("proposal_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_versions_proposal_id"), ["proposal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("proposal_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_versions_proposal_id"))

    op.drop_table("proposal_versions")
    with op.batch_alter_table("proposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposals_round_id"))
        batch_op.drop_index(batch_op.f("ix_proposals_author_id"))

    op.drop_table("proposals")
    op.drop_table("membership_roles")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_chain_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_action"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rounds_circle_id"))

    op.drop_table("rounds")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_user_id"))
        batch_op.drop_index(batch_op.f("ix_memberships_circle_id"))

    op.drop_table("memberships")
    op.drop_table("ledger_chains")
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitations_circle_id"))

    op.drop_table("invitations")
    op.drop_table("circles")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_user_id"))

    op.drop_table("auth_sessions")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    with op.batch_alter_table("throttle_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_throttle_events_key"))
        batch_op.drop_index(batch_op.f("ix_throttle_events_at"))

    op.drop_table("throttle_events")
