"""Co-authored proposals, through the services on the real database (SQLite and PostgreSQL): who may invite and
accept, what a co-author may do (edit, answer questions) and may not (approve the payout), the limit of proposals
per member counting each proposal once per person, and the ledger entries and notices of every step.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.db import utcnow
from fundcircle.deliberation.models import Comment
from fundcircle.deliberation.services import add_comment, is_following
from fundcircle.errors import Conflict, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.inbox.models import Notification
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.reading import verify_ledger
from fundcircle.payouts.models import Payout
from fundcircle.payouts.services import approvable_by, approve_payout, earlier_treasurers_left
from fundcircle.proposals.authorship import author_ids, authored_by, is_author
from fundcircle.proposals.coauthors import (
    accept_coauthorship,
    coauthors_of,
    decline_coauthorship,
    invitable_members,
    invite_coauthor,
    remove_coauthor,
    withdraw_coauthorship,
)
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import (
    get_visible_proposal,
    update_proposal,
    withdraw_proposal,
)
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.factories import (
    add_member,
    enrol_totp,
    make_circle,
    make_proposal,
    make_round,
    make_user,
    sample_proposal,
    totp_code,
)


class People:
    def __init__(self) -> None:
        self.admin = make_user(name="Ana Admin", email="ana@example.org")
        self.circle = make_circle(self.admin)
        self.author = make_user(name="Aurora Author", email="aurora@example.org")
        self.cora = make_user(name="Cora Coauthor", email="cora@example.org")
        self.dan = make_user(name="Dan Decider", email="dan@example.org")
        self.outsider = make_user(name="Olaf Outsider", email="olaf@example.org")
        add_member(self.circle, self.author, ["member"], by=self.admin)
        add_member(self.circle, self.cora, ["member"], by=self.admin)
        add_member(self.circle, self.dan, ["member", "circle"], by=self.admin)
        db.session.commit()


def _open_round(people: People, **overrides: object) -> Round:
    round_ = make_round(people.circle, people.admin, **overrides)
    advance_round(people.admin, round_, "proposals", utcnow())
    db.session.commit()
    return round_


def _actions(circle: Circle) -> list[str]:
    return list(
        db.session.scalars(
            select(LedgerEntry.action).where(LedgerEntry.circle_id == circle.id).order_by(LedgerEntry.seq)
        )
    )


def _invite_and_accept(people: People, proposal: Proposal, user: User) -> None:
    invite_coauthor(people.author, proposal, user, utcnow())
    db.session.commit()
    accept_coauthorship(user, proposal, utcnow())
    db.session.commit()


def test_the_author_invites_a_member_who_accepts_and_then_authors_the_proposal(ctx: Flask) -> None:
    people = People()
    proposal = make_proposal(_open_round(people), people.author, title="Seed library")
    invite_coauthor(people.author, proposal, people.cora, utcnow())
    db.session.commit()
    assert not is_author(proposal, people.cora)  # an invitation alone gives no rights
    assert [(row.name, row.status) for row in coauthors_of(proposal)] == [("Cora Coauthor", "invited")]
    notice = db.session.scalars(
        select(Notification).where(Notification.user_id == people.cora.id, Notification.kind == "coauthor.invited")
    ).one()
    assert notice.text == "Aurora Author invites you to co-author “Seed library”"

    accept_coauthorship(people.cora, proposal, utcnow())
    db.session.commit()
    assert is_author(proposal, people.cora)
    assert author_ids(proposal) == {people.author.id, people.cora.id}
    assert is_following(people.cora, proposal)  # the co-author hears of the discussion, as the author does
    told = db.session.scalars(select(Notification).where(Notification.user_id == people.author.id)).all()
    assert any(n.kind == "coauthor.answered" and "Cora Coauthor co-authors" in n.text for n in told)
    assert _actions(people.circle)[-2:] == ["proposal.coauthor_invited", "proposal.coauthor_accepted"]
    invited = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "proposal.coauthor_invited")).one()
    assert invited.actor_id == people.author.id and invited.data == {"user": people.cora.id}
    assert all(report.result.ok for report in verify_ledger([people.circle.id]))


def test_only_the_author_invites_and_only_members_other_than_themselves_once(ctx: Flask) -> None:
    people = People()
    proposal = make_proposal(_open_round(people), people.author)
    with pytest.raises(PermissionDenied):
        invite_coauthor(people.dan, proposal, people.cora, utcnow())
    db.session.rollback()
    with pytest.raises(ValidationFailed, match="invite another member"):
        invite_coauthor(people.author, proposal, people.author, utcnow())
    db.session.rollback()
    with pytest.raises(ValidationFailed, match="Only members of the circle"):
        invite_coauthor(people.author, proposal, people.outsider, utcnow())
    db.session.rollback()
    invite_coauthor(people.author, proposal, people.cora, utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="invited already"):
        invite_coauthor(people.author, proposal, people.cora, utcnow())
    db.session.rollback()
    accept_coauthorship(people.cora, proposal, utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="co-authors this proposal already"):
        invite_coauthor(people.author, proposal, people.cora, utcnow())
    db.session.rollback()
    # A co-author may edit, but inviting more people stays with the member who wrote it.
    with pytest.raises(PermissionDenied):
        invite_coauthor(people.cora, proposal, people.dan, utcnow())
    db.session.rollback()
    assert [name for _, name in invitable_members(proposal)] == ["Ana Admin", "Dan Decider"]
    assert _actions(people.circle).count("proposal.coauthor_invited") == 1


def test_nobody_accepts_another_persons_invitation_and_a_declined_one_is_not_repeated(ctx: Flask) -> None:
    people = People()
    proposal = make_proposal(_open_round(people), people.author)
    invite_coauthor(people.author, proposal, people.cora, utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="no open invitation"):
        accept_coauthorship(people.dan, proposal, utcnow())
    db.session.rollback()
    decline_coauthorship(people.cora, proposal, utcnow())
    db.session.commit()
    assert not is_author(proposal, people.cora)
    with pytest.raises(Conflict, match="no open invitation"):
        accept_coauthorship(people.cora, proposal, utcnow())
    db.session.rollback()
    with pytest.raises(Conflict, match="declined"):
        invite_coauthor(people.author, proposal, people.cora, utcnow())
    db.session.rollback()
    assert _actions(people.circle)[-1] == "proposal.coauthor_declined"


def test_a_co_author_may_edit_and_answer_questions(ctx: Flask) -> None:
    people = People()
    round_ = _open_round(people)
    proposal = make_proposal(round_, people.author, title="Seed library")
    _invite_and_accept(people, proposal, people.cora)
    dan_asks = add_comment(
        people.dan, proposal, "Who keeps the seeds dry?", parent_id=None, question=True, now=utcnow()
    )
    db.session.commit()

    version = update_proposal(
        people.cora, proposal, sample_proposal(title="Seed library, kept dry"), change_note="", now=utcnow()
    )
    db.session.commit()
    assert version.number == 2 and version.created_by_id == people.cora.id
    add_comment(
        people.cora, proposal, "A dry cupboard in the hall.", parent_id=dan_asks.id, question=False, now=utcnow()
    )
    db.session.commit()
    question = db.session.get(Comment, dan_asks.id, populate_existing=True)
    assert question is not None and question.answered_at is not None
    assert "comment.question_answered" in _actions(people.circle)
    # A member who does not author it may do neither.
    with pytest.raises(PermissionDenied):
        update_proposal(people.dan, proposal, sample_proposal(title="Mine now"), change_note="", now=utcnow())
    db.session.rollback()


def test_a_co_author_who_left_or_was_removed_may_no_longer_edit(ctx: Flask) -> None:
    people = People()
    proposal = make_proposal(_open_round(people), people.author)
    _invite_and_accept(people, proposal, people.cora)
    withdraw_coauthorship(people.cora, proposal, utcnow())
    db.session.commit()
    with pytest.raises(PermissionDenied):
        update_proposal(people.cora, proposal, sample_proposal(title="Changed"), change_note="", now=utcnow())
    db.session.rollback()
    # Invited again and accepted, then removed by the author.
    _invite_and_accept(people, proposal, people.cora)
    with pytest.raises(PermissionDenied):
        remove_coauthor(people.cora, proposal, people.cora.id, utcnow())
    db.session.rollback()
    remove_coauthor(people.author, proposal, people.cora.id, utcnow())
    db.session.commit()
    assert not is_author(proposal, people.cora)
    # Withdrawing the proposal stays with the member who wrote it.
    _invite_and_accept(people, proposal, people.cora)
    with pytest.raises(PermissionDenied):
        withdraw_proposal(people.cora, proposal, utcnow())
    db.session.rollback()
    assert _actions(people.circle).count("proposal.coauthor_left") == 1
    removed = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "proposal.coauthor_removed")).one()
    assert removed.data == {"user": people.cora.id, "was": "accepted"}


def test_invitations_are_sent_and_accepted_only_while_the_proposal_may_change(ctx: Flask) -> None:
    people = People()
    round_ = _open_round(people)
    proposal = make_proposal(round_, people.author)
    invite_coauthor(people.author, proposal, people.cora, utcnow())
    db.session.commit()
    for phase in ("deliberation", "deciding"):
        advance_round(people.admin, round_, phase, utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="cannot be changed while the round is in deciding"):
        accept_coauthorship(people.cora, proposal, utcnow())
    db.session.rollback()
    with pytest.raises(Conflict):
        invite_coauthor(people.author, proposal, people.dan, utcnow())
    db.session.rollback()
    decline_coauthorship(people.cora, proposal, utcnow())  # saying no is always possible
    db.session.commit()


def test_a_draft_is_seen_by_its_invitee_and_co_authors_but_no_one_else(ctx: Flask) -> None:
    people = People()
    draft = make_proposal(_open_round(people), people.author, submit=False)
    invite_coauthor(people.author, draft, people.cora, utcnow())
    db.session.commit()
    assert get_visible_proposal(draft.id, people.cora) == draft
    with pytest.raises(Exception, match="no such proposal"):
        get_visible_proposal(draft.id, people.dan)


def test_the_limit_per_member_counts_each_proposal_once_per_person(ctx: Flask) -> None:
    people = People()
    round_ = _open_round(people, max_proposals_per_member=3)
    first = make_proposal(round_, people.author, title="One")
    second = make_proposal(round_, people.author, title="Two")
    _invite_and_accept(people, first, people.cora)
    _invite_and_accept(people, second, people.cora)
    make_proposal(round_, people.cora, title="Cora's own")
    counted = db.session.scalar(
        select(db.func.count())
        .select_from(Proposal)
        .where(Proposal.round_id == round_.id, authored_by(people.cora.id), Proposal.status != "withdrawn")
    )
    assert counted == 3  # co-author of 2 and author of 1
    with pytest.raises(ValidationFailed, match="You have 3 proposals in this round, co-authored ones included"):
        make_proposal(round_, people.cora, title="A fourth")
    db.session.rollback()
    # Accepting a co-authorship that would take Cora past the limit is refused, with her count.
    third = make_proposal(round_, people.author, title="Three")
    invite_coauthor(people.author, third, people.cora, utcnow())
    db.session.commit()
    with pytest.raises(ValidationFailed, match="You author 3 proposals in this round"):
        accept_coauthorship(people.cora, third, utcnow())
    db.session.rollback()
    assert not is_author(third, people.cora)
    # Leaving one makes room.
    withdraw_coauthorship(people.cora, first, utcnow())
    db.session.commit()
    accept_coauthorship(people.cora, third, utcnow())
    db.session.commit()
    assert is_author(third, people.cora)


def _decided_with_coauthor(people: People, coauthor: User) -> Payout:
    """A quadratic round decided with one funded proposal that `coauthor` co-authors; its payout awaits approval."""
    round_ = _open_round(people, quorum_percent=0)
    proposal = make_proposal(round_, people.author, title="Seed library")
    _invite_and_accept(people, proposal, coauthor)
    for phase in ("deliberation", "deciding"):
        advance_round(people.admin, round_, phase, utcnow())
    db.session.commit()
    cast_ballot(people.dan, round_, {proposal.id: 1}, utcnow())
    advance_round(people.admin, round_, "decided", utcnow())
    db.session.commit()
    return db.session.scalars(select(Payout).where(Payout.proposal_id == proposal.id)).one()


def test_a_co_author_who_is_treasurer_may_not_approve_the_payout(ctx: Flask) -> None:
    people = People()
    tess = make_user(name="Tess Treasurer", email="tess@example.org")
    add_member(people.circle, tess, ["member", "treasurer"], by=people.admin)
    other = make_user(name="Otto Treasurer", email="otto@example.org")
    add_member(people.circle, other, ["member", "treasurer"], by=people.admin)
    db.session.commit()
    secret = enrol_totp(tess)
    payout = _decided_with_coauthor(people, tess)

    assert payout.id not in approvable_by(tess, [payout])
    assert payout.id in approvable_by(other, [payout])
    assert earlier_treasurers_left(payout) == 1  # Otto; Tess co-authors it
    with pytest.raises(PermissionDenied, match="You co-author this proposal"):
        approve_payout(tess, payout, totp_code(secret), utcnow())
    db.session.rollback()
    payout = db.session.get(Payout, payout.id, populate_existing=True)
    assert payout is not None and payout.status == "awaiting_approval" and payout.approvals_count == 0
