"""The API operations that mirror the remaining page actions: settings, members, tokens, notices, comment
moderation, following, and consent reactions."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from fundcircle.consent.services import open_consent_round
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import format_time
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user

API = "/api/v1"


def _last_action(app: Flask) -> str:
    with app.app_context():
        return db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.id.desc())).first() or ""


def test_an_admin_changes_circle_and_round_settings_through_the_api(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin, name="Old")
        round_ = make_round(circle, admin)
        token, circle_id, round_id = make_token(admin), circle.id, round_.id
    changed = client.json_call("PATCH", f"{API}/circles/{circle_id}", {"name": "New", "public": True}, token=token)
    assert changed.status_code == 200 and (changed.get_json()["name"], changed.get_json()["public"]) == ("New", True)
    assert _last_action(app) == "circle.settings_changed"
    assert client.json_call("PATCH", f"{API}/circles/{circle_id}", {"currency": "USD"}, token=token).status_code == 422
    updated = client.json_call("PATCH", f"{API}/rounds/{round_id}", {"credits": 64, "title": "Autumn"}, token=token)
    assert updated.status_code == 200 and (updated.get_json()["credits"], updated.get_json()["title"]) == (64, "Autumn")
    backwards = client.json_call(
        "PATCH", f"{API}/rounds/{round_id}", {"deadlines": {"deliberation": "2020-01-01T00:00:00Z"}}, token=token
    )
    assert backwards.status_code == 422 and "deliberation" in backwards.get_json()["error"]["fields"]["deadlines"]
    client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": "proposals"}, token=token)
    locked = client.json_call("PATCH", f"{API}/rounds/{round_id}", {"budget_minor": 200_000}, token=token)
    assert locked.status_code == 422 and "budget_minor" in locked.get_json()["error"]["fields"]
    with app.app_context():
        assert db.session.get(Round, round_id).budget_minor == 100_000


def test_an_admin_cannot_reopen_a_phase_whose_deadline_passed_but_can_move_the_round_on(
    app: Flask, client: Client
) -> None:
    """No tick has run: the round is stored in proposals, though its proposals and deliberation deadlines passed."""
    with app.app_context():
        admin = make_user()
        round_ = make_round(make_circle(admin), admin)
        advance_round(admin, round_, "proposals", utcnow())
        round_.proposals_close_at = utcnow() - timedelta(hours=2)
        round_.deliberation_close_at = utcnow() - timedelta(hours=1)
        db.session.commit()
        token, round_id = make_token(admin), round_.id
    url = f"{API}/rounds/{round_id}"
    read = client.json_call("GET", url, token=token).get_json()
    assert (read["phase"], read["effective_phase"]) == ("proposals", "deciding")
    soon = (utcnow() + timedelta(hours=1)).isoformat()
    for reopen in ({"deliberation": soon}, {"deliberation": None}, {"proposals": None}):
        refused = client.json_call("PATCH", url, {"deadlines": reopen}, token=token)
        assert refused.status_code == 422, refused.get_json()
        [(name, messages)] = refused.get_json()["error"]["fields"]["deadlines"].items()
        assert name in reopen and "moving it would reopen its phase" in messages[0]
    # deciding settings are fixed once the round is really deciding
    assert client.json_call("PATCH", url, {"credits": 64}, token=token).status_code == 422
    # a deadline still to come may move; the admin may move the round on from where it is stored
    later = client.json_call("PATCH", url, {"deadlines": {"deciding": "2031-01-01T00:00:00Z"}}, token=token)
    assert later.status_code == 200, later.get_json()
    moved = client.json_call("POST", f"{url}/advance", {"to": "deliberation"}, token=token)
    assert moved.status_code == 200 and moved.get_json()["phase"] == "deliberation"
    with app.app_context():
        assert db.session.get(Round, round_id).credits == 100


def test_a_round_whose_deciding_deadline_passed_is_counted_not_cancelled(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        round_ = make_round(make_circle(admin), admin, quorum_percent=0)
        for phase in ("proposals", "deliberation", "deciding"):
            advance_round(admin, round_, phase, utcnow())
        round_.deciding_close_at = closed_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        token, round_id = make_token(admin), round_.id
    read = client.json_call("GET", f"{API}/rounds/{round_id}", token=token).get_json()
    assert (read["effective_phase"], read["next_phases"]) == ("counting", ["decided"])
    cancel = client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": "cancelled"}, token=token)
    assert cancel.status_code == 422
    assert cancel.get_json()["error"]["message"] == (
        f"Deciding closed at {format_time(closed_at)}: the round can no longer be cancelled. Its result will be "
        "published when it is counted."
    )
    changed = client.json_call("PATCH", f"{API}/rounds/{round_id}", {"title": "Renamed"}, token=token)
    assert changed.status_code == 422
    counted = client.json_call("POST", f"{API}/rounds/{round_id}/advance", {"to": "decided"}, token=token)
    assert counted.status_code == 200 and counted.get_json()["phase"] == counted.get_json()["effective_phase"]
    assert counted.get_json()["phase"] == "decided"


def test_members_are_listed_to_members_only(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user(name="Ana")
        circle = make_circle(admin)
        member = make_user(name="Bo")
        add_member(circle, member, ["member"], by=admin)
        member_token, outsider, circle_id = make_token(member), make_token(make_user()), circle.id
    listed = client.json_call("GET", f"{API}/circles/{circle_id}/members", token=member_token).get_json()["items"]
    assert sorted(m["name"] for m in listed) == ["Ana", "Bo"]
    assert client.json_call("GET", f"{API}/circles/{circle_id}/members", token=outsider).status_code == 404


def test_tokens_are_made_listed_and_revoked_through_the_api(app: Flask, client: Client) -> None:
    with app.app_context():
        first = make_token(make_user())
    made = client.json_call("POST", f"{API}/me/tokens", {"name": "script"}, token=first)
    assert made.status_code == 201
    second = made.get_json()["token"]
    listed = client.json_call("GET", f"{API}/me/tokens", token=second).get_json()["items"]
    assert {t["name"] for t in listed} == {"test", "script"} and all("token" not in t for t in listed)
    revoked = client.json_call("DELETE", f"{API}/me/tokens/{made.get_json()['id']}", token=first)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert client.json_call("GET", f"{API}/me", token=second).status_code == 401
    assert client.json_call("DELETE", f"{API}/me/tokens/{made.get_json()['id']}", token=first).status_code == 409
    assert client.json_call("POST", f"{API}/me/tokens", {"name": " "}, token=first).status_code == 422
    off = client.json_call("PUT", f"{API}/me/notices", {"email_notices": False}, token=first)
    assert off.get_json() == {"email_notices": False} and _last_action(app) == "user.notices_changed"
    assert client.json_call("PUT", f"{API}/me/notices", {"email_notices": "no"}, token=first).status_code == 422


def test_comments_are_edited_deleted_hidden_and_followed_through_the_api(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin)
        author, reader = make_user(), make_user(name="Reader")
        add_member(circle, author, ["member"], by=admin)
        add_member(circle, reader, ["member"], by=admin)
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        proposal = make_proposal(round_, author)
        first = add_comment(reader, proposal, "Frist!", parent_id=None, question=False, now=utcnow())
        second = add_comment(reader, proposal, "Rude words", parent_id=None, question=False, now=utcnow())
        db.session.commit()
        ids = (proposal.id, first.id, second.id)
        tokens = (make_token(admin), make_token(author), make_token(reader))
    proposal_id, first_id, second_id = ids
    admin_token, author_token, reader_token = tokens
    edited = client.json_call("PATCH", f"{API}/comments/{first_id}", {"body": "First!"}, token=reader_token)
    assert edited.status_code == 200 and edited.get_json()["body"] == "First!" and edited.get_json()["edited_at"]
    assert (
        client.json_call("PATCH", f"{API}/comments/{first_id}", {"body": "Mine"}, token=author_token).status_code == 403
    )
    assert client.json_call("PATCH", f"{API}/comments/{first_id}", {"body": " "}, token=reader_token).status_code == 422
    deleted = client.json_call("DELETE", f"{API}/comments/{first_id}", token=reader_token)
    assert deleted.status_code == 200 and (deleted.get_json()["state"], deleted.get_json()["body"]) == ("deleted", None)
    refused = client.json_call("POST", f"{API}/comments/{second_id}/hide", {"reason": "No"}, token=reader_token)
    assert refused.status_code == 403
    hidden = client.json_call("POST", f"{API}/comments/{second_id}/hide", {"reason": "Insults"}, token=admin_token)
    assert hidden.get_json()["state"] == "hidden" and hidden.get_json()["hidden_reason"] == "Insults"
    follow = client.json_call("PUT", f"{API}/proposals/{proposal_id}/follow", {"following": True}, token=reader_token)
    assert follow.get_json() == {"following": True} and _last_action(app) == "proposal.followed"
    unfollow = client.json_call(
        "PUT", f"{API}/proposals/{proposal_id}/follow", {"following": False}, token=author_token
    )
    assert unfollow.get_json() == {"following": False}


def test_a_reaction_in_a_consent_round_through_the_api(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin)
        member = make_user(name="Mo")
        add_member(circle, member, ["member"], by=admin)
        round_ = make_round(circle, admin, method="consent")
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        proposal = make_proposal(round_, member)
        round_ = db.session.get(Round, round_.id)
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        consent_round = open_consent_round(admin, proposal, utcnow())
        db.session.commit()
        consent_round_id, token = consent_round.id, make_token(member)
    url = f"{API}/consent-rounds/{consent_round_id}/reactions"
    made = client.json_call("POST", url, {"body": "Love the idea"}, token=token)
    assert made.status_code == 201 and made.get_json()["author"] == "Mo"
    too_long = client.json_call("POST", url, {"body": "x" * 501}, token=token)
    assert too_long.status_code == 422 and "body" in too_long.get_json()["error"]["fields"]


def test_text_with_a_nul_character_is_refused_before_anything_is_read(app: Flask, client: Client) -> None:
    with app.app_context():
        token = make_token(make_user(superuser=True))
    body = {"name": "Bad\u0000name", "slug": "bad", "currency": "EUR"}
    response = client.json_call("POST", f"{API}/circles", body, token=token)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "Text may not contain NUL characters."
    assert client.json_call("GET", f"{API}/me", token=token).get_json()["circles"] == []


def test_api_lists_are_keyset_paginated(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin)
        round_ = make_round(circle, admin, max_proposals_per_member=10)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        members = [make_user() for _ in range(4)]
        for member in members:
            add_member(circle, member, ["member"], by=admin)
        proposal_ids = [make_proposal(round_, admin, title=f"Idea {n}").id for n in range(5)]
        proposal = db.session.get(Proposal, proposal_ids[0])
        for n in range(5):
            add_comment(members[0], proposal, f"Thought {n}", parent_id=None, question=False, now=utcnow())
        db.session.commit()
        token, round_id, circle_id = make_token(admin), round_.id, circle.id
    for url, total in (
        (f"{API}/rounds/{round_id}/proposals", 5),
        (f"{API}/proposals/{proposal_ids[0]}/comments", 5),
        (f"{API}/circles/{circle_id}/members", 5),
    ):
        seen, after = [], 0
        while True:
            page = client.json_call("GET", f"{url}?limit=2&after={after}", token=token).get_json()
            assert "items" in page, (url, page)
            assert len(page["items"]) <= 2
            seen += [item.get("id", item.get("user_id")) for item in page["items"]]
            if page["next_after"] is None:
                break
            after = page["next_after"]
        assert len(seen) == total and seen == sorted(seen), (url, seen)


def test_a_signed_in_person_accepts_their_invitation_through_the_api(app: Flask, client: Client) -> None:
    from fundcircle.circles.services import invite_member

    with app.app_context():
        admin = make_user()
        circle = make_circle(admin)
        outcome = invite_member(admin, circle, email="later@example.org", roles=["circle"], now=utcnow(), valid_days=3)
        db.session.commit()
        invited, other = make_token(make_user(email="later@example.org")), make_token(make_user())
        invitation_token = outcome.token
    assert client.json_call("POST", f"{API}/invitations/{invitation_token}/accept", token=other).status_code == 403
    joined = client.json_call("POST", f"{API}/invitations/{invitation_token}/accept", token=invited)
    assert joined.status_code == 200 and joined.get_json()["roles"] == ["circle"]
    assert client.json_call("POST", f"{API}/invitations/{invitation_token}/accept", token=invited).status_code == 404
