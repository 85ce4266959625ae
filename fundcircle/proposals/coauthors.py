"""Co-authored proposals: the member who wrote a proposal invites other members of the circle to write it with them;
each invitee accepts or declines; a co-author may leave, and the author may take an invitation or a co-authorship
back. Who authors a proposal once they have accepted is said in `authorship.py`.

Rules, decided here:
- Only the member who wrote the proposal invites, and only members of the proposal's circle, never themselves, and
  a person once at a time (invited or co-author already is refused). A person who declined is not asked again by
  the same proposal: they said no. Whoever left, or whose invitation was taken back, may be invited again.
- Invitations are sent and accepted only while the proposal may still change (`require_changeable`: the phase
  rules of editing): co-authoring a proposal nobody can edit any more gives nothing to do, and would change who
  may approve its payout after the fact. Declining and leaving are always possible.
- Accepting counts the proposal against the invitee's limit of proposals per member: one over it is refused, with
  the count, so the invitee can withdraw or leave another first.
- Every change writes the ledger (who, the person, the proposal) in the same transaction; the invitee is told of
  an invitation, and the author of each answer, through the notices' outbox.

Services flush and never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext, ngettext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from fundcircle.auth.models import User
from fundcircle.circles.models import Membership
from fundcircle.circles.services import membership_of
from fundcircle.db import compare_and_set, lock
from fundcircle.errors import Conflict, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.hooks import Hook
from fundcircle.i18n import in_language, lazy_gettext
from fundcircle.ledger.record import record
from fundcircle.mail import external_url
from fundcircle.notices import queue_notice
from fundcircle.proposals.authorship import ACCEPTED, INVITED, is_author, is_lead_author
from fundcircle.proposals.models import Proposal, ProposalCoauthor, ProposalVersion
from fundcircle.proposals.services import proposals_counted, require_changeable

#: What the areas above do when a member becomes a co-author (deliberation: they follow the discussion, as the
#: author does), with (co-author, proposal, now), in the accepting transaction.
coauthor_accepted: Hook[Callable[[User, Proposal, datetime], None]] = Hook("after a co-authorship is accepted")

NO_SUCH_INVITATION = lazy_gettext(
    "You have no open invitation to co-author this proposal: it may have been taken back."
)


def recipient_language(user: User, proposal: Proposal) -> str | None:
    """The language a notice about the proposal is written in for `user`: their own, else their circle's."""
    return user.language or proposal.round.circle.language


def _title_of(proposal: Proposal) -> str:
    title = db.session.scalar(
        select(ProposalVersion.title).where(
            ProposalVersion.proposal_id == proposal.id, ProposalVersion.number == proposal.current_version
        )
    )
    return title or gettext("proposal %(id)s", id=proposal.id)


def coauthorship_of(proposal: Proposal, user_id: int) -> ProposalCoauthor | None:
    """The person's row for the proposal, whatever its status (None: never invited)."""
    return db.session.scalar(
        select(ProposalCoauthor).where(ProposalCoauthor.proposal_id == proposal.id, ProposalCoauthor.user_id == user_id)
    )


@dataclass(frozen=True)
class CoauthorRow:
    """One person invited to co-author a proposal, as the proposal page and the API list them."""

    user_id: int
    name: str
    status: str
    invited_at: datetime
    answered_at: datetime | None


def coauthors_of(proposal: Proposal, *, statuses: tuple[str, ...] = (INVITED, ACCEPTED)) -> list[CoauthorRow]:
    """The proposal's invitations with the given statuses (by default those open or accepted), oldest first, in
    one query."""
    rows = db.session.scalars(
        select(ProposalCoauthor)
        .join(User, User.id == ProposalCoauthor.user_id)
        .options(contains_eager(ProposalCoauthor.user))
        .where(ProposalCoauthor.proposal_id == proposal.id, ProposalCoauthor.status.in_(statuses))
        .order_by(ProposalCoauthor.created_at, ProposalCoauthor.id)
    )
    return [as_row(row) for row in rows]


def as_row(row: ProposalCoauthor) -> CoauthorRow:
    return CoauthorRow(
        user_id=row.user_id,
        name=row.user.name,
        status=row.status,
        invited_at=row.created_at,
        answered_at=row.answered_at,
    )


def invitable_members(proposal: Proposal) -> list[tuple[int, str]]:
    """(user id, name) of the circle's members the author may invite now: not the author, not invited or
    co-authoring already, and not someone who declined; by name."""
    taken = select(ProposalCoauthor.user_id).where(
        ProposalCoauthor.proposal_id == proposal.id, ProposalCoauthor.status != "withdrawn"
    )
    rows = db.session.execute(
        select(User.id, User.name)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.circle_id == proposal.round.circle_id,
            User.id != proposal.author_id,
            User.id.not_in(taken),
        )
        .order_by(User.name, User.id)
    )
    return [(user_id, name) for user_id, name in rows]


