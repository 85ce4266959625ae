"""Learning reports on the pages and in the API: the authors write the report of a paid proposal, it shows on the
proposal and on "What we learned" (searchable); nobody else writes it; an empty report is refused and stores
nothing; a public circle's reports are read by visitors, a private circle's by its members only."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.learning.models import LearningReport
from tests.conftest import Client
from tests.factories import make_token
from tests.services.test_learning_reports import People, funded, pay


@dataclass
class World:
    circle_id: int
    proposal_id: int
    tokens: dict[str, str]


def _world(app: Flask, *, public: bool = False) -> World:
    with app.app_context():
        people = People(public=public)
        shed = funded(people)
        pay(shed, utcnow())
        tokens = {"aurora": make_token(people.author), "mia": make_token(people.mia)}
        return World(people.circle.id, shed.id, tokens)


@pytest.fixture
def world(app: Flask) -> World:
    return _world(app)


def _signed_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _reports(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LearningReport)) or 0


ANSWERS = {"answer_0": "We built the shed with **nine** volunteers.", "answer_1": "A rota keeps people coming.",
           "answer_2": "", "answer_3": "The cutting list is on the wiki."}  # fmt: skip


def test_the_author_writes_the_report_and_it_shows_on_the_proposal_and_what_we_learned(
    app: Flask, world: World
) -> None:
    aurora = _signed_in(app, "aurora@example.org")
    form = aurora.get(f"/proposals/{world.proposal_id}/report/final")
    assert form.status_code == 200 and "What happened" in form.text
    sent = aurora.post_form(f"/proposals/{world.proposal_id}/report/final", ANSWERS)
    assert sent.status_code == 302 and sent.headers["Location"].endswith("#report")
    proposal_page = aurora.get(f"/proposals/{world.proposal_id}").text
    assert "<strong>nine</strong> volunteers" in proposal_page
    mia = _signed_in(app, "mia@example.org")
    learned = mia.get(f"/circles/{world.circle_id}/learned").text
    assert "A rota keeps people coming." in learned
    assert "A rota" in mia.get(f"/circles/{world.circle_id}/learned?q=ROTA").text
    assert "No report mentions" in mia.get(f"/circles/{world.circle_id}/learned?q=bicycle").text


def test_a_member_who_does_not_author_it_cannot_write_it(app: Flask, world: World) -> None:
    mia = _signed_in(app, "mia@example.org")
    assert mia.get(f"/proposals/{world.proposal_id}/report/final").status_code == 403
    assert mia.post_form(f"/proposals/{world.proposal_id}/report/final", ANSWERS).status_code == 403
    headers = {"Authorization": f"Bearer {world.tokens['mia']}", "Content-Type": "application/json"}
    refused = mia.put(f"/api/v1/proposals/{world.proposal_id}/reports/final",
                      data=json.dumps({"answers": list(ANSWERS.values())}), headers=headers)  # fmt: skip
    assert refused.status_code == 403 and refused.get_json()["error"]["code"]
    assert _reports(app) == 0


def test_an_empty_report_is_refused_with_a_message_and_nothing_is_stored(app: Flask, world: World) -> None:
    aurora = _signed_in(app, "aurora@example.org")
    empty = {name: "  " for name in ANSWERS}
    refused = aurora.post_form(f"/proposals/{world.proposal_id}/report/final", empty)
    assert 400 <= refused.status_code < 500 and 'role="alert"' in refused.text
    assert _reports(app) == 0


def test_an_unknown_kind_of_report_is_not_found(app: Flask, world: World) -> None:
    aurora = _signed_in(app, "aurora@example.org")
    assert aurora.get(f"/proposals/{world.proposal_id}/report/weekly").status_code == 404


def test_the_api_writes_the_report_with_the_same_rules(app: Flask, world: World) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['aurora']}", "Content-Type": "application/json"}
    client = app.test_client()
    written = client.put(f"/api/v1/proposals/{world.proposal_id}/reports/final",
                         data=json.dumps({"answers": list(ANSWERS.values())}), headers=headers)  # fmt: skip
    assert written.status_code == 200, written.get_data(as_text=True)
    listed = client.get(f"/api/v1/circles/{world.circle_id}/reports", headers=headers).get_json()
    assert "A rota keeps people coming." in json.dumps(listed)


def test_a_private_circle_s_reports_are_for_its_members_a_public_one_s_for_everyone(app: Flask, world: World) -> None:
    aurora = _signed_in(app, "aurora@example.org")
    aurora.post_form(f"/proposals/{world.proposal_id}/report/final", ANSWERS)
    visitor = app.test_client()
    assert visitor.get(f"/circles/{world.circle_id}/learned").status_code in (302, 403, 404)
    outsider = _signed_in(app, "olaf@example.org")
    assert outsider.get(f"/circles/{world.circle_id}/learned").status_code in (403, 404)


def test_a_public_circle_s_reports_are_read_by_visitors(app: Flask) -> None:
    world = _world(app, public=True)
    aurora = _signed_in(app, "aurora@example.org")
    aurora.post_form(f"/proposals/{world.proposal_id}/report/final", ANSWERS)
    visitor = app.test_client()
    learned = visitor.get(f"/circles/{world.circle_id}/learned")
    assert learned.status_code == 200 and "A rota keeps people coming." in learned.text
