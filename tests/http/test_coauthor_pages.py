"""Co-authored proposals through the pages and the JSON API: the proposal page's Authors, the author's invitation
form and pending invitations, the invitee's accept and decline, a co-author's edit form, and who is refused."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import ProposalCoauthor
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user

API = "/api/v1"


@dataclass
class World:
    proposal_id: int
    author: str
    cora: str
    dan: str
    cora_id: int
    dan_id: int
    outsider_id: int
    tokens: dict[str, str]


def _world(app: Flask) -> World:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle = make_circle(admin, name="Riverside Fund")
        author = make_user(name="Aurora Author")
        cora = make_user(name="Cora Coauthor")
        dan = make_user(name="Dan Decider")
        outsider = make_user(name="Olaf Outsider")
        make_circle(outsider, name="Elsewhere")
        add_member(circle, author, ["member"], by=admin)
        add_member(circle, cora, ["member"], by=admin)
        add_member(circle, dan, ["member", "circle", "treasurer"], by=admin)
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        proposal = make_proposal(round_, author, title="Seed library")
        tokens = {name: make_token(user) for name, user in (("author", author), ("cora", cora), ("dan", dan))}
        return World(proposal.id, author.email, cora.email, dan.email, cora.id, dan.id, outsider.id, tokens)


def _statuses(app: Flask) -> dict[int, str]:
    with app.app_context():
        return {row.user_id: row.status for row in db.session.scalars(select(ProposalCoauthor))}


def _actions(app: Flask) -> list[str]:
    with app.app_context():
        return [
            action
            for action in db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.id))
            if action.startswith("proposal.coauthor_")
        ]


def test_the_author_invites_from_a_select_of_members_and_sees_the_invitation_waiting(
    app: Flask, client: Client
) -> None:
    world = _world(app)
    client.login(world.author)
    page = client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    assert '<h2 id="authors">Authors</h2>' in page and "Aurora Author (wrote it)" in page
    assert 'name="user_id"' in page and f'<option value="{world.cora_id}">Cora Coauthor</option>' in page
    response = client.post_form(f"/proposals/{world.proposal_id}/coauthors", {"user_id": str(world.cora_id)})
    assert response.status_code == 302
    page = client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    assert "Cora Coauthor is invited to co-author the proposal" in page
    assert "Invited, waiting for an answer" in page and "Take back" in page
    assert f'<option value="{world.cora_id}">' not in page  # invited already: not offered again
    assert _statuses(app) == {world.cora_id: "invited"}


def test_inviting_nobody_or_a_stranger_says_why_and_changes_nothing(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.author)
    empty = client.post_form(f"/proposals/{world.proposal_id}/coauthors", {"user_id": "0"}, follow_redirects=True)
    assert "Choose the member to invite." in empty.get_data(as_text=True)
    stranger = client.post_form(
        f"/proposals/{world.proposal_id}/coauthors", {"user_id": str(world.outsider_id)}, follow_redirects=True
    )
    assert "Only members of the circle can co-author its proposals." in stranger.get_data(as_text=True)
    garbage = client.post_form(f"/proposals/{world.proposal_id}/coauthors", {"user_id": "x'; --"})
    assert garbage.status_code == 302
    assert _statuses(app) == {} and _actions(app) == []


def test_a_member_who_did_not_write_it_may_not_invite_nor_take_back(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.dan)
    page = client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    assert 'name="user_id"' not in page
    refused = client.post_form(f"/proposals/{world.proposal_id}/coauthors", {"user_id": str(world.cora_id)})
    assert refused.status_code == 403
    assert client.post_form(f"/proposals/{world.proposal_id}/coauthors/{world.cora_id}/remove").status_code == 403
    assert _statuses(app) == {}


def test_the_invitee_accepts_on_the_page_and_then_gets_the_edit_form(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.author)
    client.post_form(f"/proposals/{world.proposal_id}/coauthors", {"user_id": str(world.cora_id)})
    client.post_form("/logout")
    client.login(world.cora)
    page = client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    assert "You are invited to co-author this proposal" in page and "Accept" in page and "Decline" in page
    assert client.get(f"/proposals/{world.proposal_id}/edit").status_code == 403  # not before accepting
    inbox = client.get("/inbox").get_data(as_text=True)
    assert "Aurora Author invites you to co-author “Seed library”" in inbox
    assert client.post_form(f"/proposals/{world.proposal_id}/coauthors/accept").status_code == 302
    page = client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    assert "by Aurora Author, Cora Coauthor" in page and "Cora Coauthor (co-author)" in page
    assert "Leave the proposal" in page and f"/proposals/{world.proposal_id}/edit" in page
    edit = client.get(f"/proposals/{world.proposal_id}/edit")
    assert edit.status_code == 200 and "Seed library" in edit.get_data(as_text=True)
    assert _actions(app) == ["proposal.coauthor_invited", "proposal.coauthor_accepted"]


def test_declining_and_answering_twice_say_what_happened(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.author)
    client.post_form(f"/proposals/{world.proposal_id}/coauthors", {"user_id": str(world.cora_id)})
    client.post_form("/logout")
    client.login(world.cora)
    declined = client.post_form(f"/proposals/{world.proposal_id}/coauthors/decline", follow_redirects=True)
    assert "You declined the invitation." in declined.get_data(as_text=True)
    again = client.post_form(f"/proposals/{world.proposal_id}/coauthors/accept", follow_redirects=True)
    assert "You have no open invitation to co-author this proposal" in again.get_data(as_text=True)
    assert _statuses(app) == {world.cora_id: "declined"}


def test_the_api_invites_lists_accepts_and_removes(app: Flask, client: Client) -> None:
    world = _world(app)
    url = f"{API}/proposals/{world.proposal_id}/coauthors"
    refused = client.json_call("POST", url, {"user_id": world.cora_id}, token=world.tokens["dan"])
    assert refused.status_code == 403 and refused.get_json()["error"]["code"]
    bad = client.json_call("POST", url, {"user_id": "cora"}, token=world.tokens["author"])
    assert bad.status_code == 422
    stranger = client.json_call("POST", url, {"user_id": world.outsider_id}, token=world.tokens["author"])
    assert stranger.status_code == 422 and "user_id" in stranger.get_json()["error"]["fields"]
    invited = client.json_call("POST", url, {"user_id": world.cora_id}, token=world.tokens["author"])
    assert invited.status_code == 201
    assert invited.get_json()["status"] == "invited" and invited.get_json()["user"]["name"] == "Cora Coauthor"
    twice = client.json_call("POST", url, {"user_id": world.cora_id}, token=world.tokens["author"])
    assert twice.status_code == 409
    # Dan sees no invitation of someone else's; Cora sees her own.
    assert client.json_call("GET", url, token=world.tokens["dan"]).get_json()["items"] == []
    assert [i["status"] for i in client.json_call("GET", url, token=world.tokens["cora"]).get_json()["items"]] == [
        "invited"
    ]
    assert client.json_call("POST", f"{url}/accept", token=world.tokens["dan"]).status_code == 409
    accepted = client.json_call("POST", f"{url}/accept", token=world.tokens["cora"])
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    proposal = client.json_call("GET", f"{API}/proposals/{world.proposal_id}", token=world.tokens["dan"]).get_json()
    assert [a["name"] for a in proposal["authors"]] == ["Aurora Author", "Cora Coauthor"]
    edited = client.json_call(
        "PATCH", f"{API}/proposals/{world.proposal_id}", {"title": "Seed library, by two"}, token=world.tokens["cora"]
    )
    assert edited.status_code == 200 and edited.get_json()["version"] == 2
    removed = client.json_call("DELETE", f"{url}/{world.cora_id}", token=world.tokens["author"])
    assert removed.status_code == 200 and removed.get_json()["status"] == "withdrawn"
    assert client.json_call("POST", f"{url}/leave", token=world.tokens["cora"]).status_code == 409
    assert _actions(app) == ["proposal.coauthor_invited", "proposal.coauthor_accepted", "proposal.coauthor_removed"]


def test_the_openapi_document_lists_the_coauthor_operations(client: Client) -> None:
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    base = f"{API}/proposals/{{proposal_id}}/coauthors"
    assert set(paths[base]) >= {"get", "post"}
    for step in ("accept", "decline", "leave"):
        assert "post" in paths[f"{base}/{step}"]
    assert "delete" in paths[f"{base}/{{user_id}}"]


def test_a_visitor_and_another_circle_learn_nothing(app: Flask, client: Client) -> None:
    world = _world(app)
    assert client.get(f"{API}/proposals/{world.proposal_id}/coauthors").status_code == 401
    with app.app_context():
        outsider = db.session.get(User, world.outsider_id)
        assert outsider is not None
        token = make_token(outsider)
    assert client.json_call("GET", f"{API}/proposals/{world.proposal_id}/coauthors", token=token).status_code == 404
