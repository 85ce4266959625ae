"""The voting's pages in German and Spanish (issue 18): the ballot, the results and the replays render for a reader
whose browser asks for another language, with `lang` set on <html>. Only what holds before the catalogues are
merged is checked here; every page's every word is checked against the catalogues once they are."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from flask import Flask

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.services import create_proposal
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_round, make_token, make_user, sample_proposal

LANGUAGES = ("de", "es")

#: A Pabulib file with approval ballots (pabulib.org/format), and the same with a cost that is not a number.
PABULIB = """META
key;value
description;Riverside
num_projects;2
num_votes;2
budget;1000
vote_type;approval
currency;EUR
PROJECTS
project_id;cost;votes;name
a;600;2;Tool library
b;400;1;Seed library
VOTES
voter_id;vote
v1;a,b
v2;a
"""
BROKEN_PABULIB = PABULIB.replace("b;400;1;Seed library", "b;four hundred;1;Seed library")


@dataclass(frozen=True)
class World:
    circle_id: int
    deciding_round_id: int
    decided_round_id: int
    shares_round_id: int
    admin_email: str
    voter_email: str
    voter_token: str


def _round(circle: object, admin: object, voter: object, title: str, *, decide: bool, **settings: object) -> int:
    round_ = make_round(circle, admin, title=title, quorum_percent=0, **settings)
    advance_round(admin, round_, "proposals", utcnow())
    made = [
        create_proposal(voter, round_, sample_proposal(title=f"{title} {n}", amount_minor=30_000 + 5_000 * n,
                                                       payee_slug=f"{title.lower()}-{n}"), submit=True, now=utcnow())
        for n in range(3)
    ]  # fmt: skip
    for phase in ("deliberation", "deciding"):
        advance_round(admin, round_, phase, utcnow())
    db.session.commit()
    cast_ballot(voter, round_, {made[0].id: 2, made[1].id: 1}, utcnow())
    db.session.commit()
    if decide:
        advance_round(admin, round_, "decided", utcnow())
        db.session.commit()
    return round_.id


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        voter = make_user(name="Vera Voter")
        circle = make_circle(admin)
        add_member(circle, voter, ["member", "circle"], by=admin)
        deciding = _round(circle, admin, voter, "Open", decide=False, allow_negative=True)
        decided = _round(circle, admin, voter, "Done", decide=True)
        shares = _round(circle, admin, voter, "Shares", decide=True, method="cumulative",
                        allocation_rule="equal_shares")  # fmt: skip
        return World(circle.id, deciding, decided, shares, admin.email, voter.email, make_token(voter))


def _signed_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _renders_in(response: object, language: str) -> str:
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.status_code == 200, page  # type: ignore[attr-defined]
    assert f'<html lang="{language}" dir="ltr">' in page
    return page


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_results_and_replay_pages_render_in_the_reader_s_language(app: Flask, world: World, language: str) -> None:
    voter = _signed_in(app, world.voter_email)
    asked = {"Accept-Language": f"{language},en;q=0.5"}
    for round_id in (world.decided_round_id, world.shares_round_id):
        _renders_in(voter.get(f"/rounds/{round_id}/results", headers=asked), language)
        _renders_in(voter.get(f"/rounds/{round_id}/replay", headers=asked), language)
    admin = _signed_in(app, world.admin_email)
    _renders_in(admin.get(f"/circles/{world.circle_id}/replay", headers=asked), language)
    replayed = admin.post_form(f"/circles/{world.circle_id}/replay",
                               {"file": (io.BytesIO(PABULIB.encode()), "riverside.pb")},
                               content_type="multipart/form-data", headers=asked)  # fmt: skip
    _renders_in(replayed, language)
    refused = admin.post_form(f"/circles/{world.circle_id}/replay",
                              {"file": (io.BytesIO(BROKEN_PABULIB.encode()), "broken.pb")},
                              content_type="multipart/form-data", headers=asked)  # fmt: skip
    assert refused.status_code == 422 and f'<html lang="{language}"' in refused.get_data(as_text=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_ballot_page_renders_in_the_reader_s_language(app: Flask, world: World, language: str) -> None:
    voter = _signed_in(app, world.voter_email)
    asked = {"Accept-Language": f"{language},en;q=0.5"}
    ballot = _renders_in(voter.get(f"/rounds/{world.deciding_round_id}/ballot", headers=asked), language)
    assert "data-words=" in ballot and 'id="receipt-code"' in ballot
    # Numbers over the credits: the page says by how much, in the reader's language.
    lines = [f"votes-{n}" for n in range(1, 100)]
    over = voter.post_form(f"/rounds/{world.deciding_round_id}/ballot",
                           {**dict.fromkeys(lines, "9"), "action": "recalculate"}, headers=asked)  # fmt: skip
    _renders_in(over, language)
    _renders_in(voter.get(f"/rounds/{world.deciding_round_id}/results", headers=asked), language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_ballot_the_api_refuses_is_refused_as_invalid_in_any_language(
    app: Flask, world: World, language: str
) -> None:
    # Saying why in the reader's language must not read the signed-in person before the token is checked.
    client: Client = app.test_client()  # type: ignore[assignment]
    url = f"/api/v1/rounds/{world.deciding_round_id}/ballot"
    for bad in ({"votes": {"abc": 1}}, {"votes": {str(n): 1 for n in range(1, 1_002)}}):
        response = client.open(url, method="PUT", json=bad, headers={"Authorization": f"Bearer {world.voter_token}",
                                                                     "Accept-Language": language})  # fmt: skip
        assert response.status_code == 422, response.get_json()
        assert set(response.get_json()["error"]) == {"code", "message", "fields"}
        assert response.get_json()["error"]["code"] == "invalid"
