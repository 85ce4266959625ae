"""E-mail notices, sent only once the change they tell about is committed.

Services queue notices in the unit of work (fundcircle/unit_of_work.py): they are sent after the commit, and a
rollback drops them, so nobody hears of a change that did not happen. A failing mail server is logged and never
fails the request.
"""

from __future__ import annotations

from typing import Protocol

from fundcircle.mail import send_mail
from fundcircle.unit_of_work import after_commit


class Recipient(Protocol):
    """A person who may be told (an `auth.models.User`)."""

    email: str
    email_notices: bool


def queue_notice(user: Recipient, subject: str, body: str) -> None:
    """Tell `user` by e-mail after the commit, unless they turned notices off; one notice per person and subject,
    since a phase change tells thousands of people in a large circle."""
    if not user.email_notices:
        return
    to = user.email
    after_commit(lambda: _send(to, subject, body), key=("notice", to, subject))


def _send(to: str, subject: str, body: str) -> None:
    send_mail(to, subject, body)
