from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundcircle.auth.models import User
from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.i18n import lazy_gettext, lazy_pgettext

#: Roles are per circle; one person may hold several.
ROLES = ("member", "circle", "treasurer", "admin")
ROLE_LABELS = {
    "member": lazy_gettext("Community member"),
    "circle": lazy_gettext("Circle member (deliberates and decides)"),
    "treasurer": lazy_gettext("Treasurer (approves payouts)"),
    "admin": lazy_gettext("Admin (sets the circle up)"),
}
#: A role's short name, as lists of a person's roles show it ("You are: member, admin"); in English the code itself.
ROLE_NAMES = {
    "member": lazy_pgettext("role", "member"),
    "circle": lazy_pgettext("role", "circle"),
    "treasurer": lazy_pgettext("role", "treasurer"),
    "admin": lazy_pgettext("role", "admin"),
}
_ROLES_SQL = ", ".join(f"'{role}'" for role in ROLES)


class Circle(Base):
    __tablename__ = "circles"
    __table_args__ = (
        CheckConstraint("length(currency) = 3", name="currency_is_iso_code"),
        CheckConstraint("approvals_required BETWEEN 1 AND 5", name="approvals_required_in_range"),
        CheckConstraint("two_approvals_from_minor IS NULL OR two_approvals_from_minor > 0", name="threshold_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3))
    #: A public circle shows its results and ledger to everyone; a private one shows nothing to outsiders.
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A public circle with this on shows an "Ask to join" button: signed-in people ask, with a short note, and an
    #: admin accepts or declines (circles/joining.py). Off: people join only by invitation.
    accepts_join_requests: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: How many distinct treasurers must approve a payout; from `two_approvals_from_minor` up, at least two.
    approvals_required: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    two_approvals_from_minor: Mapped[int | None] = mapped_column(BigInteger)
    #: The IANA name (zoneinfo) the circle's deadlines are typed and shown in; they are stored in UTC all the same.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    #: The language of the circle's pages and e-mails for members who chose none (fundcircle/i18n.py); None: each
    #: person's browser decides.
    language: Mapped[str | None] = mapped_column(String(8))
    #: Who receives each signed ledger checkpoint: an e-mail address or an https URL (ledger/checkpoints.py).
    ledger_witness: Mapped[str | None] = mapped_column(String(500))

    def approvals_needed(self, amount_minor: int) -> int:
        """Distinct treasurer approvals a payout of this amount needs."""
        threshold = self.two_approvals_from_minor
        if threshold is not None and amount_minor >= threshold:
            return max(2, self.approvals_required)
        return self.approvals_required

    def __repr__(self) -> str:
        return f"<Circle {self.id} {self.slug}>"


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("circle_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    circle: Mapped[Circle] = relationship()
    user: Mapped[User] = relationship()
    role_rows: Mapped[list[MembershipRole]] = relationship(
        back_populates="membership", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(row.role for row in self.role_rows)

    def sorted_roles(self) -> list[str]:
        return [role for role in ROLES if role in self.roles]

    def role_names(self) -> str:
        """The person's roles in the reader's words, in their canonical order ("member, admin")."""
        return ", ".join(str(ROLE_NAMES[role]) for role in self.sorted_roles())

    def granted_at(self, role: str) -> datetime | None:
        """Since when the person holds `role` here (None if they do not)."""
        return next((row.granted_at for row in self.role_rows if row.role == role), None)


class MembershipRole(Base):
    __tablename__ = "membership_roles"
    __table_args__ = (CheckConstraint(f"role IN ({_ROLES_SQL})", name="role_known"),)

    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: When the person got this role (kept while they hold it): a treasurer made after a payout was created cannot
    #: approve it alone (payouts/services.py), so the moment counts, not just the role.
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    membership: Mapped[Membership] = relationship(back_populates="role_rows")


class Invitation(Base):
    """An invitation for one address to join a circle with the given roles: the person accepts or declines it, by
    its one-time link or, with an account of that address, on their home page."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    roles: Mapped[list[str]] = mapped_column(JSON)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The invited person said no; the link no longer works.
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    circle: Mapped[Circle] = relationship()


# --- joining by request (circles/joining.py) -----------------------------------------------------------------------

#: Where a request to join stands: waiting for an admin, or answered (by an admin, or withdrawn by the person).
JOIN_REQUEST_STATUSES = ("open", "accepted", "declined", "withdrawn")
_JOIN_STATUSES_SQL = ", ".join(f"'{status}'" for status in JOIN_REQUEST_STATUSES)
#: The longest note a person writes with a request, and the longest reason an admin gives for declining.
JOIN_NOTE_MAX = 500
JOIN_REASON_MAX = 500


class JoinRequest(Base):
    """A signed-in person asks to join a circle that takes requests, with a short note; an admin accepts (they
    join with the default role, as by an invitation) or declines (with an optional reason), or the person
    withdraws it. At most one open request per person and circle (the partial unique index)."""

    __tablename__ = "join_requests"
    __table_args__ = (
        CheckConstraint(f"status IN ({_JOIN_STATUSES_SQL})", name="status_known"),
        Index(
            "uq_join_requests_one_open",
            "circle_id",
            "user_id",
            unique=True,
            sqlite_where=sa_text("status = 'open'"),
            postgresql_where=sa_text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    note: Mapped[str] = mapped_column(String(JOIN_NOTE_MAX), default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When it was accepted, declined or withdrawn, and by whom (an admin; the person for a withdrawal).
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: The admin's reason for declining, shown to the person only (never in the ledger, public for a public circle).
    reason: Mapped[str] = mapped_column(String(JOIN_REASON_MAX), default="")

    circle: Mapped[Circle] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])


# --- Rotating circles (issue 19): calls for volunteers, their draws by sortition (circles/sortition.py), terms ---


class RotationCall(Base):
    """An admin's call for volunteers to be the circle's next deciding members, drawn by sortition when it closes.

    The seed is the circle's ledger head hash at the moment the call opened: fixed before anyone volunteered, and
    written in the entry that opens the call, so nobody can choose it knowing who volunteered."""

    __tablename__ = "rotation_calls"
    __table_args__ = (
        CheckConstraint("seats BETWEEN 1 AND 50", name="seats_in_range"),
        CheckConstraint("term_days BETWEEN 1 AND 3650", name="term_days_in_range"),
        CheckConstraint("term_rounds BETWEEN 1 AND 12", name="term_rounds_in_range"),
        # A term is counted in days or in the circle's closed rounds, never both and never neither.
        CheckConstraint("(term_days IS NULL) <> (term_rounds IS NULL)", name="one_kind_of_term"),
        CheckConstraint("newcomer_share_percent BETWEEN 0 AND 100", name="newcomer_share_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), index=True)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seats: Mapped[int] = mapped_column(Integer)
    #: How long the chosen serve, from the draw: a number of days, or (term_rounds) until that many of the circle's
    #: rounds have closed since the draw.
    term_days: Mapped[int | None] = mapped_column(Integer)
    term_rounds: Mapped[int | None] = mapped_column(Integer)
    #: At least this share of the picks from volunteers who have not served before (0: no such rule).
    newcomer_share_percent: Mapped[int] = mapped_column(Integer, default=0)
    seed: Mapped[str] = mapped_column(String(64))
    #: When the draw was made (None while the call is open).
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The seq of the draw's ledger entry, so that the page can link it.
    draw_seq: Mapped[int | None] = mapped_column(Integer)

    volunteers: Mapped[list[RotationVolunteer]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="RotationVolunteer.user_id"
    )


class RotationVolunteer(Base):
    __tablename__ = "rotation_volunteers"
    __table_args__ = (UniqueConstraint("call_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("rotation_calls.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    volunteered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    call: Mapped[RotationCall] = relationship(back_populates="volunteers")
    user: Mapped[User] = relationship()


class RotationTerm(Base):
    """One person's term as a deciding member, from a draw: the "circle" role is granted at its start and taken
    back when it ends (unless a later term goes on)."""

    __tablename__ = "rotation_terms"
    __table_args__ = (
        # A term ends at a time (a term in days) or after a number of closed rounds, exactly one of the two.
        CheckConstraint("(ends_at IS NULL) <> (term_rounds IS NULL)", name="one_kind_of_end"),
        CheckConstraint("rounds_closed >= 0", name="rounds_closed_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), index=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("rotation_calls.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: For a term in days: when it ends. None for a term in rounds.
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: For a term in rounds: how many of the circle's rounds must close for it to end, and how many have so far.
    term_rounds: Mapped[int | None] = mapped_column(Integer)
    rounds_closed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the term ended and its role was taken back (None while it runs).
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Whether the draw gave the role (False for someone who held it already otherwise): only then does the end of
    #: the term take it back, so that a deciding member made by an admin stays one.
    granted_role: Mapped[bool] = mapped_column(Boolean, default=True)

    user: Mapped[User] = relationship()