def invite_coauthor(actor: User, proposal: Proposal, invitee: User, now: datetime) -> ProposalCoauthor:
    """The member who wrote the proposal invites another member of its circle to co-author it; the invitee is told.

    :raises PermissionDenied: unless the actor wrote the proposal.
    :raises Conflict: if the proposal may no longer change, or the invitee is invited, co-author or declined
        already.
    :raises ValidationFailed: on `user_id` for the actor themselves or someone who is not a member of the circle.
    """
    # The round's row, then the proposal's: the order every change of a proposal takes them in (services.py).
    round_ = lock(proposal.round)
    lock(proposal)
    if not is_lead_author(proposal, actor):
        raise PermissionDenied(gettext("Only the member who wrote the proposal can invite co-authors."))
    require_changeable(proposal, round_, now)
    if invitee.id == actor.id:
        raise _field_error(gettext("You wrote this proposal: invite another member of the circle."))
    if membership_of(invitee, round_.circle) is None:
        raise _field_error(gettext("Only members of the circle can co-author its proposals."))
    existing = coauthorship_of(proposal, invitee.id)
    if existing is not None and existing.status == INVITED:
        raise Conflict(gettext("%(name)s is invited already: they will accept or decline.", name=invitee.name))
    if existing is not None and existing.status == ACCEPTED:
        raise Conflict(gettext("%(name)s co-authors this proposal already.", name=invitee.name))
    if existing is not None and existing.status == "declined":
        raise Conflict(
            gettext("%(name)s declined to co-author this proposal; they are not asked again.", name=invitee.name)
        )
    if existing is None:
        row = ProposalCoauthor(
            proposal_id=proposal.id, user_id=invitee.id, invited_by_id=actor.id, status=INVITED, created_at=now
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except IntegrityError:
            raise Conflict(gettext("%(name)s was invited a moment ago.", name=invitee.name)) from None
    else:
        row = existing
        compare_and_set(
            row,
            expected=ProposalCoauthor.status == "withdrawn",
            values={
                "status": INVITED,
                "invited_by_id": actor.id,
                "created_at": now,
                "answered_at": None,
                "answered_by_id": None,
            },
            conflict=Conflict(gettext("%(name)s was invited a moment ago.", name=invitee.name)),
        )
    circle_id = round_.circle_id
    record(
        "proposal.coauthor_invited",
        actor=actor,
        circle_id=circle_id,
        subject=proposal,
        data={"user": invitee.id},
        at=now,
    )
    url = external_url("proposals.view", proposal_id=proposal.id)
    with in_language(recipient_language(invitee, proposal)):
        title = _title_of(proposal)
        queue_notice(
            invitee,
            gettext("%(name)s invites you to co-author “%(title)s”", name=actor.name, title=title),
            gettext(
                "%(name)s invites you to write the proposal “%(title)s” with them. As a co-author you may edit it "
                "and answer the questions on it, and it counts among your proposals in the round; you could not "
                "approve its payout.",
                name=actor.name,
                title=title,
            )
            + "\n\n"
            + gettext("Accept or decline the invitation here:")
            + f"\n{url}\n",
            kind="coauthor.invited",
            circle_id=circle_id,
            url=url,
        )
    db.session.flush()
    return row


def _field_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="user_id")


def _own_row(actor: User, proposal: Proposal, status: str, missing: str) -> ProposalCoauthor:
    row = coauthorship_of(proposal, actor.id)
    if row is None or row.status != status:
        raise Conflict(str(missing))
    return row


def _answer(row: ProposalCoauthor, actor: User, now: datetime, *, expected: str, status: str, moment: str) -> None:
    compare_and_set(
        row,
        expected=ProposalCoauthor.status == expected,
        values={"status": status, "answered_at": now, "answered_by_id": actor.id},
        conflict=Conflict(moment),
    )


def _tell_author(proposal: Proposal, words: Callable[[str], tuple[str, str]], circle_id: int) -> None:
    """Tell the proposal's author, in their language: `words` gives the subject and body for the proposal's title."""
    url = external_url("proposals.view", proposal_id=proposal.id)
    with in_language(recipient_language(proposal.author, proposal)):
        subject, body = words(_title_of(proposal))
        queue_notice(
            proposal.author, subject, f"{body}\n{url}\n", kind="coauthor.answered", circle_id=circle_id, url=url
        )


