"""Quadratic rounds end to end: ballots through the pages and the API, concurrent saves, the stored result, and the
deadlines that open and close voting whether or not `rounds tick` has run."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import Payout
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import format_time
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot, BallotVote
from fundcircle.voting.quadratic import Candidate, tally
from tests.concurrency import all_at_once
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user


@dataclass
class QuadraticRound:
    round_id: int
    admin: str
    voters: list[str]
    tokens: list[str]
    proposals: dict[str, int]
    amounts: dict[str, int]


def _deciding_round(app: Flask, *, voters: int = 4, to: str = "deciding", **settings: Any) -> QuadraticRound:
    """PRODUCT.md's worked example: budget 1,000.00 EUR, four proposals, four circle members; moved by the admin
    to `to` (deciding, or deliberation)."""
    with app.app_context():
        admin = make_user(name="Admin")
        circle = make_circle(admin)
        settings = {"categories": [], "budget_minor": 100_000, "per_proposal_cap_minor": 40_000, **settings}
        round_ = make_round(circle, admin, max_proposals_per_member=5, **settings)
        advance_round(admin, round_, "proposals", utcnow())
        author = make_user(name="Author")
        add_member(circle, author, ["member"], by=admin)
        db.session.commit()
        amounts = {"A": 40_000, "B": 35_000, "C": 30_000, "D": 20_000}
        author.id  # noqa: B018 - load before the loop's commits expire it
        proposals = {}
        for name, amount in amounts.items():
            proposals[name] = make_proposal(
                round_,
                author,
                title=f"Proposal {name}",
                amount_minor=amount,
                category=None,
                payee_slug=f"p-{name.lower()}",
            ).id
        members = []
        for number in range(voters):
            member = make_user(name=f"Voter {number + 1}")
            add_member(circle, member, ["member", "circle"], by=admin)
            members.append(member)
        round_ = db.session.get(Round, round_.id)
        advance_round(admin, round_, "deliberation", utcnow())
        if to == "deciding":
            advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
        return QuadraticRound(
            round_.id,
            admin.email,
            [member.email for member in members],
            [make_token(member) for member in members],
            proposals,
            amounts,
        )


WORKED_BALLOTS = [
    {"A": 7, "B": 5, "C": 4},
    {"A": 5, "C": 6, "D": 6},
    {"B": 8, "D": 6},
    {"A": 3, "B": 3, "C": 3, "D": 3},
]


def _ballot_form(world: QuadraticRound, votes: dict[str, int], action: str = "save") -> dict[str, str]:
    form = {f"votes-{pid}": str(votes.get(name, 0)) for name, pid in world.proposals.items()}
    form["action"] = action
    return form


def test_a_whole_round_through_the_pages_agrees_with_the_rules(app: Flask) -> None:
    world = _deciding_round(app)
    for email, votes in zip(world.voters, WORKED_BALLOTS, strict=True):
        client: Client = app.test_client()  # type: ignore[assignment]
        client.login(email)
        page = client.get(f"/rounds/{world.round_id}/ballot").get_data(as_text=True)
        assert "100 voice credits" in page
        # a first, different ballot, then the one that counts
        first = client.post_form(f"/rounds/{world.round_id}/ballot", _ballot_form(world, {"C": 1}))
        assert first.status_code == 302
        saved = client.post_form(f"/rounds/{world.round_id}/ballot", _ballot_form(world, votes), follow_redirects=True)
        assert "Your ballot is saved" in saved.get_data(as_text=True)

    # m1 tries an eighth vote on A: refused whole, by 5 credits, and the previous ballot stays
    m1: Client = app.test_client()  # type: ignore[assignment]
    m1.login(world.voters[0])
    over = m1.post_form(f"/rounds/{world.round_id}/ballot", _ballot_form(world, {"A": 8, "B": 5, "C": 4}))
    assert over.status_code == 422
    assert "costs 105 credits, 5 more than your 100" in over.get_data(as_text=True)

    admin: Client = app.test_client()  # type: ignore[assignment]
    admin.login(world.admin)
    admin.post_form(f"/rounds/{world.round_id}/advance", {"to": "decided"})

    results = admin.get(f"/rounds/{world.round_id}/results").get_data(as_text=True)
    assert "4 of 4 circle members voted" in results and "Funded 950.00 EUR of 1,000.00 EUR" in results
    assert "skipped: needs 300.00 EUR, 50.00 EUR left" in results and "<svg" in results
    api = admin.json_call("GET", f"/api/v1/rounds/{world.round_id}/results").get_json()
    expected = tally(
        [{world.proposals[n]: v for n, v in ballot.items()} for ballot in WORKED_BALLOTS],
        [Candidate(world.proposals[n], world.amounts[n], order) for order, n in enumerate("ABCD")],
        budget_minor=100_000,
        currency="EUR",
        eligible_voters=4,
        quorum_percent=50,
    )
    assert [(p["proposal_id"], p["score"], p["funded"], p["reason"]) for p in api["proposals"]] == [
        (o.proposal_id, o.score, o.funded, o.reason) for o in expected.outcomes
    ]
    assert api["funded_minor"] == 95_000 and api["quorum_met"] is True
    csv_text = admin.get(f"/rounds/{world.round_id}/results.csv").get_data(as_text=True)
    assert csv_text.splitlines()[1].startswith(f"1,{world.proposals['B']},1,Proposal B,16,35000,EUR,350.00,yes,funded")
    with app.app_context():
        payouts = db.session.scalars(select(Payout).order_by(Payout.proposal_id)).all()
        assert sorted(p.amount_minor for p in payouts) == [20_000, 35_000, 40_000]
        assert {p.status for p in payouts} == {"awaiting_approval"}
        actions = Counter(db.session.scalars(select(LedgerEntry.action)))
        assert actions["ballot.cast"] == 8 and actions["round.result_published"] == 1 and actions["payout.created"] == 3
    assert app.test_cli_runner().invoke(args=["ledger", "verify"]).exit_code == 0


def test_the_result_is_final_whatever_changes_afterwards(app: Flask) -> None:
    world = _deciding_round(app)
    for token, votes in zip(world.tokens, WORKED_BALLOTS, strict=True):
        client: Client = app.test_client()  # type: ignore[assignment]
        body = {"votes": {str(world.proposals[n]): v for n, v in votes.items()}}
        assert client.json_call("PUT", f"/api/v1/rounds/{world.round_id}/ballot", body, token=token).status_code == 200
    with app.app_context():
        round_ = db.session.get(Round, world.round_id)
        admin = db.session.scalar(select(LedgerEntry.actor_id).where(LedgerEntry.action == "round.created"))
        from fundcircle.auth.models import User

        advance_round(db.session.get(User, admin), round_, "decided", utcnow())
        db.session.commit()
    client = app.test_client()  # type: ignore[assignment]
    before = client.json_call("GET", f"/api/v1/rounds/{world.round_id}/results", token=world.tokens[0]).get_json()
    late = client.json_call(
        "PUT",
        f"/api/v1/rounds/{world.round_id}/ballot",
        {"votes": {str(world.proposals["C"]): 10}},
        token=world.tokens[0],
    )
    assert late.status_code == 409
    with app.app_context():
        from fundcircle.errors import Conflict
        from fundcircle.voting.services import decide_by_votes

        with pytest.raises(Conflict):
            decide_by_votes(None, db.session.get(Round, world.round_id), utcnow())
        db.session.rollback()
        # even a changed ballot row in the database does not move the stored result
        db.session.execute(BallotVote.__table__.update().values(votes=1))
        db.session.commit()
    after = client.json_call("GET", f"/api/v1/rounds/{world.round_id}/results", token=world.tokens[0]).get_json()
    assert after == before


def test_without_quorum_nothing_is_funded_and_no_payout_is_made(app: Flask) -> None:
    world = _deciding_round(app)
    client: Client = app.test_client()  # type: ignore[assignment]
    client.json_call(
        "PUT",
        f"/api/v1/rounds/{world.round_id}/ballot",
        {"votes": {str(world.proposals["A"]): 5}},
        token=world.tokens[0],
    )
    admin: Client = app.test_client()  # type: ignore[assignment]
    admin.login(world.admin)
    admin.post_form(f"/rounds/{world.round_id}/advance", {"to": "decided"})
    page = admin.get(f"/rounds/{world.round_id}/results").get_data(as_text=True)
    assert "not met, so nothing is funded" in page and "no quorum: 1 of 4 circle members voted, 50% needed" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


def test_the_ballot_api_refuses_bad_ballots_whole_and_keeps_the_last_one(app: Flask) -> None:
    world = _deciding_round(app, allow_negative=False)
    client: Client = app.test_client()  # type: ignore[assignment]
    url = f"/api/v1/rounds/{world.round_id}/ballot"
    token = world.tokens[0]
    good = {"votes": {str(world.proposals["A"]): 6, str(world.proposals["B"]): 8}}
    assert client.json_call("PUT", url, good, token=token).get_json()["credits_spent"] == 100
    for bad, status in (
        ({"votes": {str(world.proposals["A"]): 11}}, 422),
        ({"votes": {str(world.proposals["A"]): -1}}, 422),
        ({"votes": {"999999": 1}}, 422),
        ({"votes": {"abc": 1}}, 422),
        ({"votes": {str(world.proposals["A"]): 1.5}}, 422),
        ({"votes": {str(world.proposals["A"]): True}}, 422),
        ({"votes": []}, 422),
        ({"ballot": {}}, 422),
    ):
        response = client.json_call("PUT", url, bad, token=token)
        assert response.status_code == status, (bad, response.get_json())
        assert set(response.get_json()["error"]) == {"code", "message", "fields"}
    mine = client.json_call("GET", url, token=token).get_json()
    assert mine["votes"] == good["votes"] and mine["revision"] == 1 and len(mine["receipt"]) == 64
    over = client.json_call("PUT", url, {"votes": {str(world.proposals["A"]): 11}}, token=token).get_json()
    assert "costs 121 credits, 21 more than your 100" in over["error"]["message"]
    not_a_voter = client.json_call("PUT", url, good, token=make_token_for_outsider(app))
    assert not_a_voter.status_code == 404


def make_token_for_outsider(app: Flask) -> str:
    with app.app_context():
        return make_token(make_user())


def test_a_secret_ballot_keeps_only_a_salted_commitment_in_the_ledger(app: Flask) -> None:
    world = _deciding_round(app, secret_ballot=True)
    client: Client = app.test_client()  # type: ignore[assignment]
    body = {"votes": {str(world.proposals["A"]): 4}}
    receipt = client.json_call(
        "PUT", f"/api/v1/rounds/{world.round_id}/ballot", body, token=world.tokens[0]
    ).get_json()["receipt"]
    with app.app_context():
        entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.hash == receipt))
        assert entry is not None and entry.action == "ballot.cast"
        assert "votes" not in entry.data and len(entry.data["commitment"]) == 64
        ballot = db.session.scalars(select(Ballot)).one()
        from fundcircle.voting.services import commitment

        assert commitment(ballot.salt, {world.proposals["A"]: 4}) == entry.data["commitment"]
    admin: Client = app.test_client()  # type: ignore[assignment]
    admin.login(world.admin)
    admin.post_form(f"/rounds/{world.round_id}/advance", {"to": "decided"})
    voter: Client = app.test_client()  # type: ignore[assignment]
    voter.login(world.voters[1])
    page = voter.get(f"/rounds/{world.round_id}/results").get_data(as_text=True)
    assert "The ballot was secret" in page and "How each member voted" not in page


def test_the_no_javascript_ballot_recalculates_without_saving(app: Flask) -> None:
    world = _deciding_round(app)
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(world.voters[0])
    page = client.post_form(f"/rounds/{world.round_id}/ballot", _ballot_form(world, {"A": 9, "B": 5}, "recalculate"))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r'id="credits-left"[^>]*>-6<', text) and "6 more credits than you have" in text
    assert client.json_call("GET", f"/api/v1/rounds/{world.round_id}/ballot").get_json()["revision"] is None
    typo = client.post_form(
        f"/rounds/{world.round_id}/ballot", {**_ballot_form(world, {}), f"votes-{world.proposals['A']}": "two"}
    )
    assert typo.status_code == 422 and "is not a whole number of votes" in typo.get_data(as_text=True)


def test_concurrent_saves_of_one_member_leave_exactly_one_ballot_whole(app: Flask) -> None:
    world = _deciding_round(app, voters=1)
    ids = list(world.proposals.values())
    # each ballot spends exactly 100 credits, on different proposals, so a mix would be visible (and over budget)
    ballots = [{str(ids[i % 4]): 6, str(ids[(i + 1) % 4]): 8} for i in range(24)]

    def save(index: int) -> int:
        client: Client = app.test_client()  # type: ignore[assignment]
        return client.json_call(  # type: ignore[no-any-return]
            "PUT", f"/api/v1/rounds/{world.round_id}/ballot", {"votes": ballots[index]}, token=world.tokens[0]
        ).status_code

    statuses: list[int] = all_at_once([lambda i=i: save(i) for i in range(len(ballots))])
    assert set(statuses) <= {200, 409}, Counter(statuses)
    accepted = statuses.count(200)
    assert accepted >= 1
    with app.app_context():
        stored = db.session.scalars(select(Ballot)).one()
        votes = {str(v.proposal_id): v.votes for v in db.session.scalars(select(BallotVote))}
        assert votes in ballots, "the stored ballot is one of those sent, whole"
        assert sum(v * v for v in votes.values()) == stored.credits_spent == 100
        assert stored.revision == accepted
        cast = db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.action == "ballot.cast")
        )
        assert cast == accepted


@pytest.mark.parametrize("method", ["cumulative", "approval"])
def test_concurrent_approval_or_cumulative_saves_of_one_member_leave_exactly_one_ballot_whole(
    app: Flask, method: str
) -> None:
    """The budget race of the quadratic ballot, for the other ballot types: 10 points each (cumulative), at most 2
    approvals (approval). Every ballot sent is within the rules, on different proposals, so a mix of two would be
    visible (and over the points or approvals allowed)."""
    settings = {"credits": 10} if method == "cumulative" else {"max_approvals": 2}
    world = _deciding_round(app, voters=1, method=method, allocation_rule="equal_shares", **settings)
    ids = list(world.proposals.values())
    if method == "cumulative":
        ballots = [{str(ids[i % 4]): 4, str(ids[(i + 1) % 4]): 6} for i in range(24)]
    else:
        ballots = [{str(ids[i % 4]): 1, str(ids[(i + 1) % 4]): 1} for i in range(24)]

    def save(index: int) -> int:
        client: Client = app.test_client()  # type: ignore[assignment]
        return client.json_call(  # type: ignore[no-any-return]
            "PUT", f"/api/v1/rounds/{world.round_id}/ballot", {"votes": ballots[index]}, token=world.tokens[0]
        ).status_code

    statuses: list[int] = all_at_once([lambda i=i: save(i) for i in range(len(ballots))])
    assert set(statuses) <= {200, 409}, Counter(statuses)
    accepted = statuses.count(200)
    assert accepted >= 1
    with app.app_context():
        stored = db.session.scalars(select(Ballot)).one()
        votes = {str(v.proposal_id): v.votes for v in db.session.scalars(select(BallotVote))}
        assert votes in ballots, "the stored ballot is one of those sent, whole"
        assert sum(votes.values()) == stored.credits_spent == (10 if method == "cumulative" else 2)
        assert stored.revision == accepted
        cast = db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.action == "ballot.cast")
        )
        assert cast == accepted


# --- deadlines, with or without a tick ------------------------------------------------------------------------------


def _deadlines_pass(app: Flask, round_id: int, *, deciding: bool) -> datetime:
    """Time passes: the proposals and deliberation deadlines are behind us (and the deciding one, if `deciding`);
    nothing runs `rounds tick`. Returns the deciding deadline."""
    now = utcnow()
    deciding_close_at = now - timedelta(minutes=1) if deciding else now + timedelta(days=1)
    with app.app_context():
        db.session.execute(
            update(Round)
            .where(Round.id == round_id)
            .values(
                proposals_close_at=now - timedelta(hours=3),
                deliberation_close_at=now - timedelta(hours=2),
                deciding_close_at=deciding_close_at,
            )
        )
        db.session.commit()
    return deciding_close_at


def _stored(app: Flask, round_id: int) -> tuple[str, int, list[tuple[int, int]], int]:
    """The round's stored phase, its ballots (revisions), their votes and the ledger's length."""
    with app.app_context():
        return (
            db.session.scalar(select(Round.phase).where(Round.id == round_id)) or "",
            db.session.scalar(select(func.coalesce(func.sum(Ballot.revision), 0))) or 0,
            sorted((pid, votes) for pid, votes in db.session.execute(select(BallotVote.proposal_id, BallotVote.votes))),
            db.session.scalar(select(func.count()).select_from(LedgerEntry)) or 0,
        )


def test_a_ballot_saved_after_the_voting_deadline_is_refused_on_the_page_and_the_api_though_no_tick_ran(
    app: Flask,
) -> None:
    world = _deciding_round(app)
    client: Client = app.test_client()  # type: ignore[assignment]
    url = f"/api/v1/rounds/{world.round_id}/ballot"
    on_time = {"votes": {str(world.proposals["A"]): 3}}
    assert client.json_call("PUT", url, on_time, token=world.tokens[0]).status_code == 200
    closed_at = _deadlines_pass(app, world.round_id, deciding=True)
    before = _stored(app, world.round_id)
    assert before[0] == "deciding"
    message = (
        f"Voting closed at {format_time(closed_at)}; your ballot was not saved. The result will be published when "
        "it is counted."
    )

    # the API: 409, the message, nothing written
    late = client.json_call("PUT", url, {"votes": {str(world.proposals["B"]): 5}}, token=world.tokens[1])
    assert late.status_code == 409
    assert late.get_json()["error"] == {"code": "conflict", "message": message, "fields": {}}
    changed = client.json_call("PUT", url, {"votes": {str(world.proposals["A"]): 1}}, token=world.tokens[0])
    assert changed.status_code == 409
    assert _stored(app, world.round_id) == before

    # the page: no form any more, and a save sent anyway is refused with the same message
    voter: Client = app.test_client()  # type: ignore[assignment]
    voter.login(world.voters[1])
    page = voter.get(f"/rounds/{world.round_id}/ballot").get_data(as_text=True)
    assert f"Voting closed at {format_time(closed_at)}. The result will be published when it is counted." in page
    assert "Save my ballot" not in page
    refused = voter.post_form(f"/rounds/{world.round_id}/ballot", _ballot_form(world, {"B": 5}))
    assert refused.status_code == 409
    assert message in refused.get_data(as_text=True)
    assert _stored(app, world.round_id) == before

    # the round page and the API say voting closed, not that it is open or decided
    round_page = voter.get(f"/rounds/{world.round_id}").get_data(as_text=True)
    assert "Now: Deciding closed, awaiting the count" in round_page
    assert "Voting is open" not in round_page and "See the results" not in round_page
    assert "The result will be published when it is counted." in round_page
    results_page = voter.get(f"/rounds/{world.round_id}/results").get_data(as_text=True)
    assert "The result will be published when it is counted." in results_page
    read = client.json_call("GET", f"/api/v1/rounds/{world.round_id}", token=world.tokens[1]).get_json()
    assert (read["phase"], read["effective_phase"]) == ("deciding", "counting")
    assert _stored(app, world.round_id) == before

    # the circle's cron counts the ballot saved in time, and only that one
    result = app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0 and "1 round(s) moved on." in result.output, result.output
    results = client.json_call("GET", f"/api/v1/rounds/{world.round_id}/results", token=world.tokens[1]).get_json()
    assert results["decided"] is True and results["ballots_cast"] == 1
    assert {p["proposal_id"]: p["score"] for p in results["proposals"]}[world.proposals["A"]] == 3
    assert _stored(app, world.round_id)[0] == "decided"


def test_voting_opens_when_the_deliberation_deadline_passes_though_no_tick_ran(app: Flask) -> None:
    world = _deciding_round(app, to="deliberation")
    client: Client = app.test_client()  # type: ignore[assignment]
    url = f"/api/v1/rounds/{world.round_id}/ballot"
    early = client.json_call("PUT", url, {"votes": {str(world.proposals["A"]): 2}}, token=world.tokens[0])
    assert early.status_code == 409
    assert early.get_json()["error"]["message"] == "Voting is open while the round is deciding; it is deliberation."
    _deadlines_pass(app, world.round_id, deciding=False)
    voter: Client = app.test_client()  # type: ignore[assignment]
    voter.login(world.voters[0])
    assert "Voting is open." in voter.get(f"/rounds/{world.round_id}").get_data(as_text=True)
    saved = voter.post_form(f"/rounds/{world.round_id}/ballot", _ballot_form(world, {"A": 2}), follow_redirects=True)
    assert "Your ballot is saved (4 credits)" in saved.get_data(as_text=True)
    phase, revisions, votes, _ = _stored(app, world.round_id)
    assert (phase, revisions, votes) == ("deliberation", 1, [(world.proposals["A"], 2)])
