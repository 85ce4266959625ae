"""Every route, as every kind of person: the access rules hold on the server, whatever the pages show.

The routes come from the app's URL map, so a new route without a declared policy fails
`test_every_route_declares_who_may_use_it`, and a declared policy that the view does not enforce fails the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from fundcircle import create_app
from fundcircle.access import FRAMEWORK_ENDPOINTS, Policy
from fundcircle.attachments.services import Upload, attach_file
from fundcircle.auth.services import request_email_change, request_password_reset
from fundcircle.circles import rotation
from fundcircle.circles.joining import ask_to_join, set_accepts_join_requests
from fundcircle.circles.services import invite_member, update_circle_settings
from fundcircle.consent.services import open_consent_round
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.extensions import db
from fundcircle.learning.services import write_report
from fundcircle.payouts.models import OpenCollectiveConnection, Payout
from fundcircle.proposals.services import create_proposal
from fundcircle.rounds.services import advance_round
from tests.conftest import TEST_PASSWORD, Client, test_config
from tests.factories import (
    add_member,
    connect_circle,
    make_circle,
    make_funded_round,
    make_round,
    make_token,
    make_user,
    sample_proposal,
)
from tests.worlds.circles import all_routes, url_for_rule

ACTORS = ("visitor", "outsider", "other_admin", "superuser", "member", "circle", "treasurer", "admin")
#: Routes that act on the sample proposal or comment, which the "member" actor wrote.
AUTHOR_ONLY = {
    "proposals.edit",
    "proposals.submit",
    "proposals.withdraw",
    "deliberation.edit",
    "deliberation.delete",
    "proposals_api.edit_proposal",
    "proposals_api.submit_proposal",
    "proposals_api.withdraw_proposal",
    # Taking back a co-author: the member (who wrote it) has nobody to take back (409); everyone else is refused.
    "proposals.remove_coauthor",
    "proposals_api.remove_coauthor",
    "deliberation_api.edit_comment",
    "deliberation_api.delete_comment",
    # The learning report of the member's paid proposal: its authors alone write it.
    "learning.write",
    "learning_api.write_report",
}
ROLES_OF = {"member": {"member"}, "circle": {"member", "circle"}, "treasurer": {"member", "treasurer"}}


ROUTES = all_routes()


def _policy(app: Flask, endpoint: str) -> Policy | None:
    return getattr(app.view_functions[endpoint], "access_policy", None) or FRAMEWORK_ENDPOINTS.get(endpoint)


def test_every_route_declares_who_may_use_it() -> None:
    app = create_app(test_config("sqlite://"))
    missing = sorted({endpoint for endpoint, _, _ in ROUTES if _policy(app, endpoint) is None})
    assert missing == [], f"routes without an access policy (use fundcircle.access.requires): {missing}"


@dataclass
class World:
    """Circle A (private) with one person per role, circle B with its own admin, a superuser and an outsider."""

    circle_id: int
    round_id: int
    proposal_id: int
    comment_id: int
    consent_round_id: int
    member_user_id: int
    payout_id: int
    webhook_secret: str
    invitation_token: str
    invitation_id: int
    join_request_id: int
    reset_token: str
    email_token: str
    emails: dict[str, str]
    tokens: dict[str, str]
    own_token_ids: dict[str, int]
    #: A drawn call for volunteers (rotation), whose "check this draw" page members may read.
    call_id: int = 0
    #: A file the member attached to the sample proposal.
    attachment_id: int = 0
    #: The member's paid proposal and its learning report.
    reported_proposal_id: int = 0
    report_id: int = 0


def _build_world() -> World:
    admin = make_user(name="Admin A")
    circle = make_circle(admin, public=False)
    people = {"admin": admin}
    for actor, roles in ROLES_OF.items():
        people[actor] = make_user(name=actor.title())
        add_member(circle, people[actor], sorted(roles), by=admin)
    people["outsider"] = make_user(name="Outsider")
    people["superuser"] = make_user(name="Super", superuser=True)
    people["other_admin"] = make_user(name="Admin B")
    make_circle(people["other_admin"], public=False)
    round_ = make_round(circle, admin)
    advance_round(admin, round_, "proposals", utcnow())
    proposal = create_proposal(people["member"], round_, sample_proposal(), submit=True, now=utcnow())
    comment = add_comment(people["member"], proposal, "A first thought.", parent_id=None, question=False, now=utcnow())
    attachment = attach_file(
        people["member"], "proposal", proposal.id, Upload("quote.pdf", b"%PDF-1.4\n"), now=utcnow()
    )
    consent = make_round(circle, admin, method="consent", title="Consent round")
    advance_round(admin, consent, "proposals", utcnow())
    consent_proposal = create_proposal(people["member"], consent, sample_proposal(), submit=True, now=utcnow())
    advance_round(admin, consent, "deliberation", utcnow())
    advance_round(admin, consent, "deciding", utcnow())
    consent_round = open_consent_round(admin, consent_proposal, utcnow())
    db.session.commit()
    # A decided round whose funded proposal (the member's) has a payout, and an Open Collective connection that
    # answers nothing (port 9), so that no route can move money here.
    _, (funded,) = make_funded_round(circle, admin, people["circle"], [{"author": people["member"]}], title="Paid")
    connect_circle(circle, people["treasurer"], api_url="http://127.0.0.1:9/graphql/v2", slug="fund-a", token="t")
    payout = db.session.scalars(db.select(Payout).where(Payout.proposal_id == funded.id)).one()
    connection = db.session.get(OpenCollectiveConnection, circle.id)
    assert connection is not None
    outcome = invite_member(admin, circle, email="newcomer@example.org", roles=["member"], now=utcnow(), valid_days=7)
    # A request to join from somebody outside, waiting for the admin's answer: asked while the circle was public and
    # took requests (a private circle takes none).
    update_circle_settings(admin, circle, name=circle.name, description=circle.description, public=True)
    set_accepts_join_requests(admin, circle, True)
    join_request = ask_to_join(make_user(name="Asker"), circle, "May I join?", utcnow())
    update_circle_settings(admin, circle, name=circle.name, description=circle.description, public=False)
    # A password reset link (for the outsider) and an address change waiting for its link (the member's).
    reset_token = request_password_reset(people["outsider"].email, utcnow())
    email_change = request_email_change(
        people["member"], new_email="member.new@example.org", password=TEST_PASSWORD, client_address="x", now=utcnow()
    )
    # A second funded proposal of the member's, paid, with its learning report written.
    _, (reported,) = make_funded_round(circle, admin, people["circle"], [{"author": people["member"]}], title="Told")
    db.session.execute(
        db.update(Payout).where(Payout.proposal_id == reported.id).values(status="paid", status_changed_at=utcnow())
    )
    report = write_report(people["member"], reported, "final", ["It went well.", "", "", ""], utcnow())
    hour = timedelta(hours=1)
    rotation.open_volunteer_call(
        admin, circle, rotation.CallInput(seats=1, term_days=1, closes_at=utcnow() + hour), utcnow()
    )
    rotation.volunteer(people["circle"], circle, utcnow())  # already deciding: the draw changes no role
    drawn_call = rotation.draw_call(admin, circle, utcnow() + 2 * hour)
    db.session.commit()
    assert reset_token is not None
    from fundcircle.auth.models import ApiToken

    tokens = {actor: make_token(user) for actor, user in people.items()}
    own_token_ids = {
        actor: db.session.scalars(db.select(ApiToken.id).where(ApiToken.user_id == user.id)).first()
        for actor, user in people.items()
    }
    assert outcome.token is not None
    return World(
        circle_id=circle.id,
        round_id=round_.id,
        proposal_id=proposal.id,
        comment_id=comment.id,
        consent_round_id=consent_round.id,
        member_user_id=people["member"].id,
        payout_id=payout.id,
        webhook_secret=connection.webhook_secret,
        invitation_token=outcome.token,
        invitation_id=outcome.invitation.id,
        join_request_id=join_request.id,
        reset_token=reset_token,
        email_token=email_change.token,
        emails={actor: user.email for actor, user in people.items()},
        tokens=tokens,
        own_token_ids=own_token_ids,
        call_id=drawn_call.id,
        attachment_id=attachment.id,
        reported_proposal_id=reported.id,
        report_id=report.id,
    )


def _url(rule: str, world: World, actor: str) -> str:
    values: dict[str, Any] = {
        "circle_id": world.circle_id,
        "round_id": world.round_id,
        "proposal_id": world.proposal_id,
        "comment_id": world.comment_id,
        "consent_round_id": world.consent_round_id,
        "user_id": world.member_user_id,
        "payout_id": world.payout_id,
        "secret": world.webhook_secret,
        "token": world.invitation_token,
        "invitation_id": world.invitation_id,
        "join_request_id": world.join_request_id,
        "reset_token": world.reset_token,
        "email_token": world.email_token,
        "token_id": world.own_token_ids.get(actor, 1),
        "filename": "css/app.css",
        "call_id": world.call_id,
        "attachment_id": world.attachment_id,
        "owner_kind": "proposal",
        "owner_id": world.proposal_id,
        "report_id": world.report_id,
        "kind": "final",
    }
    if "/report" in rule and "proposal_id" in rule:
        values["proposal_id"] = world.reported_proposal_id  # the proposal that owes a report
    return url_for_rule(rule, values)


def _request(client: Client, method: str, url: str, token: str | None) -> Any:
    if url.startswith("/api/"):
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        return client.json_call(method, url, body, token=token)
    if method == "GET":
        return client.get(url)
    return client.post_form(url, {})


OWN_INVITATION_ONLY = {
    "circles.accept_mine",
    "circles.decline_mine",
    "circles_api.accept_my_invitation",
    "circles_api.decline_my_invitation",
}
EMAIL_CHANGE_OWNER_ONLY = {"auth.confirm_email", "auth_api.confirm_email_change"}


def _expected_denial(policy: Policy, actor: str, endpoint: str, method: str) -> str | None:
    """None if the actor may use the route; otherwise "login", "forbidden" or "not_found"."""
    if endpoint in ("circles.invitation", "circles_api.accept_invitation") and method == "POST" and actor != "visitor":
        return "forbidden"  # the sample invitation is for newcomer@example.org, whom nobody here is signed in as
    if endpoint in OWN_INVITATION_ONLY and actor != "visitor":
        return "not_found"  # the same invitation, answered by id: another person's invitation is not there for them
    if endpoint in EMAIL_CHANGE_OWNER_ONLY and actor not in ("visitor", "member"):
        if method == "POST" and ACTORS.index(actor) > ACTORS.index("member"):
            return "not_found"  # the member, its owner, has used the one-time link by now
        return "forbidden"  # the sample address change is the member's
    if endpoint in AUTHOR_ONLY and actor in ("circle", "treasurer", "admin"):
        return "forbidden"  # the sample proposal and comment are the member's
    if policy.kind == "public":
        return None
    if actor == "visitor":
        return "login"
    if policy.kind == "signed_in":
        return None
    if policy.kind == "superuser":
        return None if actor == "superuser" else "forbidden"
    # circle A is private: people outside it learn nothing, not even that it exists
    if actor in ("outsider", "other_admin", "superuser"):
        return "not_found"
    roles = ROLES_OF.get(actor, {"member", "admin"} if actor == "admin" else set())
    if policy.roles and not (policy.roles & roles):
        return "forbidden"
    return None


def _denial_of(response: Any, is_api: bool) -> str | None:
    status = response.status_code
    if is_api and status == 401:
        return "login"
    location = response.headers.get("Location", "")
    if not is_api and status == 302 and "/login" in location and "next=" in location:
        return "login"
    return {403: "forbidden", 404: "not_found"}.get(status)


@pytest.mark.parametrize(("endpoint", "rule", "method"), ROUTES, ids=[f"{m} {r}" for _, r, m in ROUTES])
def test_route_refuses_everyone_its_policy_excludes(app: Flask, endpoint: str, rule: str, method: str) -> None:
    with app.app_context():
        world = _build_world()
    policy = _policy(app, endpoint)
    assert policy is not None
    is_api = rule.startswith("/api/")
    outcomes = {}
    for actor in ACTORS:  # admin last: an allowed POST may change the world
        client: Client = app.test_client()  # type: ignore[assignment]
        token = None
        if actor != "visitor":
            if is_api:
                token = world.tokens[actor]
            else:
                client.login(world.emails[actor])
        response = _request(client, method, _url(rule, world, actor), token)
        assert response.status_code < 500, f"{actor}: {method} {rule} gave {response.status_code}"
        expected = _expected_denial(policy, actor, endpoint, method)
        got = _denial_of(response, is_api)
        if endpoint == "auth.revoke_token" and got == "not_found" and expected is None:
            got = None  # the token belongs to somebody else's sample; ownership has its own test
        if endpoint == "auth.totp_qr" and got == "not_found" and expected is None:
            got = None  # nobody here is setting up an authenticator app; tests/http/test_setup_and_api.py shows it
        outcomes[actor] = (expected, got, response.status_code)
        response.close()
    wrong = {actor: o for actor, o in outcomes.items() if o[0] != o[1]}
    assert not wrong, f"{method} {rule} ({policy.describe()}): actor -> (expected, got, status): {wrong}"


def test_visitors_see_a_public_circle_but_not_its_members_or_rounds(app: Flask) -> None:
    with app.app_context():
        admin = make_user(name="Public Admin")
        circle = make_circle(admin, public=True, name="Open Fund")
        round_ = make_round(circle, admin, title="Open round")
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        circle_id, round_id = circle.id, round_.id
    visitor: Client = app.test_client()  # type: ignore[assignment]
    page = visitor.get(f"/circles/{circle_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Open Fund" in text and "Open round" in text
    assert "Public Admin" not in text  # the member list is for members
    assert visitor.get(f"/rounds/{round_id}").status_code == 302
    api = visitor.json_call("GET", f"/api/v1/circles/{circle_id}")
    assert api.status_code == 200 and api.get_json()["my_roles"] == []


def test_a_draft_round_is_not_listed_to_visitors_of_a_public_circle(app: Flask) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin, public=True)
        make_round(circle, admin, title="Secret draft")
        circle_id = circle.id
    visitor: Client = app.test_client()  # type: ignore[assignment]
    assert "Secret draft" not in visitor.get(f"/circles/{circle_id}").get_data(as_text=True)


def test_nobody_can_revoke_another_persons_token(app: Flask) -> None:
    with app.app_context():
        owner, other = make_user(), make_user()
        make_token(owner, "owner's script")
        from fundcircle.auth.models import ApiToken

        token_id = db.session.scalars(db.select(ApiToken.id).where(ApiToken.user_id == owner.id)).one()
        other_email = other.email
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(other_email)
    assert client.post_form(f"/profile/tokens/{token_id}/revoke").status_code == 404
    with app.app_context():
        from fundcircle.auth.models import ApiToken

        assert db.session.get(ApiToken, token_id).revoked_at is None