def accept_coauthorship(actor: User, proposal: Proposal, now: datetime) -> ProposalCoauthor:
    """The invitee accepts: from now on they author the proposal (`authorship.is_author`). The author is told.

    :raises Conflict: without an open invitation, when the proposal may no longer change, or when it is the
        proposal of one who left the circle.
    :raises ValidationFailed: if it would take the invitee past the round's limit of proposals per member.
    """
    # The round's row first, as creating a proposal takes it: the count against the limit stays true until this
    # co-authorship is stored, so a proposal written at the same moment cannot slip past the limit with it.
    round_ = lock(proposal.round)
    lock(proposal)
    row = _own_row(actor, proposal, INVITED, NO_SUCH_INVITATION)
    require_changeable(proposal, round_, now)
    if membership_of(actor, round_.circle) is None:
        raise PermissionDenied(gettext("Only members of the circle can co-author its proposals."))
    counted = proposals_counted(actor.id, round_)
    if counted >= round_.max_proposals_per_member:
        raise ValidationFailed(
            ngettext(
                # English keeps one form, as it always read; the other languages have their own.
                "You author %(num)d proposals in this round (co-authored ones included), the most a member may have: "
                "withdraw or leave one first, or decline this invitation.",
                "You author %(num)d proposals in this round (co-authored ones included), the most a member may have: "
                "withdraw or leave one first, or decline this invitation.",
                counted,
            )
        )
    _answer(
        row,
        actor,
        now,
        expected=INVITED,
        status=ACCEPTED,
        moment=gettext("This invitation was taken back a moment ago."),
    )
    circle_id = round_.circle_id
    for accepted in coauthor_accepted.receivers():
        accepted(actor, proposal, now)
    record("proposal.coauthor_accepted", actor=actor, circle_id=circle_id, subject=proposal, data={}, at=now)
    _tell_author(
        proposal,
        lambda title: (
            gettext("%(name)s co-authors “%(title)s” now", name=actor.name, title=title),
            gettext(
                "%(name)s accepted your invitation to co-author “%(title)s”: they may edit it and answer its "
                "questions.",
                name=actor.name,
                title=title,
            ),
        ),
        circle_id,
    )
    return row


def decline_coauthorship(actor: User, proposal: Proposal, now: datetime) -> ProposalCoauthor:
    """The invitee declines; the author is told (and does not invite them again to this proposal).

    :raises Conflict: without an open invitation.
    """
    lock(proposal)
    row = _own_row(actor, proposal, INVITED, NO_SUCH_INVITATION)
    _answer(
        row,
        actor,
        now,
        expected=INVITED,
        status="declined",
        moment=gettext("This invitation was taken back meanwhile."),
    )
    circle_id = proposal.round.circle_id
    record("proposal.coauthor_declined", actor=actor, circle_id=circle_id, subject=proposal, data={}, at=now)
    _tell_author(
        proposal,
        lambda title: (
            gettext("%(name)s declined to co-author “%(title)s”", name=actor.name, title=title),
            gettext("%(name)s declined your invitation to co-author “%(title)s”.", name=actor.name, title=title),
        ),
        circle_id,
    )
    return row


def withdraw_coauthorship(actor: User, proposal: Proposal, now: datetime) -> ProposalCoauthor:
    """A co-author leaves the proposal: they no longer author it (nor count it against their limit). The author is
    told.

    :raises Conflict: unless the actor co-authors the proposal.
    """
    lock(proposal)
    row = _own_row(actor, proposal, ACCEPTED, gettext("You do not co-author this proposal."))
    _answer(row, actor, now, expected=ACCEPTED, status="withdrawn", moment=gettext("You left this proposal already."))
    circle_id = proposal.round.circle_id
    record("proposal.coauthor_left", actor=actor, circle_id=circle_id, subject=proposal, data={}, at=now)
    _tell_author(
        proposal,
        lambda title: (
            gettext("%(name)s no longer co-authors “%(title)s”", name=actor.name, title=title),
            gettext("%(name)s left “%(title)s”: they no longer co-author it.", name=actor.name, title=title),
        ),
        circle_id,
    )
    return row


def remove_coauthor(actor: User, proposal: Proposal, user_id: int, now: datetime) -> ProposalCoauthor:
    """The member who wrote the proposal takes back an invitation, or ends a co-authorship; the person is told.

    :raises PermissionDenied: unless the actor wrote the proposal.
    :raises Conflict: unless the person is invited to or co-authors the proposal (answered or left meanwhile).
    """
    lock(proposal)
    if not is_lead_author(proposal, actor):
        raise PermissionDenied(gettext("Only the member who wrote the proposal can take back invitations."))
    row = coauthorship_of(proposal, user_id)
    if row is None or row.status not in (INVITED, ACCEPTED):
        raise Conflict(
            gettext("This person is neither invited to nor co-author of this proposal: they may have answered.")
        )
    was = row.status
    _answer(
        row, actor, now, expected=was, status="withdrawn", moment=gettext("This invitation was answered a moment ago.")
    )
    circle_id = proposal.round.circle_id
    record(
        "proposal.coauthor_removed",
        actor=actor,
        circle_id=circle_id,
        subject=proposal,
        data={"user": user_id, "was": was},
        at=now,
    )
    url = external_url("proposals.view", proposal_id=proposal.id)
    with in_language(recipient_language(row.user, proposal)):
        title = _title_of(proposal)
        if was == INVITED:
            subject = gettext(
                "%(name)s took back the invitation to co-author “%(title)s”", name=actor.name, title=title
            )
        else:
            subject = gettext("%(name)s ended your co-authorship of “%(title)s”", name=actor.name, title=title)
        queue_notice(row.user, subject, f"{subject}.\n{url}\n", kind="coauthor.answered", circle_id=circle_id, url=url)
    return row


def invitation_for(user: User | None, proposal: Proposal) -> ProposalCoauthor | None:
    """The person's open invitation to co-author the proposal (None: none, or a visitor)."""
    if user is None or not getattr(user, "is_authenticated", False) or is_author(proposal, user):
        return None
    row = coauthorship_of(proposal, user.id)
    return row if row is not None and row.status == INVITED else None
