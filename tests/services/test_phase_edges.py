"""Phase edges (RELIABILITY.md, test design 9): a state change sent at the same moment as the phase change or the
close it depends on. Real threads, each with its own session and transaction, on the app's own SQLite set-up and on
PostgreSQL; each race is run many times, since one run may happen to come out in a harmless order.

What must hold afterwards is what a person would notice: the stored ballots recount to exactly the published scores,
a consent round never closes consented with an objection open, ten first answers sent at once leave one answer, the
circle always keeps an admin, a member never has more proposals than the round allows; and nobody sees a 500.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle, Membership, MembershipRole
from fundcircle.circles.services import set_member_roles
from fundcircle.consent.models import ConsentAnswer, ConsentRound
from fundcircle.consent.services import answer_consent, close_consent_round, open_consent_round, withdraw_objection
from fundcircle.db import utcnow
from fundcircle.deliberation.models import Comment
from fundcircle.deliberation.services import add_comment
from fundcircle.errors import Conflict, FundCircleError, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import create_proposal, submit_proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import RoundInput, advance_due_rounds, advance_round, update_round
from fundcircle.voting.models import Ballot, BallotVote, ProposalResult, RoundTally
from fundcircle.voting.services import cast_ballot
from tests.concurrency import all_at_once
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user, sample_proposal

ITERATIONS = 12
VOTERS = 4


@dataclass
class CircleWorld:
    circle_id: int
    admin_id: int
    author_id: int
    decider_ids: list[int]


def _circle(app: Flask, *, deciders: int) -> CircleWorld:
    """A circle with an admin (not a decider), an author (a community member) and `deciders` circle members."""
    with app.app_context():
        admin = make_user(name="Admin")
        circle = make_circle(admin)
        author = make_user(name="Author")
        add_member(circle, author, ["member"], by=admin)
        decider_ids = []
        for number in range(deciders):
            decider = make_user(name=f"Decider {number + 1}")
            add_member(circle, decider, ["member", "circle"], by=admin)
            decider_ids.append(decider.id)
        return CircleWorld(circle.id, admin.id, author.id, decider_ids)


def _deciding_round(
    app: Flask, world: CircleWorld, *, method: str, proposals: int = 2, **settings: Any
) -> tuple[int, list[int]]:
    """A new round of the circle, with `proposals` submitted proposals, moved by the admin to deciding."""
    with app.app_context():
        admin = db.session.get(User, world.admin_id)
        circle = db.session.get(Circle, world.circle_id)
        round_ = make_round(
            circle,
            admin,
            method=method,
            categories=[],
            quorum_percent=0 if method != "consent" else 50,
            **settings,
            max_proposals_per_member=proposals,
        )
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        author = db.session.get(User, world.author_id)
        proposal_ids = [
            make_proposal(
                db.session.get(Round, round_.id),
                author,
                title=f"Proposal {number}",
                amount_minor=10_000,
                category=None,
                payee_slug=f"p-{number}",
            ).id
            for number in range(proposals)
        ]
        round_ = db.session.get(Round, round_.id)
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
        return round_.id, proposal_ids


def _as_a_request(work: Callable[[], object]) -> object:
    """Do `work` as one request does: one transaction, committed when it answers, rolled back when it refuses.
    Returns "ok", or the refusal; anything else it raises is what a person would see as a 500."""
    try:
        work()
        db.session.commit()
    except FundCircleError as refusal:
        db.session.rollback()
        return refusal
    except Exception:
        db.session.rollback()
        raise
    return "ok"


def _no_500s(outcomes: list[Any], *refusals: type[FundCircleError]) -> None:
    unexpected = [o for o in outcomes if o != "ok" and not isinstance(o, refusals)]
    assert not unexpected, f"not a clear refusal (a 500 to the person): {unexpected!r}"


def _recount(round_id: int) -> None:
    """The published result adds up: as many ballots as stored, each proposal's score the sum of its stored votes."""
    tally = db.session.get(RoundTally, round_id)
    assert tally is not None, "the round was decided"
    stored = db.session.scalar(select(func.count()).select_from(Ballot).where(Ballot.round_id == round_id))
    assert tally.ballots_cast == stored, f"published {tally.ballots_cast} ballots, {stored} stored"
    votes = dict(
        db.session.execute(
            select(BallotVote.proposal_id, func.sum(BallotVote.votes))
            .join(Ballot, Ballot.id == BallotVote.ballot_id)
            .where(Ballot.round_id == round_id)
            .group_by(BallotVote.proposal_id)
        ).all()
    )
    for result in db.session.scalars(select(ProposalResult).where(ProposalResult.round_id == round_id)):
        assert result.score == votes.get(result.proposal_id, 0), "a published score differs from the stored votes"


