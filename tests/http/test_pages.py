"""The pages an admin and a member use: circles, members and roles, rounds and their phases."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle, Invitation, Membership
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.rounds.models import Round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_round, make_user


def _ledger_actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.id)))


def _count(app: Flask, model: type) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def _signed_in_admin(app: Flask, client: Client, **circle: object) -> tuple[int, int]:
    with app.app_context():
        admin = make_user(name="Ana")
        made = make_circle(admin, **circle)
        email, ids = admin.email, (made.id, admin.id)
    client.login(email)
    return ids


def test_a_superuser_sets_up_a_circle_and_becomes_its_admin(app: Flask, client: Client) -> None:
    with app.app_context():
        email = make_user(superuser=True).email
    client.login(email)
    response = client.post_form(
        "/circles/new", {"name": "Mutual Aid Fund", "slug": "mutual-aid", "currency": "GBP", "description": "Help."}
    )
    assert response.status_code == 302
    with app.app_context():
        circle = db.session.scalars(select(Circle)).one()
        assert (circle.slug, circle.currency, circle.public) == ("mutual-aid", "GBP", False)
        membership = db.session.scalars(select(Membership)).one()
        assert membership.roles == {"member", "admin"}
    assert _ledger_actions(app)[-2:] == ["circle.created", "member.added"]
    assert "Mutual Aid Fund" in client.get("/").get_data(as_text=True)


def test_a_taken_circle_address_is_refused_next_to_the_field_keeping_the_input(app: Flask, client: Client) -> None:
    with app.app_context():
        make_circle(slug="taken")
        email = make_user(superuser=True).email
    client.login(email)
    before = _ledger_actions(app)
    response = client.post_form("/circles/new", {"name": "Second", "slug": "taken", "currency": "EUR"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert 'id="slug-error"' in page and "Another circle uses this address" in page and 'value="Second"' in page
    assert _ledger_actions(app) == before
    bad = client.post_form("/circles/new", {"name": "Third", "slug": "Not A Slug!", "currency": "XXX"})
    assert bad.status_code == 400
    assert 'id="slug-error"' in bad.get_data(as_text=True) and 'id="currency-error"' in bad.get_data(as_text=True)


def test_only_a_superuser_can_set_up_circles(app: Flask, client: Client) -> None:
    client.login(_user_email(app))
    assert client.get("/circles/new").status_code == 403
    assert client.post_form("/circles/new", {"name": "X", "slug": "x", "currency": "EUR"}).status_code == 403
    assert _count(app, Circle) == 0


def _user_email(app: Flask, **kwargs: object) -> str:
    with app.app_context():
        return make_user(**kwargs).email  # type: ignore[arg-type]


def test_an_admin_invites_a_newcomer_and_gets_a_one_time_link(app: Flask, client: Client) -> None:
    circle_id, _ = _signed_in_admin(app, client)
    response = client.post_form(f"/circles/{circle_id}/members", {"email": "New@Example.org", "roles": ["member"]})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Invitation link" in page
    assert "http://localhost/invitations/" in page
    assert _ledger_actions(app)[-1] == "invitation.created"
    with app.app_context():
        entry = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
        assert entry is not None and "new@example.org" not in str(entry.data)  # no addresses in a circle's ledger


def test_an_admin_inviting_an_address_with_an_account_gets_the_same_answer_and_the_person_accepts(
    app: Flask, client: Client
) -> None:
    circle_id, _ = _signed_in_admin(app, client)
    email = _user_email(app, name="Kofi")
    with_account = client.post_form(f"/circles/{circle_id}/members", {"email": email, "roles": ["member", "treasurer"]})
    without = client.post_form(f"/circles/{circle_id}/members", {"email": "nobody@example.org", "roles": ["member"]})
    for response, address in ((with_account, email), (without, "nobody@example.org")):
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and f"Invitation made for {address}" in page and "Invitation link" in page
        assert "Kofi" not in page and "is now a member" not in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Membership)) == 1  # only the admin

    person: Client = app.test_client()  # type: ignore[assignment]
    person.login(email)
    home = person.get("/").get_data(as_text=True)
    assert "Invitations for you" in home and "Treasurer (approves payouts)" in home
    with app.app_context():
        invitation_id = db.session.scalars(select(Invitation.id).where(Invitation.email == email)).one()
    joined = person.post_form(f"/my-invitations/{invitation_id}/accept")
    assert joined.status_code == 302 and joined.headers["Location"] == f"/circles/{circle_id}"
    with app.app_context():
        membership = db.session.scalar(select(Membership).join(User).where(User.email == email))
        assert membership is not None and membership.roles == {"member", "treasurer"}
    assert "Invitations for you" not in person.get("/").get_data(as_text=True)
    again = client.post_form(f"/circles/{circle_id}/members", {"email": email, "roles": ["member"]})
    assert again.status_code == 409 and "change their roles instead" in again.get_data(as_text=True)
    assert _ledger_actions(app)[-1] == "member.joined"


def test_an_invitation_needs_a_valid_address_and_a_known_role(app: Flask, client: Client) -> None:
    circle_id, _ = _signed_in_admin(app, client)
    bad_email = client.post_form(f"/circles/{circle_id}/members", {"email": "not an address", "roles": ["member"]})
    assert bad_email.status_code == 422 and 'id="email-error"' in bad_email.get_data(as_text=True)
    bad_role = client.post_form(f"/circles/{circle_id}/members", {"email": "a@example.org", "roles": ["owner"]})
    assert bad_role.status_code == 400 and 'id="roles-error"' in bad_role.get_data(as_text=True)
    no_role = client.post_form(f"/circles/{circle_id}/members", {"email": "a@example.org"})
    assert no_role.status_code == 422 and "Choose at least one role" in no_role.get_data(as_text=True)


def test_an_admin_changes_roles_and_removes_a_member(app: Flask, client: Client) -> None:
    circle_id, admin_id = _signed_in_admin(app, client)
    with app.app_context():
        admin = db.session.get(User, admin_id)
        person = make_user(name="Lea")
        add_member(db.session.get(Circle, circle_id), person, ["member"], by=admin)
        person_id = person.id
    client.post_form(f"/circles/{circle_id}/members/{person_id}/roles", {"roles": ["member", "circle"]})
    with app.app_context():
        membership = db.session.scalar(select(Membership).where(Membership.user_id == person_id))
        assert membership is not None and membership.roles == {"member", "circle"}
    client.post_form(f"/circles/{circle_id}/members/{person_id}/roles", {})
    with app.app_context():
        assert db.session.scalar(select(Membership).where(Membership.user_id == person_id)) is None
    assert _ledger_actions(app)[-2:] == ["member.roles_changed", "member.removed"]


def test_the_last_admin_cannot_step_down(app: Flask, client: Client) -> None:
    circle_id, admin_id = _signed_in_admin(app, client)
    response = client.post_form(
        f"/circles/{circle_id}/members/{admin_id}/roles", {"roles": ["member"]}, follow_redirects=True
    )
    assert "A circle needs at least one admin" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Membership).where(Membership.user_id == admin_id)).roles == {"member", "admin"}


def test_an_admin_cannot_make_themselves_treasurer(app: Flask, client: Client) -> None:
    circle_id, admin_id = _signed_in_admin(app, client)
    with app.app_context():
        other = make_user(name="Bo")
        add_member(db.session.get(Circle, circle_id), other, ["member", "admin"], by=db.session.get(User, admin_id))
    before = _ledger_actions(app)
    response = client.post_form(
        f"/circles/{circle_id}/members/{admin_id}/roles",
        {"roles": ["member", "treasurer", "admin"]},
        follow_redirects=True,
    )
    assert "You cannot change your own roles: ask another admin of the circle" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Membership).where(Membership.user_id == admin_id)).roles == {"member", "admin"}
    assert _ledger_actions(app) == before


def test_circle_settings_changes_are_saved_and_recorded(app: Flask, client: Client) -> None:
    circle_id, _ = _signed_in_admin(app, client, name="Old name")
    response = client.post_form(
        f"/circles/{circle_id}/settings",
        {"name": "New name", "description": "", "public": "y", "approvals_required": "1"},
    )
    assert response.status_code == 302
    with app.app_context():
        circle = db.session.get(Circle, circle_id)
        assert circle is not None and (circle.name, circle.public) == ("New name", True)
        entry = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
        assert entry is not None and entry.action == "circle.settings_changed"
        assert entry.data["changes"]["name"] == {"from": "Old name", "to": "New name"}
    empty = client.post_form(
        f"/circles/{circle_id}/settings", {"name": "", "description": "", "approvals_required": "1"}
    )
    assert empty.status_code == 400 and 'id="name-error"' in empty.get_data(as_text=True)


def test_the_circle_sets_how_many_treasurers_approve_a_payout(app: Flask, client: Client) -> None:
    circle_id, _ = _signed_in_admin(app, client, name="Fund")
    form = {"name": "Fund", "description": "", "approvals_required": "2", "two_approvals_from": "1,000.50"}
    assert client.post_form(f"/circles/{circle_id}/settings", form).status_code == 302
    with app.app_context():
        circle = db.session.get(Circle, circle_id)
        assert circle is not None and (circle.approvals_required, circle.two_approvals_from_minor) == (2, 100_050)
        assert circle.approvals_needed(100_049) == 2 and circle.approvals_needed(100_050) == 2
        entry = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
        assert entry is not None and set(entry.data["changes"]) == {"approvals_required", "two_approvals_from_minor"}
    page = client.get(f"/circles/{circle_id}/settings").get_data(as_text=True)
    assert 'value="1000.50"' in page or 'value="1,000.50"' in page
    for bad, field in (({"approvals_required": "0"}, "approvals_required"), ({"two_approvals_from": "12,50"},
                       "two_approvals_from"), ({"two_approvals_from": "0"}, "two_approvals_from")):  # fmt: skip
        response = client.post_form(f"/circles/{circle_id}/settings", {**form, **bad})
        assert response.status_code in (400, 422) and f'id="{field}-error"' in response.get_data(as_text=True)
    with app.app_context():
        circle = db.session.get(Circle, circle_id)
        assert circle is not None and (circle.approvals_required, circle.two_approvals_from_minor) == (2, 100_050)
    form["approvals_required"], form["two_approvals_from"] = "1", ""
    assert client.post_form(f"/circles/{circle_id}/settings", form).status_code == 302
    with app.app_context():
        circle = db.session.get(Circle, circle_id)
        assert circle is not None and (circle.approvals_required, circle.two_approvals_from_minor) == (1, None)
        assert circle.approvals_needed(10**9) == 1


ROUND_FORM = {
    "title": "Autumn grants",
    "description": "",
    "budget": "1,000.00",
    "per_proposal_cap": "400",
    "method": "quadratic",
    "credits": "100",
    "quorum_percent": "50",
    "consent_rules": "sociocratic",
    "categories": "Learning\nTools\n",
    "max_proposals_per_member": "2",
    "proposals_close_at": "2030-01-10T12:00",
    "deliberation_close_at": "2030-01-17T12:00",
    "deciding_close_at": "2030-01-24T12:00",
}


def test_an_admin_creates_a_round_with_money_typed_in_major_units(app: Flask, client: Client) -> None:
    circle_id, _ = _signed_in_admin(app, client)
    response = client.post_form(f"/circles/{circle_id}/rounds/new", ROUND_FORM)
    assert response.status_code == 302
    with app.app_context():
        round_ = db.session.scalars(select(Round)).one()
        assert (round_.budget_minor, round_.per_proposal_cap_minor, round_.currency) == (100_000, 40_000, "EUR")
        assert round_.categories == ["Learning", "Tools"] and round_.phase == "draft"
        assert (
            round_.proposals_close_at is not None
            and round_.proposals_close_at.isoformat() == "2030-01-10T12:00:00+00:00"
        )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1,000.00 EUR" in page and "400.00 EUR" in page and 'aria-current="step"' in page
    assert _ledger_actions(app)[-1] == "round.created"


def test_round_errors_point_at_the_field_and_keep_the_input(app: Flask, client: Client) -> None:
    circle_id, _ = _signed_in_admin(app, client)
    response = client.post_form(
        f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "budget": "12.345", "per_proposal_cap": "lots"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="budget-error"' in page and "EUR has 2 decimals at most" in page
    assert 'id="per_proposal_cap-error"' in page and 'value="Autumn grants"' in page
    over_cap = client.post_form(f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "per_proposal_cap": "2000"})
    assert over_cap.status_code == 422 and "cannot be more than the budget" in over_cap.get_data(as_text=True)
    backwards = client.post_form(
        f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "deliberation_close_at": "2029-01-01T00:00"}
    )
    assert backwards.status_code == 422 and 'id="deliberation_close_at-error"' in backwards.get_data(as_text=True)
    assert _count(app, Round) == 0


def test_an_admin_moves_a_round_through_its_phases_one_at_a_time(app: Flask, client: Client) -> None:
    circle_id, admin_id = _signed_in_admin(app, client)
    with app.app_context():
        round_id = make_round(db.session.get(Circle, circle_id), db.session.get(User, admin_id)).id
    page = client.get(f"/rounds/{round_id}").get_data(as_text=True)
    assert "Move on to: Open for proposals" in page and "Cancel the round" in page
    client.post_form(f"/rounds/{round_id}/advance", {"to": "proposals"})
    skipped = client.post_form(f"/rounds/{round_id}/advance", {"to": "decided"}, follow_redirects=True)
    assert "can move to deliberation or cancelled, not to decided" in skipped.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Round, round_id).phase == "proposals"
        entry = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
        assert entry is not None and entry.action == "round.phase_changed"
        assert entry.data == {"from": "draft", "to": "proposals", "by": "admin"}


def test_open_rounds_keep_their_money_settings(app: Flask, client: Client) -> None:
    circle_id, admin_id = _signed_in_admin(app, client)
    with app.app_context():
        round_id = make_round(db.session.get(Circle, circle_id), db.session.get(User, admin_id)).id
    client.post_form(f"/rounds/{round_id}/advance", {"to": "proposals"})
    form = client.get(f"/rounds/{round_id}/edit").get_data(as_text=True)
    assert 'value="1000.00"' in form
    response = client.post_form(f"/rounds/{round_id}/edit", {**ROUND_FORM, "budget": "2000"})
    assert response.status_code == 422
    assert "fixed once the round is open" in response.get_data(as_text=True)
    ok = client.post_form(
        f"/rounds/{round_id}/edit",
        {
            **ROUND_FORM,
            "budget": "1000",
            "per_proposal_cap": "400",
            "max_proposals_per_member": "3",
            "title": "Renamed",
        },
    )
    assert ok.status_code == 302
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None and (round_.title, round_.budget_minor) == ("Renamed", 100_000)


def test_home_shows_my_circles_and_their_rounds_under_way(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin, name="Garden Fund")
        member = make_user()
        add_member(circle, member, ["member"], by=admin)
        make_round(circle, admin, title="Draft round")
        email = member.email
    client.login(email)
    page = client.get("/").get_data(as_text=True)
    assert "Garden Fund" in page and "Draft round" not in page  # drafts are for admins


def test_unknown_ids_give_a_404_page(app: Flask, client: Client) -> None:
    client.login(_user_email(app))
    for url in ("/circles/999999", "/rounds/999999", "/no-such-page"):
        response = client.get(url)
        assert response.status_code == 404 and "Not found" in response.get_data(as_text=True)
