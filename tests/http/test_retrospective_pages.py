"""The round retrospective on the pages: a closed round's page shows the form to its members and then the summary;
anonymous answers show no name; people outside the circle get nothing; bad input says why and stores nothing; the
next round's form shows what the circle said."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.models import RetrospectiveAnswer
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_round, make_token, make_user


@dataclass
class World:
    circle_id: int
    round_id: int
    open_round_id: int
    tokens: dict[str, str]


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        admin = make_user(name="Ana", email="ana@example.org")
        circle = make_circle(admin)
        add_member(circle, make_user(name="Bo", email="bo@example.org"), ["member"], by=admin)
        add_member(circle, make_user(name="Cy", email="cy@example.org"), ["circle"], by=admin)
        make_user(name="Out", email="out@example.org")
        round_ = make_round(circle, admin, title="Spring")
        for phase in ("proposals", "deliberation", "deciding", "decided", "closed"):
            advance_round(admin, round_, phase, utcnow())
        still_open = make_round(circle, admin, title="Summer draft")
        db.session.commit()
        return World(circle.id, round_.id, still_open.id, {"ana": make_token(admin)})


def _signed_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _answers(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RetrospectiveAnswer)) or 0


ANSWER = {"worked": "The open questions", "change": "Longer deliberation", "fairness": "4", "effort": "3"}


def test_a_member_answers_on_the_round_page_and_sees_the_summary(app: Flask, world: World) -> None:
    bo = _signed_in(app, "bo@example.org")
    page = bo.get(f"/rounds/{world.round_id}").get_data(as_text=True)
    assert "Retrospective" in page and "Send your answer" in page and "Nobody has answered" in page
    response = bo.post_form(f"/rounds/{world.round_id}/retrospective", ANSWER)
    assert response.status_code == 302
    page = bo.get(f"/rounds/{world.round_id}").get_data(as_text=True)
    assert "1 answer." in page and "4.0 out of 5" in page
    assert "The open questions" in page and "· Bo" in page
    assert "Change your answer" in page


def test_an_anonymous_answer_shows_no_name(app: Flask, world: World) -> None:
    bo = _signed_in(app, "bo@example.org")
    bo.post_form(f"/rounds/{world.round_id}/retrospective", {**ANSWER, "anonymous": "y"})
    cy = _signed_in(app, "cy@example.org")
    page = cy.get(f"/rounds/{world.round_id}/retrospective").get_data(as_text=True)
    assert "The open questions" in page and "· anonymous" in page and "· Bo" not in page
    with app.app_context():
        row = db.session.scalars(select(RetrospectiveAnswer)).one()
        assert row.user_id is None


def test_answering_twice_changes_the_one_answer(app: Flask, world: World) -> None:
    bo = _signed_in(app, "bo@example.org")
    bo.post_form(f"/rounds/{world.round_id}/retrospective", {**ANSWER, "anonymous": "y"})
    bo.post_form(f"/rounds/{world.round_id}/retrospective", {**ANSWER, "worked": "Second thoughts", "anonymous": "y"})
    assert _answers(app) == 1
    page = bo.get(f"/rounds/{world.round_id}/retrospective").get_data(as_text=True)
    assert "Second thoughts" in page and "The open questions" not in page


def test_a_rating_out_of_range_is_refused_on_its_field(app: Flask, world: World) -> None:
    bo = _signed_in(app, "bo@example.org")
    response = bo.post_form(f"/rounds/{world.round_id}/retrospective", {**ANSWER, "fairness": "9"})
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert _answers(app) == 0


def test_a_round_not_closed_has_no_retrospective(app: Flask, world: World) -> None:
    ana = _signed_in(app, "ana@example.org")
    page = ana.get(f"/rounds/{world.open_round_id}/retrospective")
    assert "opens once the round is closed" in page.get_data(as_text=True)
    response = ana.post_form(f"/rounds/{world.open_round_id}/retrospective", ANSWER)
    assert response.status_code == 409
    assert _answers(app) == 0


def test_someone_outside_the_circle_gets_nothing(app: Flask, world: World) -> None:
    out = _signed_in(app, "out@example.org")
    assert out.get(f"/rounds/{world.round_id}/retrospective").status_code == 404
    assert out.post_form(f"/rounds/{world.round_id}/retrospective", ANSWER).status_code == 404
    assert _answers(app) == 0


def test_the_new_round_form_shows_the_last_retrospectives_points(app: Flask, world: World) -> None:
    _signed_in(app, "bo@example.org").post_form(f"/rounds/{world.round_id}/retrospective", ANSWER)
    page = _signed_in(app, "ana@example.org").get(f"/circles/{world.circle_id}/rounds/new").get_data(as_text=True)
    assert "What the circle said after “Spring”" in page
    assert "Longer deliberation" in page and "fairness 4.0" in page


def test_the_api_answers_and_summarises_with_the_same_rules(app: Flask, world: World) -> None:
    client: Client = app.test_client()  # type: ignore[assignment]
    url = f"/api/v1/rounds/{world.round_id}/retrospective"
    token = world.tokens["ana"]
    body = {"worked": "Clear deadlines", "change": "More time", "fairness": 5, "effort": 2, "anonymous": True}
    answered = client.json_call("PUT", url, body, token=token)
    assert answered.status_code == 200, answered.get_json()
    assert answered.get_json()["anonymous"] is True
    summary = client.json_call("GET", url, token=token).get_json()
    assert summary["open"] is True and summary["count"] == 1
    assert summary["fairness"] == {"mean": "5.0", "distribution": [0, 0, 0, 0, 1]}
    assert summary["change"] == [{"text": "More time", "name": None}]
    assert summary["mine"]["worked"] == "Clear deadlines"
    bad = client.json_call("PUT", url, {**body, "effort": 0}, token=token)
    assert bad.status_code == 422 and "effort" in str(bad.get_json())
    not_closed = client.json_call("PUT", f"/api/v1/rounds/{world.open_round_id}/retrospective", body, token=token)
    assert not_closed.status_code == 409
    assert _answers(app) == 1
