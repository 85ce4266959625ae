"""The ballot page through the test client (issue 17, point 6): the credit bar, what the next vote costs on each
line, the server's refusal of a ballot over the credits in words, the "Saved. Back to the round" panel with what
happens next, and the no-JavaScript path (Recalculate, then Save) that the script hides but never replaces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

TITLES = ("Tool library", "Seed library", "Language evenings")


@dataclass(frozen=True)
class Voting:
    round_id: int
    proposal_ids: dict[str, int]
    voters: tuple[str, str]
    deadline_words: str


def _voting_round(app: Flask, **round_settings: Any) -> Voting:
    """A circle with two circle members and a round in deciding with three proposals (100 credits each)."""
    with app.app_context():
        admin = make_user(name="Ana Admin")
        author = make_user(name="Eli Member")
        circle = make_circle(admin)
        add_member(circle, author, ["member"], by=admin)
        voters = (make_user(name="Bea Circle"), make_user(name="Chidi Circle"))
        for voter in voters:
            add_member(circle, voter, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, **round_settings)
        advance_round(admin, round_, "proposals", utcnow())
        ids = {title: make_proposal(round_, author, title=title, amount_minor=30_000).id for title in TITLES}
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
        close = round_.deciding_close_at
        deadline = close.strftime("%-d %b %Y, %H:%M UTC") if close is not None else ""
        return Voting(round_.id, ids, (voters[0].email, voters[1].email), deadline)


@pytest.fixture
def voting(app: Flask) -> Voting:
    return _voting_round(app)


def _voter(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _form(voting: Voting, action: str, **votes: int) -> dict[str, str]:
    """The ballot form as a browser sends it: every line's field (0 where nothing is typed) and the button pressed."""
    form = {f"votes-{pid}": "0" for pid in voting.proposal_ids.values()}
    for key, count in votes.items():
        form[f"votes-{voting.proposal_ids[key.replace('_', ' ')]}"] = str(count)
    form["action"] = action
    return form


def _next_words(page: str, proposal_id: int) -> str:
    match = re.search(rf'<span class="next-cost" id="next-votes-{proposal_id}">([^<]*)</span>', page)
    assert match, f"no next-vote words for proposal {proposal_id}"
    return match.group(1)


def _meter(page: str) -> str:
    match = re.search(r"<meter [^>]*>", page)
    assert match, "the ballot has no credit bar"
    return re.sub(r"\s+", " ", match.group(0))


def _bar_words(page: str) -> str:
    match = re.search(r'<span id="credit-words">(.*?)</span>\s*</div>', page, re.S)
    assert match, "the credit bar has no words"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))).strip()


def _ballots(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Ballot)) or 0


