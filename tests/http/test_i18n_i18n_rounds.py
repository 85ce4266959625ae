"""The rounds' and consent's pages in Spanish and German: each page renders in the reader's language and says so on
<html> (the words themselves are checked once the catalogues are merged), and a round's amounts are typed the way
the reader writes numbers."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.consent.services import open_consent_round
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

ROUND_FORM = {
    "title": "Herbstförderung",
    "description": "",
    "method": "quadratic",
    "allocation_rule": "greedy",
    "credits": "100",
    "quorum_percent": "50",
    "consent_rules": "sociocratic",
    "categories": "",
    "max_proposals_per_member": "2",
    "remind_before_hours": "24",
}


def _reader(app: Flask, language: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return client


NO_DEADLINES = {"proposals_close_at": None, "deliberation_close_at": None, "deciding_close_at": None}


def _consent_round_world(app: Flask, *, deadlines: bool) -> dict[str, int | str]:
    """A consent round in deciding, with a proposal and one consent round open; a draft round beside it."""
    settings = {} if deadlines else NO_DEADLINES
    with app.app_context():
        ana = make_user(name="Ana Admin")
        circle = make_circle(ana, name="Lernkreis")
        bea = make_user(name="Bea Circle")
        add_member(circle, bea, ["member", "circle"], by=ana)
        draft = make_round(circle, ana, title="Entwurfsrunde", **settings)
        round_ = make_round(circle, ana, title="Sommerfonds", method="consent", categories=[], **settings)
        advance_round(ana, round_, "proposals", utcnow())
        db.session.commit()
        proposal = make_proposal(round_, bea, title="Werkzeugbibliothek", amount_minor=20_000, category=None)
        round_ = db.session.get(Round, round_.id)
        assert round_ is not None
        advance_round(ana, round_, "deliberation", utcnow())
        advance_round(ana, round_, "deciding", utcnow())
        consent_round = open_consent_round(ana, proposal, utcnow())
        db.session.commit()
        return {
            "email": ana.email,
            "circle": circle.id,
            "draft": draft.id,
            "round": round_.id,
            "proposal": proposal.id,
            "consent_round": consent_round.id,
        }


DEADLINES_SHOWN = pytest.param(True, id="with-deadlines")


@pytest.mark.parametrize("deadlines", [pytest.param(False, id="without-deadlines"), DEADLINES_SHOWN])
@pytest.mark.parametrize("language", ["de", "es"])
def test_the_round_and_consent_pages_render_in_the_readers_language(app: Flask, language: str, deadlines: bool) -> None:
    world = _consent_round_world(app, deadlines=deadlines)
    reader = _reader(app, language)
    reader.login(str(world["email"]))
    pages = [
        f"/circles/{world['circle']}/rounds/new",
        f"/rounds/{world['draft']}",
        f"/rounds/{world['draft']}/edit",
        f"/rounds/{world['draft']}/advance?to=proposals",
        f"/rounds/{world['draft']}/advance?to=cancelled",
        f"/rounds/{world['round']}",
        f"/rounds/{world['round']}/advance?to=decided",
        f"/rounds/{world['round']}/retrospective",
        f"/consent-rounds/{world['consent_round']}",
    ]
    for url in pages:
        response = reader.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, (url, page[:500])
        assert f'<html lang="{language}"' in page, url


def test_a_german_reader_types_the_budget_the_german_way(app: Flask) -> None:
    with app.app_context():
        ana = make_user(name="Ana Admin")
        circle_id, email = make_circle(ana).id, ana.email
    reader = _reader(app, "de")
    reader.login(email)
    created = reader.post_form(
        f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "budget": "1.000,00", "per_proposal_cap": "400,00"}
    )
    assert created.status_code == 302, created.get_data(as_text=True)
    with app.app_context():
        round_ = db.session.scalars(select(Round)).one()
        assert (round_.budget_minor, round_.per_proposal_cap_minor) == (100_000, 40_000)
        round_id = round_.id
    # The settings form shows the amounts back as a German reader writes them.
    edit = reader.get(f"/rounds/{round_id}/edit").get_data(as_text=True)
    assert 'value="1.000,00"' in edit and 'value="400,00"' in edit

    # "1,000" is a thousand to an English reader and one to a German one: refused on the field, nothing guessed.
    refused = reader.post_form(
        f"/circles/{circle_id}/rounds/new", {**ROUND_FORM, "budget": "1,000", "per_proposal_cap": "400,00"}
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    error = re.search(r'<p class="error" id="budget-error">(.*?)</p>', page, re.S)
    assert error is not None and error.group(1).strip()
    with app.app_context():
        assert len(db.session.scalars(select(Round)).all()) == 1
