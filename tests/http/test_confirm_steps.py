"""Irreversible steps are confirmed on their own page (issue 17, point 2): a GET says what will happen, with the
turnout and what is still open, and changes nothing; only the POST of its form moves the round, cancels it or
withdraws the proposal. Everything is plain links and forms, so it works without JavaScript."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from flask import Flask

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user


def _client(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _text(response: object) -> str:
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _user(email: str) -> User:
    user = db.session.scalar(db.select(User).where(User.email == email))
    assert user is not None
    return user


@dataclass
class World:
    round_id: int
    seeds: int
    tools: int


def _deciding_world(app: Flask, *, method: str = "quadratic") -> World:
    """Ana facilitates; Eli wrote both proposals; Bea, Chidi and Dana decide. The round is deciding."""
    with app.app_context():
        ana = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(ana, name="Riverside Learning Circle")
        eli = make_user(name="Eli Member", email="eli@example.org")
        add_member(circle, eli, ["member"], by=ana)
        for name in ("bea", "chidi", "dana"):
            add_member(circle, make_user(name=name.title(), email=f"{name}@example.org"), ["member", "circle"], by=ana)
        round_ = make_round(circle, ana, title="Spring fund", method=method, categories=[])
        advance_round(ana, round_, "proposals", utcnow())
        db.session.commit()
        seeds = make_proposal(round_, eli, title="Seed library", category=None).id
        tools = make_proposal(round_, eli, title="Tool library", category=None).id
        round_ = db.session.get(Round, round_.id)
        assert round_ is not None
        advance_round(ana, round_, "deliberation", utcnow())
        advance_round(ana, round_, "deciding", utcnow())
        db.session.commit()
        return World(round_.id, seeds, tools)


def _phase(app: Flask, round_id: int) -> str:
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        return round_.phase


def _entries(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(LedgerEntry)) or 0


def test_closing_voting_is_confirmed_with_the_turnout_and_what_is_still_open(app: Flask) -> None:
    world = _deciding_world(app)
    with app.app_context():
        round_ = db.session.get(Round, world.round_id)
        assert round_ is not None
        cast_ballot(_user("bea@example.org"), round_, {world.seeds: 2}, utcnow())
        db.session.commit()
    ana = _client(app, "ana@example.org")

    # The round page links to the confirmation; nothing on it moves the round in one click.
    round_page = ana.get(f"/rounds/{world.round_id}").get_data(as_text=True)
    assert f'href="/rounds/{world.round_id}/advance?to=decided">Move on to: Decided</a>' in round_page
    assert not re.search(r"<button[^>]*>\s*Move on", round_page)
    assert "Turnout: 1 of 3 circle members have voted (33%)." in _text(ana.get(f"/rounds/{world.round_id}"))

    before = _entries(app)
    confirm = ana.get(f"/rounds/{world.round_id}/advance?to=decided")
    assert confirm.status_code == 200
    page = _text(confirm)
    assert "Move on to: Decided?" in page
    assert "Voting closes. The ballots are counted, the result is published and never changes" in page
    assert "This cannot be undone" in page
    assert "Turnout: 1 of 3 circle members have voted (33%). The quorum is 50%: 2 of 3." in page
    assert "2 circle members have not voted yet." in page
    assert "Yes, move on to: Decided" in page and "No, back to the round" in page
    # A plain form: it posts the move with its CSRF token, no script needed.
    raw = confirm.get_data(as_text=True)
    assert re.search(rf'<form method="post" action="/rounds/{world.round_id}/advance"', raw)
    assert re.search(r'<input[^>]*name="to"[^>]*value="decided"', raw)
    assert re.search(r'name="csrf_token"', raw)
    assert _phase(app, world.round_id) == "deciding" and _entries(app) == before  # the GET changed nothing

    moved = ana.post_form(f"/rounds/{world.round_id}/advance", {"to": "decided"})
    assert moved.status_code == 302 and _phase(app, world.round_id) == "decided"


def test_nobody_having_voted_is_said_before_voting_is_closed(app: Flask) -> None:
    world = _deciding_world(app)
    page = _text(_client(app, "ana@example.org").get(f"/rounds/{world.round_id}/advance?to=decided"))
    assert "Turnout: 0 of 3 circle members have voted (0%)." in page and "Nobody has voted yet." in page
    assert "3 circle members have not voted yet." in page


def test_cancelling_is_apart_from_moving_on_and_confirmed_on_its_own_page(app: Flask) -> None:
    world = _deciding_world(app)
    ana = _client(app, "ana@example.org")
    round_page = ana.get(f"/rounds/{world.round_id}").get_data(as_text=True)
    facilitate = round_page.split('id="facilitate"', 1)[1]
    moves, rest = facilitate.split("</div>", 1)  # the row of moves ends before the section that cancels
    assert "Move on to: Decided" in moves and "Cancel the round" not in moves
    assert "Stop the round" in rest and f'href="/rounds/{world.round_id}/advance?to=cancelled"' in rest
    assert not re.search(r"<button[^>]*>\s*Cancel the round", round_page)

    page = _text(ana.get(f"/rounds/{world.round_id}/advance?to=cancelled"))
    assert "Cancel the round?" in page and "nothing is decided and nothing is funded" in page
    assert "Yes, cancel the round" in page and "This cannot be undone" in page
    assert _phase(app, world.round_id) == "deciding"
    assert ana.post_form(f"/rounds/{world.round_id}/advance", {"to": "cancelled"}).status_code == 302
    assert _phase(app, world.round_id) == "cancelled"


def test_a_consent_round_confirmation_lists_each_proposal_still_open(app: Flask) -> None:
    world = _deciding_world(app, method="consent")
    ana = _client(app, "ana@example.org")
    opened = ana.post_form(f"/proposals/{world.seeds}/consent-rounds")
    assert opened.status_code == 302
    page = _text(ana.get(f"/rounds/{world.round_id}/advance?to=decided"))
    assert "Consent rounds still open close with the answers they have" in page
    assert "Turnout: 0 of 3 circle members have answered a consent round (0%)." in page
    assert "The consent round on “Seed library” is open: nobody has answered yet, 0 of 3." in page
    assert "“Tool library” has had no consent round: unless one is held, it is not funded." in page


def test_the_confirmation_is_the_facilitators_and_names_the_moves_there_are(app: Flask) -> None:
    world = _deciding_world(app)
    bea = _client(app, "bea@example.org")
    assert bea.get(f"/rounds/{world.round_id}/advance?to=decided").status_code == 403
    assert bea.post_form(f"/rounds/{world.round_id}/advance", {"to": "decided"}).status_code == 403
    ana = _client(app, "ana@example.org")
    wrong = ana.get(f"/rounds/{world.round_id}/advance?to=closed")
    assert wrong.status_code == 400
    assert "The round can move on to decided or cancelled." in _text(wrong)
    assert ana.get(f"/rounds/{world.round_id}/advance").status_code == 400
    assert _phase(app, world.round_id) == "deciding"


def test_a_proposal_opening_phase_confirmation_counts_submitted_and_drafts(app: Flask) -> None:
    with app.app_context():
        ana = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(ana)
        round_ = make_round(circle, ana, categories=[])
        advance_round(ana, round_, "proposals", utcnow())
        db.session.commit()
        make_proposal(round_, ana, title="Seed library", category=None)
        make_proposal(round_, ana, submit=False, title="Tool library", category=None)
        round_id = round_.id
    page = _text(_client(app, "ana@example.org").get(f"/rounds/{round_id}/advance?to=deliberation"))
    assert "No new proposals can be submitted" in page
    assert "1 proposal submitted." in page
    assert "1 proposal is still a draft: a draft that is not submitted takes no part in the decision." in page
    assert "Turnout is counted once the circle decides" in page


def test_withdrawing_is_apart_from_edit_and_confirmed_on_its_own_page(app: Flask) -> None:
    world = _deciding_world(app, method="consent")
    ana = _client(app, "ana@example.org")
    assert ana.post_form(f"/proposals/{world.seeds}/consent-rounds").status_code == 302
    eli = _client(app, "eli@example.org")
    proposal_page = eli.get(f"/proposals/{world.seeds}").get_data(as_text=True)
    actions = proposal_page.split('<div class="actions">', 1)[1].split("</div>", 1)[0]
    assert "Withdraw" not in actions  # not beside Edit or Amend
    assert f'href="/proposals/{world.seeds}/withdraw">Withdraw…</a>' in proposal_page
    assert not re.search(r"<button[^>]*>\s*Withdraw\s*<", proposal_page)

    before = _entries(app)
    page = _text(eli.get(f"/proposals/{world.seeds}/withdraw"))
    assert "Withdraw “Seed library”?" in page
    assert "it takes no part in the decision and is not funded" in page
    assert "The consent round open on version 1 closes as not consented." in page
    assert "This cannot be undone" in page and "Yes, withdraw the proposal" in page and "No, keep it" in page
    assert _entries(app) == before

    # Only the author is asked; the POST withdraws.
    assert _client(app, "bea@example.org").get(f"/proposals/{world.seeds}/withdraw").status_code == 403
    assert eli.post_form(f"/proposals/{world.seeds}/withdraw").status_code == 302
    with app.app_context():
        proposal = db.session.get(Proposal, world.seeds)
        assert proposal is not None and proposal.status == "withdrawn"
    again = eli.get(f"/proposals/{world.seeds}/withdraw")
    assert again.status_code == 409 and "This proposal is withdrawn already." in _text(again)
