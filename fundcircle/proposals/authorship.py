"""Who authors a proposal: the member who wrote it and the co-authors who accepted its invitation. This is the one
place that says so: every rule about "the author" (who may edit, answer questions, count against the limit per
member, hear of the proposal's turns, and never approve its payout) asks these helpers, never
`proposal.author_id` alone, so that a co-author cannot be forgotten by one rule and remembered by another.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Subquery, and_, exists, or_, select, union

from fundcircle.auth.models import User
from fundcircle.extensions import db
from fundcircle.proposals.models import Proposal, ProposalCoauthor

#: Only an accepted invitation makes an author; an invited, declined or withdrawn one gives no rights.
ACCEPTED = "accepted"
INVITED = "invited"


def is_author(proposal: Proposal, user: User | None) -> bool:
    """Whether `user` authors the proposal: wrote it, or is its accepted co-author (never a visitor)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.id in author_ids(proposal)


def author_ids(proposal: Proposal) -> set[int]:
    """The ids of everyone who authors the proposal: its author and its accepted co-authors."""
    coauthors = db.session.scalars(
        select(ProposalCoauthor.user_id).where(
            ProposalCoauthor.proposal_id == proposal.id, ProposalCoauthor.status == ACCEPTED
        )
    )
    return {proposal.author_id, *coauthors}


def authors_of(proposal: Proposal) -> list[User]:
    """The people who author the proposal, the author first, then the co-authors in the order they accepted."""
    coauthors = db.session.scalars(
        select(User)
        .join(ProposalCoauthor, ProposalCoauthor.user_id == User.id)
        .where(ProposalCoauthor.proposal_id == proposal.id, ProposalCoauthor.status == ACCEPTED)
        .order_by(ProposalCoauthor.answered_at, ProposalCoauthor.id)
    )
    return [proposal.author, *coauthors]


def authored_by(user_id: int | ColumnElement[Any]) -> ColumnElement[bool]:
    """A WHERE clause over `Proposal`: the proposal is authored by `user_id` (an id, or a column of the outer query,
    such as `Membership.user_id`). Each proposal matches once per person, however they author it, so counting the
    proposals it selects counts each once."""
    return or_(
        Proposal.author_id == user_id,
        exists().where(
            ProposalCoauthor.proposal_id == Proposal.id,
            ProposalCoauthor.user_id == user_id,
            ProposalCoauthor.status == ACCEPTED,
        ),
    )


def proposal_authors() -> Subquery:
    """Every (proposal_id, user_id) pair of a proposal and one of its authors, once each: to join where a query wants
    the people who author some proposals (who hears of them, who may not approve their payouts)."""
    return union(
        select(Proposal.id.label("proposal_id"), Proposal.author_id.label("user_id")),
        select(ProposalCoauthor.proposal_id.label("proposal_id"), ProposalCoauthor.user_id.label("user_id")).where(
            ProposalCoauthor.status == ACCEPTED
        ),
    ).subquery("proposal_authors")


def author_ids_of(proposal_id: int | ColumnElement[Any]) -> CompoundSelect[Any]:
    """A SELECT of the user ids authoring the proposal `proposal_id` (an id or an outer query's column), for
    `IN (...)` and `NOT IN (...)` clauses."""
    return (
        select(Proposal.author_id.label("user_id"))
        .where(Proposal.id == proposal_id)
        .union(
            select(ProposalCoauthor.user_id).where(
                and_(ProposalCoauthor.proposal_id == proposal_id, ProposalCoauthor.status == ACCEPTED)
            )
        )
    )


def is_lead_author(proposal: Proposal, user: User | None) -> bool:
    """Whether `user` is the member who wrote the proposal: they alone invite co-authors, take invitations back and
    withdraw the proposal from the round (a co-author who disagrees leaves instead)."""
    return user is not None and getattr(user, "is_authenticated", False) and user.id == proposal.author_id


def is_invited(proposal: Proposal, user: User | None) -> bool:
    """Whether `user` has an invitation to co-author the proposal that they have not answered yet."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return (
        db.session.scalar(
            select(ProposalCoauthor.id).where(
                ProposalCoauthor.proposal_id == proposal.id,
                ProposalCoauthor.user_id == user.id,
                ProposalCoauthor.status == INVITED,
            )
        )
        is not None
    )


def invited_to(user_id: int | ColumnElement[Any]) -> ColumnElement[bool]:
    """A WHERE clause over `Proposal`: `user_id` has an unanswered invitation to co-author it."""
    return exists().where(
        ProposalCoauthor.proposal_id == Proposal.id,
        ProposalCoauthor.user_id == user_id,
        ProposalCoauthor.status == INVITED,
    )