def _ballot_race(
    app: Flask,
    world: CircleWorld,
    decide: Callable[[int], None],
    now_of_ballots: Callable[[int], Any],
    *,
    method: str = "quadratic",
    allocation_rule: str = "greedy",
) -> None:
    round_id, proposal_ids = _deciding_round(app, world, method=method, allocation_rule=allocation_rule)
    counts = (1, 1) if method == "approval" else (3, 2)

    def vote(voter_id: int) -> object:
        def work() -> None:
            round_ = db.session.get(Round, round_id)
            voter = db.session.get(User, voter_id)
            cast_ballot(voter, round_, dict(zip(proposal_ids, counts, strict=True)), now_of_ballots(round_id))

        return _as_a_request(work)

    outcomes = all_at_once(
        [lambda: _as_a_request(lambda: decide(round_id))]
        + [lambda voter_id=voter_id: vote(voter_id) for voter_id in world.decider_ids],
        app=app,
    )
    _no_500s(outcomes, Conflict)
    assert outcomes[0] == "ok", outcomes[0]
    with app.app_context():
        _recount(round_id)
        accepted = outcomes[1:].count("ok")
        stored = db.session.scalar(select(func.count()).select_from(Ballot).where(Ballot.round_id == round_id))
        assert stored == accepted, "every ballot is either refused or counted"


def test_ballots_sent_as_the_admin_decides_are_counted_or_refused(app: Flask) -> None:
    world = _circle(app, deciders=VOTERS)

    def decide(round_id: int) -> None:
        admin = db.session.get(User, world.admin_id)
        advance_round(admin, db.session.get(Round, round_id), "decided", utcnow())

    for _ in range(ITERATIONS):
        _ballot_race(app, world, decide, lambda _round_id: utcnow())


