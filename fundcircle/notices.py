"""E-mail notices, sent only once the change they tell about is committed.

Services queue notices on the database session; a commit moves them to the request's outbox and a rollback drops
them, so nobody hears of a change that did not happen. They are sent after the response is ready (and by CLI
commands after their commit); a failing mail server is logged and never fails the request.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from fundcircle.auth.models import User
from fundcircle.extensions import db
from fundcircle.mail import send_mail

_OUTBOX = "fundcircle_outbox"
_QUEUED = "fundcircle_outbox_keys"


def queue_notice(user: User, subject: str, body: str) -> None:
    """Tell `user` by e-mail after the commit, unless they turned notices off."""
    if not user.email_notices:
        return
    outbox: list[tuple[str, str, str]] = db.session.info.setdefault(_OUTBOX, [])
    # One notice per person and event; a set, since a phase change tells thousands of people in a large circle.
    queued: set[tuple[str, str]] = db.session.info.setdefault(_QUEUED, set())
    if (user.email, subject) in queued:
        return
    queued.add((user.email, subject))
    outbox.append((user.email, subject, body))


@event.listens_for(Session, "after_commit")
def _ready_after_commit(session: Session) -> None:
    outbox = session.info.pop(_OUTBOX, None)
    session.info.pop(_QUEUED, None)
    if outbox and has_app_context():
        g.setdefault("ready_notices", []).extend(outbox)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_OUTBOX, None)
    session.info.pop(_QUEUED, None)


def send_ready_notices() -> int:
    """Send what committed changes queued; return how many the mail server took."""
    sent = 0
    for to, subject, body in g.pop("ready_notices", []):
        sent += send_mail(to, subject, body)
    return sent


def init_notices(app: Flask) -> None:
    @app.after_request
    def send_after_request(response: Any) -> Any:
        send_ready_notices()
        return response
