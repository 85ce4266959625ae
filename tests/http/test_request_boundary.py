"""One commit per request, by construction: the request boundary commits what a view changed when it answers
normally, and rolls everything back otherwise, ledger entries and queued e-mail included; a safe request writes
nothing. These tests add routes that call the real services and then fail, as a bug after a service call would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Blueprint, Flask, redirect
from flask_login import current_user
from sqlalchemy import func, select

from fundcircle.access import ANY_MEMBER, requires
from fundcircle.db import utcnow
from fundcircle.deliberation.models import Comment
from fundcircle.deliberation.services import add_comment
from fundcircle.errors import Conflict
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.services import advance_round
from fundcircle.unit_of_work import refuse
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user
from tests.smtp import Inbox, deliver_waiting, running_smtp


def _failing_routes() -> Blueprint:
    """Routes that comment through the real service (which writes a ledger entry and queues an e-mail to the
    proposal's author), then fail in the ways a view can."""
    bp = Blueprint("failing", __name__)

    def comment(proposal_id: int) -> None:
        proposal = db.session.get(Proposal, proposal_id)
        add_comment(current_user, proposal, "Written, then lost", parent_id=None, question=False, now=utcnow())

    @bp.route("/test/proposals/<int:proposal_id>/comment-then-crash", methods=["POST"])
    @requires(ANY_MEMBER)
    def comment_then_crash(proposal_id: int) -> Any:
        comment(proposal_id)
        raise RuntimeError("a bug after the service call")

    @bp.route("/test/proposals/<int:proposal_id>/comment-then-refuse", methods=["POST"])
    @requires(ANY_MEMBER)
    def comment_then_refuse(proposal_id: int) -> Any:
        comment(proposal_id)
        raise Conflict("refused after the service call")

    @bp.route("/test/proposals/<int:proposal_id>/comment-then-redirect-refused", methods=["POST"])
    @requires(ANY_MEMBER)
    def comment_then_redirect_refused(proposal_id: int) -> Any:
        comment(proposal_id)
        refuse()  # a button refused with a message and a redirect: the page answers 302, nothing is kept
        return redirect("/")

    @bp.route("/test/proposals/<int:proposal_id>/comment", methods=["POST"])
    @requires(ANY_MEMBER)
    def comment_and_succeed(proposal_id: int) -> Any:
        comment(proposal_id)
        return redirect("/")

    @bp.route("/test/proposals/<int:proposal_id>/comment-on-a-get")
    @requires(ANY_MEMBER)
    def comment_on_a_get(proposal_id: int) -> Any:
        comment(proposal_id)
        return "written on a GET"

    return bp


@pytest.fixture
def world(make_app: Any) -> Iterator[tuple[Flask, Inbox, int, str]]:
    """A proposal whose author follows it, and a member who comments on it, with mail going to a real SMTP server."""
    with running_smtp() as (port, inbox):
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        app.register_blueprint(_failing_routes())
        with app.app_context():
            admin = make_user()
            circle = make_circle(admin)
            author, member = make_user(), make_user()
            add_member(circle, author, ["member"], by=admin)
            add_member(circle, member, ["member"], by=admin)
            round_ = make_round(circle, admin)
            advance_round(admin, round_, "proposals", utcnow())
            db.session.commit()
            proposal_id = make_proposal(round_, author).id
            member_email = member.email
        yield app, inbox, proposal_id, member_email


def _counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        comments = db.session.scalar(select(func.count()).select_from(Comment)) or 0
        entries = db.session.scalar(select(func.count()).select_from(LedgerEntry)) or 0
        return comments, entries


def _client(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


@pytest.mark.parametrize(
    ("route", "status"),
    [("comment-then-crash", 500), ("comment-then-refuse", 409), ("comment-then-redirect-refused", 302)],
)
def test_an_error_after_a_service_call_leaves_the_database_as_it_was_and_sends_nothing(
    world: tuple[Flask, Inbox, int, str], route: str, status: int
) -> None:
    app, inbox, proposal_id, email = world
    client = _client(app, email)
    before = _counts(app)
    deliver_waiting(app)  # what setting up the world committed
    inbox.clear()
    response = client.post_form(f"/test/proposals/{proposal_id}/{route}")
    assert response.status_code == status
    assert _counts(app) == before, "the comment and its ledger entry were rolled back together"
    assert inbox.messages == [], "nobody hears of a change that did not happen"


def test_a_view_that_answers_normally_is_committed_and_its_mail_sent_after(
    world: tuple[Flask, Inbox, int, str],
) -> None:
    app, inbox, proposal_id, email = world
    client = _client(app, email)
    comments, entries = _counts(app)
    deliver_waiting(app)  # what setting up the world committed
    inbox.clear()
    assert client.post_form(f"/test/proposals/{proposal_id}/comment").status_code == 302
    assert _counts(app) == (comments + 1, entries + 1)
    assert len(inbox.messages) == 1 and "New comment" in str(inbox.messages[0]["Subject"])


def test_a_get_that_writes_is_refused_under_test_and_keeps_nothing(world: tuple[Flask, Inbox, int, str]) -> None:
    app, inbox, proposal_id, email = world
    client = _client(app, email)
    before = _counts(app)
    deliver_waiting(app)  # what setting up the world committed
    inbox.clear()
    with pytest.raises(RuntimeError, match="a safe request must change nothing"):
        client.get(f"/test/proposals/{proposal_id}/comment-on-a-get")
    assert _counts(app) == before
    assert inbox.messages == []