@pytest.mark.parametrize(
    ("method", "allocation_rule"),
    [("approval", "equal_shares"), ("cumulative", "equal_shares"), ("approval", "greedy")],
)
def test_approval_and_cumulative_ballots_sent_as_the_admin_decides_are_counted_or_refused(
    app: Flask, method: str, allocation_rule: str
) -> None:
    world = _circle(app, deciders=VOTERS)

    def decide(round_id: int) -> None:
        admin = db.session.get(User, world.admin_id)
        advance_round(admin, db.session.get(Round, round_id), "decided", utcnow())

    for _ in range(ITERATIONS // 2):
        _ballot_race(app, world, decide, lambda _round_id: utcnow(), method=method, allocation_rule=allocation_rule)


def test_ballots_sent_just_before_the_deadline_as_the_clock_decides_are_counted_or_refused(app: Flask) -> None:
    """The ballots were sent a second before the deciding deadline, and `rounds tick` counts a second after it."""
    world = _circle(app, deciders=VOTERS)
    deadlines: dict[int, Any] = {}

    def deadline_of(round_id: int) -> Any:
        if round_id not in deadlines:
            deadlines[round_id] = db.session.get(Round, round_id).deciding_close_at
        return deadlines[round_id]

    def tick(round_id: int) -> None:
        moved = advance_due_rounds(deadline_of(round_id) + timedelta(seconds=1))
        assert round_id in [round_.id for round_ in moved]

    for _ in range(ITERATIONS):
        _ballot_race(app, world, tick, lambda round_id: deadline_of(round_id) - timedelta(seconds=1))


def _consent_round_with_two_consents(app: Flask, world: CircleWorld) -> int:
    round_id, proposal_ids = _deciding_round(app, world, method="consent", proposals=1)
    with app.app_context():
        admin = db.session.get(User, world.admin_id)
        consent_round = open_consent_round(admin, db.session.get(Proposal, proposal_ids[0]), utcnow())
        for decider_id in world.decider_ids[:2]:
            answer_consent(db.session.get(User, decider_id), consent_round, "consent", "", utcnow())
        db.session.commit()
        return consent_round.id


def test_an_objection_sent_as_the_facilitator_closes_never_closes_consented(app: Flask) -> None:
    world = _circle(app, deciders=3)

    def once() -> None:
        consent_round_id = _consent_round_with_two_consents(app, world)

        def close() -> None:
            close_consent_round(
                db.session.get(User, world.admin_id), db.session.get(ConsentRound, consent_round_id), utcnow()
            )

        def object_() -> None:
            consent_round = db.session.get(ConsentRound, consent_round_id)
            objector = db.session.get(User, world.decider_ids[2])
            answer_consent(objector, consent_round, "objection", "The fridge would block the fire exit.", utcnow())

        outcomes = all_at_once([lambda: _as_a_request(close), lambda: _as_a_request(object_)], app=app)
        _no_500s(outcomes, Conflict)
        assert outcomes[0] == "ok"
        with app.app_context():
            consent_round = db.session.get(ConsentRound, consent_round_id)
            open_objections = db.session.scalar(
                select(func.count())
                .select_from(ConsentAnswer)
                .where(
                    ConsentAnswer.consent_round_id == consent_round_id,
                    ConsentAnswer.position == "objection",
                    ConsentAnswer.withdrawn_at.is_(None),
                )
            )
            assert not (consent_round.outcome == "consented" and open_objections), (
                "closed as consented with an objection open"
            )
            assert (outcomes[1] == "ok") == bool(open_objections), "an objection answered 200 is stored"
            committed = db.session.get(Round, consent_round.round_id).committed_minor
            assert committed == (consent_round.amount_minor if consent_round.outcome == "consented" else 0)

    for _ in range(ITERATIONS):
        once()


def test_ten_first_answers_of_one_member_at_once_leave_one_answer(app: Flask) -> None:
    world = _circle(app, deciders=3)

    def once() -> None:
        round_id, proposal_ids = _deciding_round(app, world, method="consent", proposals=1)
        with app.app_context():
            admin = db.session.get(User, world.admin_id)
            consent_round_id = open_consent_round(admin, db.session.get(Proposal, proposal_ids[0]), utcnow()).id
            db.session.commit()

        def answer(position: str) -> object:
            def work() -> None:
                answer_consent(
                    db.session.get(User, world.decider_ids[0]),
                    db.session.get(ConsentRound, consent_round_id),
                    position,
                    "A reason." if position == "objection" else "",
                    utcnow(),
                )

            return _as_a_request(work)

        positions = ["consent", "concern", "objection", "consent", "concern"] * 2
        outcomes = all_at_once([lambda position=position: answer(position) for position in positions], app=app)
        _no_500s(outcomes, Conflict)
        assert "ok" in outcomes
        with app.app_context():
            answers = db.session.scalars(
                select(ConsentAnswer).where(ConsentAnswer.consent_round_id == consent_round_id)
            ).all()
            assert len(answers) == 1
            entries = db.session.scalars(
                select(LedgerEntry.action).where(
                    LedgerEntry.subject_type == "consent_round",
                    LedgerEntry.subject_id == consent_round_id,
                    LedgerEntry.action.like("consent.answer%"),
                )
            ).all()
            assert Counter(entries) == Counter(
                {"consent.answered": 1, "consent.answer_changed": outcomes.count("ok") - 1}
            ), "one first answer, then changes, each in the ledger"

    for _ in range(ITERATIONS // 2):
        once()


def _admins_of(circle_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(MembershipRole)
        .join(Membership, Membership.id == MembershipRole.membership_id)
        .where(Membership.circle_id == circle_id, MembershipRole.role == "admin")
    )


def test_two_admins_removing_each_other_leave_the_circle_an_admin(app: Flask) -> None:
    def once() -> None:
        with app.app_context():
            first = make_user(name="First admin")
            circle = make_circle(first)
            second = make_user(name="Second admin")
            add_member(circle, second, ["member", "admin"], by=first)
            circle_id, first_id, second_id = circle.id, first.id, second.id

        def demote(actor_id: int, user_id: int) -> object:
            def work() -> None:
                actor = db.session.get(User, actor_id)
                set_member_roles(actor, db.session.get(Circle, circle_id), user_id, ["member"])

            return _as_a_request(work)

        outcomes = all_at_once(
            [lambda: demote(first_id, second_id), lambda: demote(second_id, first_id)],
            app=app,
        )
        _no_500s(outcomes, PermissionDenied, ValidationFailed, Conflict)
        assert outcomes.count("ok") == 1, outcomes
        with app.app_context():
            assert _admins_of(circle_id) == 1, "the circle keeps exactly one admin"

    for _ in range(ITERATIONS):
        once()


def test_two_proposals_sent_at_once_keep_the_limit_of_one_per_member(app: Flask) -> None:
    world = _circle(app, deciders=0)

    def once() -> None:
        with app.app_context():
            round_ = make_round(
                db.session.get(Circle, world.circle_id),
                db.session.get(User, world.admin_id),
                categories=[],
                max_proposals_per_member=1,
            )
            advance_round(db.session.get(User, world.admin_id), round_, "proposals", utcnow())
            db.session.commit()
            round_id = round_.id

        def propose(number: int) -> object:
            def work() -> None:
                author = db.session.get(User, world.author_id)
                data = sample_proposal(title=f"Twin {number}", category=None)
                create_proposal(author, db.session.get(Round, round_id), data, submit=number == 0, now=utcnow())

            return _as_a_request(work)

        outcomes = all_at_once([lambda number=number: propose(number) for number in range(3)], app=app)
        _no_500s(outcomes, ValidationFailed, Conflict)
        assert outcomes.count("ok") == 1, outcomes
        with app.app_context():
            mine = db.session.scalar(
                select(func.count())
                .select_from(Proposal)
                .where(Proposal.round_id == round_id, Proposal.author_id == world.author_id)
            )
            assert mine == 1, "the round allows one proposal per member"

    for _ in range(ITERATIONS):
        once()


def _ledger_seq(circle_id: int, action: str, subject_type: str, subject_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(LedgerEntry.seq)
            .where(
                LedgerEntry.circle_id == circle_id,
                LedgerEntry.action == action,
                LedgerEntry.subject_type == subject_type,
                LedgerEntry.subject_id == subject_id,
            )
            .order_by(LedgerEntry.seq)
        )
    )


def test_comments_sent_as_deliberation_ends_are_stored_before_it_ends_or_refused(app: Flask) -> None:
    """The ledger never shows a comment written after the move to deciding closed the discussion."""
    world = _circle(app, deciders=3)

    def once() -> None:
        with app.app_context():
            admin = db.session.get(User, world.admin_id)
            round_ = make_round(db.session.get(Circle, world.circle_id), admin, categories=[])
            advance_round(admin, round_, "proposals", utcnow())
            db.session.commit()
            proposal_id = make_proposal(
                db.session.get(Round, round_.id), db.session.get(User, world.author_id), category=None
            ).id
            advance_round(
                db.session.get(User, world.admin_id), db.session.get(Round, round_.id), "deliberation", utcnow()
            )
            db.session.commit()
            round_id = round_.id

        def move() -> None:
            advance_round(db.session.get(User, world.admin_id), db.session.get(Round, round_id), "deciding", utcnow())

        def comment(decider_id: int) -> None:
            add_comment(
                db.session.get(User, decider_id),
                db.session.get(Proposal, proposal_id),
                "Could it be smaller?",
                parent_id=None,
                question=False,
                now=utcnow(),
            )

        outcomes = all_at_once(
            [lambda: _as_a_request(move)]
            + [
                lambda decider_id=decider_id: _as_a_request(lambda: comment(decider_id))
                for decider_id in world.decider_ids
            ],
            app=app,
        )
        _no_500s(outcomes, Conflict)
        assert outcomes[0] == "ok"
        with app.app_context():
            # proposals, deliberation, deciding: the last move is the one that closed the discussion
            closed_at = _ledger_seq(world.circle_id, "round.phase_changed", "round", round_id)[-1]
            comments = db.session.scalars(select(Comment.id).where(Comment.proposal_id == proposal_id)).all()
            assert len(comments) == outcomes[1:].count("ok"), "every comment answered 200 is stored, no other"
            for comment_id in comments:
                (seq,) = _ledger_seq(world.circle_id, "comment.created", "comment", comment_id)
                assert seq < closed_at, "a comment was stored after the discussion closed"

    for _ in range(ITERATIONS):
        once()


def test_drafts_submitted_as_proposals_close_are_submitted_before_or_refused(app: Flask) -> None:
    """A round in deliberation never gains a proposal: the ledger shows every submission before the move."""
    world = _circle(app, deciders=0)

    def once() -> None:
        with app.app_context():
            admin = db.session.get(User, world.admin_id)
            round_ = make_round(db.session.get(Circle, world.circle_id), admin, categories=[])
            advance_round(admin, round_, "proposals", utcnow())
            db.session.commit()
            author = db.session.get(User, world.author_id)
            drafts = [
                make_proposal(
                    db.session.get(Round, round_.id), author, submit=False, category=None, title=f"Draft {n}"
                ).id
                for n in range(3)
            ]
            round_id = round_.id

        def move() -> None:
            advance_round(
                db.session.get(User, world.admin_id), db.session.get(Round, round_id), "deliberation", utcnow()
            )

        def submit(draft_id: int) -> None:
            submit_proposal(db.session.get(User, world.author_id), db.session.get(Proposal, draft_id), utcnow())

        outcomes = all_at_once(
            [lambda: _as_a_request(move)]
            + [lambda draft_id=draft_id: _as_a_request(lambda: submit(draft_id)) for draft_id in drafts],
            app=app,
        )
        _no_500s(outcomes, Conflict)
        assert outcomes[0] == "ok"
        with app.app_context():
            moved_at = _ledger_seq(world.circle_id, "round.phase_changed", "round", round_id)[-1]
            submitted = db.session.scalars(
                select(Proposal.id).where(Proposal.round_id == round_id, Proposal.status == "submitted")
            ).all()
            assert len(submitted) == outcomes[1:].count("ok"), "every submission answered 200 is stored, no other"
            for proposal_id in submitted:
                (seq,) = _ledger_seq(world.circle_id, "proposal.submitted", "proposal", proposal_id)
                assert seq < moved_at, "a proposal was submitted after proposals closed"

    for _ in range(ITERATIONS):
        once()


def test_an_objection_withdrawn_as_the_facilitator_closes_is_seen_by_the_close_or_refused(app: Flask) -> None:
    """The objector is told their withdrawal was saved only if the close then counted it (the ledger shows the
    withdrawal before the close)."""
    world = _circle(app, deciders=3)

    def once() -> None:
        consent_round_id = _consent_round_with_two_consents(app, world)
        with app.app_context():
            answer_consent(
                db.session.get(User, world.decider_ids[2]),
                db.session.get(ConsentRound, consent_round_id),
                "objection",
                "Not in this form.",
                utcnow(),
            )
            db.session.commit()

        def close() -> None:
            admin = db.session.get(User, world.admin_id)
            close_consent_round(admin, db.session.get(ConsentRound, consent_round_id), utcnow())

        def withdraw() -> None:
            objector = db.session.get(User, world.decider_ids[2])
            withdraw_objection(objector, db.session.get(ConsentRound, consent_round_id), utcnow())

        outcomes = all_at_once([lambda: _as_a_request(close), lambda: _as_a_request(withdraw)], app=app)
        _no_500s(outcomes, Conflict)
        assert outcomes[0] == "ok"
        with app.app_context():
            consent_round = db.session.get(ConsentRound, consent_round_id)
            (closed,) = _ledger_seq(world.circle_id, "consent_round.closed", "consent_round", consent_round_id)
            withdrawn = _ledger_seq(world.circle_id, "consent.objection_withdrawn", "consent_round", consent_round_id)
            assert len(withdrawn) == (outcomes[1] == "ok"), "a withdrawal answered 200 is stored, no other"
            assert all(seq < closed for seq in withdrawn), "a withdrawal was stored after the close"
            assert consent_round.outcome == ("consented" if withdrawn else "not_consented")

    for _ in range(ITERATIONS):
        once()


def test_voting_settings_changed_as_the_round_moves_to_deciding_change_before_or_are_refused(app: Flask) -> None:
    """Voters are promised the credits they see once deciding starts: no settings change is stored after it."""
    world = _circle(app, deciders=0)

    def once() -> None:
        with app.app_context():
            admin = db.session.get(User, world.admin_id)
            round_ = make_round(db.session.get(Circle, world.circle_id), admin, categories=[], credits=100)
            for phase in ("proposals", "deliberation"):
                advance_round(admin, round_, phase, utcnow())
            db.session.commit()
            round_id = round_.id
            settings = {name: getattr(round_, name) for name in RoundInput.__dataclass_fields__}

        def move() -> None:
            advance_round(db.session.get(User, world.admin_id), db.session.get(Round, round_id), "deciding", utcnow())

        def change() -> None:
            data = RoundInput(**{**settings, "credits": 200})
            update_round(db.session.get(User, world.admin_id), db.session.get(Round, round_id), data, now=utcnow())

        outcomes = all_at_once([lambda: _as_a_request(move), lambda: _as_a_request(change)], app=app)
        _no_500s(outcomes, ValidationFailed, Conflict)
        assert outcomes[0] == "ok"
        with app.app_context():
            moved = _ledger_seq(world.circle_id, "round.phase_changed", "round", round_id)[-1]
            changed = _ledger_seq(world.circle_id, "round.settings_changed", "round", round_id)
            assert len(changed) == (outcomes[1] == "ok")
            assert all(seq < moved for seq in changed), "the settings changed after deciding started"
            assert db.session.get(Round, round_id).credits == (200 if changed else 100)

    for _ in range(ITERATIONS):
        once()


def test_roles_changed_while_members_vote_never_fail(app: Flask) -> None:
    """The lock a role change takes on the circle must not stop the ledger entries of the circle's other writers
    (which refer to the circle) while the role change waits for the ledger in turn: that would be a deadlock, which
    PostgreSQL ends by failing one of them."""
    world = _circle(app, deciders=VOTERS)
    with app.app_context():
        helper = make_user(name="Helper")
        add_member(db.session.get(Circle, world.circle_id), helper, ["member"], by=db.session.get(User, world.admin_id))
        helper_id = helper.id

    def once(roles: list[str]) -> None:
        round_id, proposal_ids = _deciding_round(app, world, method="quadratic")

        def vote(voter_id: int) -> None:
            cast_ballot(db.session.get(User, voter_id), db.session.get(Round, round_id), {proposal_ids[0]: 2}, utcnow())

        def change_roles() -> None:
            admin = db.session.get(User, world.admin_id)
            set_member_roles(admin, db.session.get(Circle, world.circle_id), helper_id, roles)

        outcomes = all_at_once(
            [lambda: _as_a_request(change_roles)]
            + [lambda voter_id=voter_id: _as_a_request(lambda: vote(voter_id)) for voter_id in world.decider_ids],
            app=app,
        )
        _no_500s(outcomes)
        assert outcomes == ["ok"] * len(outcomes)

    for number in range(ITERATIONS):
        once(["member", "treasurer"] if number % 2 == 0 else ["member"])
