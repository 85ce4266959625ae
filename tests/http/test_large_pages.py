"""Pages of a large circle show a page of their lists at a time, in as many queries as for a small one."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event, insert, select

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_round, make_user


def _queries(app: Flask, client: Client, path: str) -> int:
    with app.app_context():
        engine = db.engine
    seen: list[Any] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def _circle(app: Flask) -> tuple[int, int, int, str]:
    with app.app_context():
        admin = make_user(name="Ana")
        circle = make_circle(admin)
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        return circle.id, round_.id, admin.id, admin.email


def _add_proposals(app: Flask, round_id: int, author_id: int, count: int) -> None:
    with app.app_context():
        now = utcnow()
        ids = db.session.scalars(
            insert(Proposal).returning(Proposal.id),
            [{"round_id": round_id, "author_id": author_id, "status": "submitted", "current_version": 1,
              "created_at": now, "submitted_at": now} for _ in range(count)],
        ).all()  # fmt: skip
        db.session.execute(
            insert(ProposalVersion),
            [{"proposal_id": pid, "number": 1, "title": f"Bulk {pid}", "summary": "s", "body": "b", "body_html": "b",
              "amount_minor": 1000, "currency": "EUR", "category": "Tools", "payee_slug": "p", "change_note": "",
              "created_by_id": author_id} for pid in ids],
        )  # fmt: skip
        db.session.commit()


def test_the_round_page_lists_a_hundred_proposals_at_a_time_in_the_same_queries(app: Flask, client: Client) -> None:
    _, round_id, admin_id, email = _circle(app)
    _add_proposals(app, round_id, admin_id, 3)
    client.login(email)
    few = _queries(app, client, f"/rounds/{round_id}")
    _add_proposals(app, round_id, admin_id, 150)
    assert _queries(app, client, f"/rounds/{round_id}") == few
    first = client.get(f"/rounds/{round_id}?sort=amount").get_data(as_text=True)
    second = client.get(f"/rounds/{round_id}?sort=amount&page=2").get_data(as_text=True)
    assert first.count("<li>") - second.count("<li>") == 100 - 53
    assert "More proposals" in first and "More proposals" not in second and "Previous proposals" in second


def test_the_ledger_page_needs_no_query_per_member(app: Flask, client: Client) -> None:
    from fundcircle.auth.models import User
    from fundcircle.circles.models import Circle

    circle_id, _, _, email = _circle(app)
    client.login(email)
    few = _queries(app, client, f"/circles/{circle_id}/ledger")
    with app.app_context():
        circle = db.session.get(Circle, circle_id)
        ana = db.session.scalar(select(User).where(User.email == email))
        assert circle is not None and ana is not None
        for _ in range(5):
            add_member(circle, make_user(), ["member"], by=ana)
    assert _queries(app, client, f"/circles/{circle_id}/ledger") == few
