from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundcircle.auth.models import User
from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.rounds.models import Round

PROPOSAL_STATUSES = ("draft", "submitted", "withdrawn")
#: Where a co-authorship stands: the author invited a member, who accepted or declined; "withdrawn" when it ended
#: (the co-author left, or the author took the invitation or the co-authorship back).
COAUTHOR_STATUSES = ("invited", "accepted", "declined", "withdrawn")
#: Paid either to an Open Collective account, or to a person Open Collective will invite (proposals and payouts).
ONE_KIND_OF_PAYEE = (
    "(payee_slug IS NOT NULL AND payee_name IS NULL AND payee_email IS NULL)"
    " OR (payee_slug IS NULL AND payee_name IS NOT NULL AND payee_email IS NOT NULL)"
)


class Proposal(Base):
    """A request for money in a round. Its content lives in versions; every edit after submission adds one."""

    __tablename__ = "proposals"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'submitted', 'withdrawn')", name="status_known"),
        CheckConstraint("current_version >= 1", name="current_version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    round: Mapped[Round] = relationship()
    author: Mapped[User] = relationship()


class ProposalVersion(Base):
    """The content of a proposal as it stood at one version; comments and decisions name the version."""

    __tablename__ = "proposal_versions"
    __table_args__ = (
        UniqueConstraint("proposal_id", "number"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("length(currency) = 3", name="currency_is_iso_code"),
        CheckConstraint(ONE_KIND_OF_PAYEE, name="one_kind_of_payee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    #: The body rendered from Markdown and sanitised when it was saved.
    body_html: Mapped[str] = mapped_column(Text, default="")
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    category: Mapped[str | None] = mapped_column(String(60))
    payee_slug: Mapped[str | None] = mapped_column(String(100))
    payee_name: Mapped[str | None] = mapped_column(String(120))
    payee_email: Mapped[str | None] = mapped_column(String(254))
    change_note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    proposal: Mapped[Proposal] = relationship()
    #: Read with the versions in one more query (selectin), so a list of versions costs no query per version.
    cost_lines: Mapped[list[ProposalCostLine]] = relationship(
        order_by="ProposalCostLine.position", lazy="selectin", cascade="all, delete-orphan"
    )


class ProposalCostLine(Base):
    """One line of what a proposal version's money pays for (what, and how much); a version's lines add up to its
    amount. A version without lines asks for its amount as one sum."""

    __tablename__ = "proposal_cost_lines"
    __table_args__ = (
        UniqueConstraint("version_id", "position"),
        CheckConstraint("position >= 1", name="position_positive"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("proposal_versions.id"), index=True)
    #: The line's place in the list, from 1.
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200))
    amount_minor: Mapped[int] = mapped_column(Integer)


class ProposalCoauthor(Base):
    """A member of the circle the author invited to write the proposal with them. Accepted, they may edit it and
    answer its questions, and count it among their proposals; like the author, they may never approve its payout.
    One row per proposal and person (an ended invitation is reused if the person is invited again)."""

    __tablename__ = "proposal_coauthors"
    __table_args__ = (
        UniqueConstraint("proposal_id", "user_id"),
        CheckConstraint(
            "status IN ('invited', 'accepted', 'declined', 'withdrawn')",
            name="status_known",
        ),
        CheckConstraint("user_id <> invited_by_id", name="not_self_invited"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10), default="invited")
    #: When the (latest) invitation was sent.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When it was last answered or ended, and by whom (the invitee, or the author taking it back).
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    proposal: Mapped[Proposal] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    invited_by: Mapped[User] = relationship(foreign_keys=[invited_by_id])