def _ledger_size(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def test_an_empty_ballot_shows_a_full_credit_bar_and_that_every_first_vote_costs_one_credit(
    app: Flask, voting: Voting
) -> None:
    page = _voter(app, voting.voters[0]).get(f"/rounds/{voting.round_id}/ballot").get_data(as_text=True)
    assert '<label for="credit-meter">Your credits</label>' in page
    assert _meter(page) == '<meter id="credit-meter" min="0" max="100" value="0" aria-describedby="credit-words">'
    assert _bar_words(page) == "0 of 100 credits spent, 100 left"
    for proposal_id in voting.proposal_ids.values():
        assert _next_words(page, proposal_id) == "Next vote: 1 credit"
    assert 'src="/static/js/ballot.js"' in page


def test_recalculate_without_javascript_shows_the_bar_and_each_next_vote_with_what_cannot_be_afforded(
    app: Flask, voting: Voting
) -> None:
    bea = _voter(app, voting.voters[0])
    form = _form(voting, "recalculate", Tool_library=3, Seed_library=9)
    response = bea.post_form(f"/rounds/{voting.round_id}/ballot", form)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'value="90"' in _meter(page)
    assert _bar_words(page) == "90 of 100 credits spent, 10 left"
    ids = voting.proposal_ids
    assert _next_words(page, ids["Tool library"]) == "Next vote: 7 credits"
    assert _next_words(page, ids["Seed library"]) == "Next vote: 19 credits, more than the 10 left"
    assert _next_words(page, ids["Language evenings"]) == "Next vote: 1 credit"
    assert _ballots(app) == 0  # Recalculate saves nothing


def test_a_ballot_over_the_credits_is_refused_by_the_server_in_words_and_nothing_is_stored(
    app: Flask, voting: Voting
) -> None:
    bea = _voter(app, voting.voters[0])
    url = f"/rounds/{voting.round_id}/ballot"
    over = _form(voting, "recalculate", Tool_library=10, Seed_library=1)
    page = bea.post_form(url, over).get_data(as_text=True)
    assert 'value="100"' in _meter(page)  # the bar is full; the words say by how much it is over
    assert _bar_words(page) == "101 of 100 credits spent, -1 left"
    assert '<span id="bar-left" class="over">-1</span>' in page
    assert "This ballot costs 1 more credits than you have." in page
    assert _next_words(page, voting.proposal_ids["Tool library"]) == "Next vote: 21 credits, none left"

    ledger_before = _ledger_size(app)
    refused = bea.post_form(url, {**over, "action": "save"})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert '<div class="form-errors" role="alert"><p>Your ballot was not saved: This ballot costs 101 credits, ' \
           "1 more than your 100.</p></div>" in text  # fmt: skip
    assert "Saved." not in text
    assert _ballots(app) == 0
    assert _ledger_size(app) == ledger_before  # the refusal rolled the whole request back


def test_after_saving_the_page_says_saved_what_happens_next_and_leads_back_to_the_round(
    app: Flask, voting: Voting
) -> None:
    bea = _voter(app, voting.voters[0])
    url = f"/rounds/{voting.round_id}/ballot"
    saved = bea.post_form(url, _form(voting, "save", Tool_library=3, Language_evenings=2))
    assert saved.status_code == 302
    assert saved.location == f"{url}?saved=1"
    page = bea.get(saved.location).get_data(as_text=True)
    assert "Your ballot is saved (13 credits)." in page
    panel = page[page.index('<section class="saved-next"') : page.index("</section>")]
    assert '<h2 id="saved-title">Saved.</h2>' in panel
    assert f'<a class="button" href="/rounds/{voting.round_id}">Back to the round</a>' in panel
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", panel))
    assert "you can change your ballot until voting closes; the last one you save counts." in words
    assert f"Voting closes {voting.deadline_words}; then the votes are counted and the results appear" in words
    assert "So far 1 of 2 circle members have voted." in words
    # The saved ballot is what the form shows now, with its bar.
    assert _bar_words(page) == "13 of 100 credits spent, 87 left"
    assert _next_words(page, voting.proposal_ids["Tool library"]) == "Next vote: 7 credits"

    # The panel belongs to the moment after saving: the plain ballot address does not show it.
    assert "saved-next" not in bea.get(url).get_data(as_text=True)
    # And someone who has saved nothing is never told "Saved.", whatever the address says.
    chidi = _voter(app, voting.voters[1])
    assert "saved-next" not in chidi.get(f"{url}?saved=1").get_data(as_text=True)


def test_a_round_without_a_deadline_says_the_admin_closes_the_vote(app: Flask) -> None:
    voting = _voting_round(app, deciding_close_at=None)
    bea = _voter(app, voting.voters[0])
    saved = bea.post_form(f"/rounds/{voting.round_id}/ballot", _form(voting, "save", Seed_library=1))
    page = bea.get(saved.location).get_data(as_text=True)
    assert "Voting closes when an admin of the circle moves the round on;" in page


def test_votes_against_show_what_the_next_vote_against_costs_and_what_one_more_gives_back(app: Flask) -> None:
    voting = _voting_round(app, allow_negative=True)
    bea = _voter(app, voting.voters[0])
    form = _form(voting, "recalculate", Tool_library=-2, Seed_library=9)
    page = bea.post_form(f"/rounds/{voting.round_id}/ballot", form).get_data(as_text=True)
    assert _bar_words(page) == "85 of 100 credits spent, 15 left"
    ids = voting.proposal_ids
    assert _next_words(page, ids["Tool library"]) == "One vote more gives back 3 credits; next vote against: 5 credits"
    assert _next_words(page, ids["Language evenings"]) == "Next vote: 1 credit; next vote against: 1 credit"
    assert _next_words(page, ids["Seed library"]) == "Next vote: 19 credits, more than the 15 left"
    assert 'data-negative="yes"' in page


def test_a_cumulative_ballot_says_the_next_point_costs_one_point(app: Flask) -> None:
    voting = _voting_round(app, method="cumulative", credits=10)
    bea = _voter(app, voting.voters[0])
    form = _form(voting, "recalculate", Tool_library=10)
    page = bea.post_form(f"/rounds/{voting.round_id}/ballot", form).get_data(as_text=True)
    assert '<label for="credit-meter">Your points</label>' in page
    assert _bar_words(page) == "10 of 10 points spent, 0 left"
    assert _next_words(page, voting.proposal_ids["Seed library"]) == "Next point: 1 point, none left"
    assert 'data-negative="no"' in page


def test_without_javascript_recalculate_then_save_casts_the_ballot(app: Flask, voting: Voting) -> None:
    """The script hides Recalculate; the page itself always has it, and the two buttons are the whole path."""
    bea = _voter(app, voting.voters[0])
    url = f"/rounds/{voting.round_id}/ballot"
    page = bea.get(url).get_data(as_text=True)
    assert '<button type="submit" name="action" value="recalculate" class="secondary">Recalculate</button>' in page
    assert '<button type="submit" name="action" value="save">Save my ballot</button>' in page
    form = _form(voting, "recalculate", Seed_library=4, Tool_library=2)
    assert _bar_words(bea.post_form(url, form).get_data(as_text=True)) == "20 of 100 credits spent, 80 left"
    assert bea.post_form(url, {**form, "action": "save"}).status_code == 302
    assert _ballots(app) == 1


def test_the_stylesheet_keeps_hidden_elements_hidden_whatever_their_display(client: Client) -> None:
    """`button { display: inline-block }` beat the hidden attribute, so the script's hidden Recalculate button
    still showed; the rule for [hidden] must win over every element and class rule."""
    response = client.get("/static/css/app.css")
    css = response.get_data(as_text=True)
    response.close()  # a static file is sent from an open file
    assert re.search(r"\[hidden\]\s*\{\s*display:\s*none\s*!important;?\s*\}", css)
