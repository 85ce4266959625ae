"""The new-round and round-settings form through the test client: every mistake shows on the first submit (the
form's own checks and the round's rules across fields together), each method's settings are marked as its own
and another method's are ignored, and the page loads its script from the app."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from fundcircle.extensions import db
from fundcircle.rounds.models import Round
from tests.conftest import Client
from tests.factories import make_circle, make_user

ROUND_FORM = {
    "title": "Autumn grants",
    "description": "",
    "budget": "1000.00",
    "per_proposal_cap": "400",
    "method": "quadratic",
    "allocation_rule": "greedy",
    "credits": "100",
    "quorum_percent": "50",
    "consent_rules": "sociocratic",
    "categories": "",
    "max_proposals_per_member": "2",
    "remind_before_hours": "24",
}


def _admin(app: Flask, client: Client) -> int:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle_id, email = make_circle(admin).id, admin.email
    client.login(email)
    return circle_id


def _error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1).strip() if found else ""


def test_every_mistake_shows_on_the_first_submit(app: Flask, client: Client) -> None:
    circle_id = _admin(app, client)
    response = client.post_form(
        f"/circles/{circle_id}/rounds/new",
        {**ROUND_FORM, "title": "", "budget": "100", "per_proposal_cap": "250", "quorum_percent": "120",
         "deliberation_close_at": "2030-01-01T00:00", "proposals_close_at": "2030-02-01T00:00"},
    )  # fmt: skip
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    # The form's own checks (title, quorum) and the round's rules across fields (cap, deadlines), together.
    assert _error_of(page, "title") == "Enter a title."
    assert "between 0 and 100" in _error_of(page, "quorum_percent")
    assert "cannot be more than the budget" in _error_of(page, "per_proposal_cap")
    assert _error_of(page, "deliberation_close_at").startswith("Must be after the end of")
    assert 'value="250"' in page  # the input stays as typed
    with app.app_context():
        assert db.session.scalars(select(Round)).all() == []


def test_a_cap_above_the_budget_and_an_amount_that_is_not_a_number_show_together(app: Flask, client: Client) -> None:
    circle_id = _admin(app, client)
    response = client.post_form(
        f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "budget": "100", "per_proposal_cap": "250", "credits": "x"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "cannot be more than the budget" in _error_of(page, "per_proposal_cap") and _error_of(page, "credits")
    only_rules = client.post_form(
        f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "budget": "12.345", "per_proposal_cap": "lots"}
    )
    assert only_rules.status_code == 422
    text = only_rules.get_data(as_text=True)
    assert "EUR has 2 decimals at most" in _error_of(text, "budget") and _error_of(text, "per_proposal_cap")


def test_each_fieldset_says_which_method_it_is_for_and_the_page_loads_its_script(app: Flask, client: Client) -> None:
    circle_id = _admin(app, client)
    page = client.get(f"/circles/{circle_id}/rounds/new").get_data(as_text=True)
    assert "Voting settings (for quadratic, approval and cumulative voting only)" in page
    assert "Consent settings (for consent rounds only)" in page
    assert 'data-methods="consent"' in page and 'data-methods="quadratic approval cumulative"' in page
    assert "/static/js/round_form.js" in page
    script = client.get("/static/js/round_form.js")
    script.close()
    assert script.status_code == 200


def test_a_consent_round_ignores_the_voting_settings_sent(app: Flask, client: Client) -> None:
    circle_id = _admin(app, client)
    response = client.post_form(
        f"/circles/{circle_id}/rounds/new",
        {**ROUND_FORM, "method": "consent", "credits": "not a number", "allocation_rule": "lottery",
         "allow_negative": "y", "secret_ballot": "y", "max_approvals": "0", "consent_rules": "consensus"},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        round_ = db.session.scalars(select(Round)).one()
        assert (round_.method, round_.consent_rules) == ("consent", "consensus")
        assert (round_.credits, round_.allocation_rule, round_.allow_negative, round_.secret_ballot) == (
            100,
            "greedy",
            False,
            False,
        )


def test_a_voting_round_ignores_the_consent_settings_and_an_edit_keeps_them(app: Flask, client: Client) -> None:
    circle_id = _admin(app, client)
    created = client.post_form(
        f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "consent_rules": "no such rules", "credits": "49"}
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    with app.app_context():
        round_ = db.session.scalars(select(Round)).one()
        assert (round_.consent_rules, round_.credits) == ("sociocratic", 49)
        round_.consent_rules = "consensus"  # as an earlier consent setting left it
        db.session.commit()
        round_id = round_.id
    edited = client.post_form(
        f"/rounds/{round_id}/edit", {**ROUND_FORM, "title": "Autumn grants 2", "consent_rules": "sociocratic"}
    )
    assert edited.status_code == 302
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None and (round_.title, round_.consent_rules, round_.credits) == (
            "Autumn grants 2",
            "consensus",
            100,
        )


def test_the_edit_form_also_shows_every_mistake_at_once(app: Flask, client: Client) -> None:
    circle_id = _admin(app, client)
    assert client.post_form(f"/circles/{circle_id}/rounds/new", ROUND_FORM).status_code == 302
    with app.app_context():
        round_id = db.session.scalars(select(Round.id)).one()
    response = client.post_form(
        f"/rounds/{round_id}/edit", {**ROUND_FORM, "title": "", "budget": "100", "per_proposal_cap": "250"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert _error_of(page, "title") and "cannot be more than the budget" in _error_of(page, "per_proposal_cap")
