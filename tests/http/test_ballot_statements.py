"""One ballot save, counted: statements and transactions of an API save and of a page save (issue 22)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user


@dataclass
class Seen:
    statements: list[str] = field(default_factory=list)
    ends: list[str] = field(default_factory=list)


@contextmanager
def counting(engine: Engine) -> Iterator[Seen]:
    seen = Seen()

    def statement(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        seen.statements.append(text)

    def commit(_conn: Any) -> None:
        seen.ends.append("COMMIT")

    def rollback(_conn: Any) -> None:
        seen.ends.append("ROLLBACK")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    event.listen(engine, "rollback", rollback)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
        event.remove(engine, "rollback", rollback)


@dataclass(frozen=True)
class World:
    round_id: int
    proposal_ids: list[int]
    email: str
    token: str


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        voter = make_user(name="Bea Circle")
        circle = make_circle(admin)
        add_member(circle, voter, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        ids = [make_proposal(round_, admin, title=f"Idea {n}", amount_minor=10_000).id for n in range(3)]
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
        return World(round_.id, ids, voter.email, make_token(voter))


def _engine(app: Flask) -> Engine:
    with app.app_context():
        return db.engine


def test_an_api_ballot_save(app: Flask, client: Client, world: World) -> None:
    url = f"/api/v1/rounds/{world.round_id}/ballot"
    body = {"votes": {str(world.proposal_ids[0]): 2, str(world.proposal_ids[1]): 1}}
    assert client.json_call("PUT", url, body, token=world.token).status_code == 200
    body = {"votes": {str(world.proposal_ids[0]): 3}}
    with counting(_engine(app)) as seen:
        response = client.json_call("PUT", url, body, token=world.token)
    assert response.status_code == 200, response.get_json()
    print("\nAPI", len(seen.statements), seen.ends)
    for text in seen.statements:
        print("  ", " ".join(text.split())[:160])


def test_a_page_ballot_save(app: Flask, world: World) -> None:
    voter: Client = app.test_client()  # type: ignore[assignment]
    voter.login(world.email)
    url = f"/rounds/{world.round_id}/ballot"
    form = {f"votes-{pid}": "0" for pid in world.proposal_ids}
    form[f"votes-{world.proposal_ids[0]}"] = "2"
    form["action"] = "save"
    assert voter.post_form(url, form).status_code == 302
    form["csrf_token"] = voter.csrf_token()
    form[f"votes-{world.proposal_ids[1]}"] = "1"
    with counting(_engine(app)) as seen:
        response = voter.post(url, data=form)
    assert response.status_code == 302
    print("\nPAGE", len(seen.statements), seen.ends)
    for text in seen.statements:
        print("  ", " ".join(text.split())[:160])
