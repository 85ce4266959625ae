"""Phase edges over real HTTP: the app under gunicorn (several threads, its own process and connections, as in
production) gets a ballot and the move to decided, or an objection and the close of its consent round, at the same
moment, on the test run's database (SQLite with the app's own engine set-up, and PostgreSQL).

What must hold is what the circle sees: the published scores are exactly what the stored ballots add up to, every
ballot answered 200 is counted and every other one was refused with a 409; a consent round never closes consented
with an objection open that was answered 200; nothing is a 500.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.consent.models import ConsentAnswer, ConsentRound
from fundcircle.consent.services import answer_consent, open_consent_round
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot, BallotVote, ProposalResult, RoundTally
from tests.browser.support import ARTIFACTS, LiveServer
from tests.concurrency import all_at_once
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user

ITERATIONS = 10
API = "/api/v1"


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LiveServer]:
    live = LiveServer(database_url, ARTIFACTS / "phase-edges-server.log")
    live.start()
    yield live
    live.stop()


def _call(server: LiveServer, method: str, path: str, token: str, body: object = None) -> int:
    response = requests.request(
        method, f"{server.url}{API}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    return response.status_code


@dataclass
class Deciding:
    round_id: int
    proposal_ids: list[int]
    admin_id: int
    admin_token: str
    decider_ids: list[int]
    tokens: list[str]


def _deciding_round(app: Flask, *, method: str, deciders: int, proposals: int) -> Deciding:
    """A circle of its own, and a round of it moved to deciding."""
    with app.app_context():
        admin = make_user(name="Admin")
        circle = make_circle(admin)
        author = make_user(name="Author")
        add_member(circle, author, ["member"], by=admin)
        tokens, decider_ids = [], []
        for number in range(deciders):
            decider = make_user(name=f"Decider {number + 1}")
            add_member(circle, decider, ["member", "circle"], by=admin)
            decider_ids.append(decider.id)
            tokens.append(make_token(decider))
        round_ = make_round(
            db.session.get(Circle, circle.id),
            db.session.get(User, admin.id),
            method=method,
            categories=[],
            quorum_percent=0 if method == "quadratic" else 50,
            max_proposals_per_member=proposals,
        )
        advance_round(db.session.get(User, admin.id), round_, "proposals", utcnow())
        db.session.commit()
        proposal_ids = [
            make_proposal(
                db.session.get(Round, round_.id),
                db.session.get(User, author.id),
                title=f"Proposal {number}",
                amount_minor=10_000,
                category=None,
                payee_slug=f"p-{number}",
            ).id
            for number in range(proposals)
        ]
        round_ = db.session.get(Round, round_.id)
        for phase in ("deliberation", "deciding"):
            advance_round(db.session.get(User, admin.id), round_, phase, utcnow())
        db.session.commit()
        admin = db.session.get(User, admin.id)
        return Deciding(round_.id, proposal_ids, admin.id, make_token(admin), decider_ids, tokens)


def test_ballots_sent_as_the_admin_decides_add_up_to_the_published_scores(app: Flask, server: LiveServer) -> None:
    def once() -> None:
        world = _deciding_round(app, method="quadratic", deciders=3, proposals=2)
        round_id, proposal_ids, admin_token, tokens = (
            world.round_id,
            world.proposal_ids,
            world.admin_token,
            world.tokens,
        )
        ballot = {"votes": {str(proposal_ids[0]): 3, str(proposal_ids[1]): 2}}
        statuses = all_at_once(
            [lambda: _call(server, "POST", f"/rounds/{round_id}/advance", admin_token, {"to": "decided"})]
            + [
                lambda token=token: _call(server, "PUT", f"/rounds/{round_id}/ballot", token, ballot)
                for token in tokens
            ]
        )
        assert statuses[0] == 200, statuses
        assert set(statuses[1:]) <= {200, 409}, Counter(statuses)
        with app.app_context():
            tally = db.session.get(RoundTally, round_id)
            stored = db.session.scalar(select(func.count()).select_from(Ballot).where(Ballot.round_id == round_id))
            assert stored == statuses[1:].count(200), "every ballot answered 200 is stored, no other"
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
                assert result.score == votes.get(result.proposal_id, 0), "a published score is not the stored votes"

    for _ in range(ITERATIONS):
        once()


def test_an_objection_sent_as_the_facilitator_closes_stops_consent_or_is_refused(
    app: Flask, server: LiveServer
) -> None:
    def once() -> None:
        world = _deciding_round(app, method="consent", deciders=3, proposals=1)
        admin_token, tokens = world.admin_token, world.tokens
        with app.app_context():
            consent_round = open_consent_round(
                db.session.get(User, world.admin_id), db.session.get(Proposal, world.proposal_ids[0]), utcnow()
            )
            for decider_id in world.decider_ids[:2]:
                answer_consent(db.session.get(User, decider_id), consent_round, "consent", "", utcnow())
            db.session.commit()
            consent_round_id = consent_round.id
        objection = {"position": "objection", "argument": "It would block the fire exit."}
        statuses = all_at_once(
            [
                lambda: _call(server, "POST", f"/consent-rounds/{consent_round_id}/close", admin_token),
                lambda: _call(server, "PUT", f"/consent-rounds/{consent_round_id}/answer", tokens[2], objection),
            ]
        )
        assert statuses[0] == 200 and statuses[1] in (200, 409), statuses
        with app.app_context():
            closed = db.session.get(ConsentRound, consent_round_id)
            objections = db.session.scalar(
                select(func.count())
                .select_from(ConsentAnswer)
                .where(ConsentAnswer.consent_round_id == consent_round_id, ConsentAnswer.position == "objection")
            )
            assert objections == (statuses[1] == 200), "an objection answered 200 is stored, a refused one is not"
            assert not (closed.outcome == "consented" and objections), "closed consented with an objection open"

    for _ in range(ITERATIONS):
        once()
