"""E-mail notices, sent only once the change they tell about is committed.

Services queue notices in the unit of work (fundcircle/unit_of_work.py): they are sent after the commit, and a
rollback drops them, so nobody hears of a change that did not happen. A failing mail server is logged and never
fails the request.

Every notice about a circle ends with the circle's ledger checkpoint (its chain's count and head hash, as committed
when the mail is sent): whoever keeps the mail holds a point the ledger must still pass through, which
`flask ledger verify --checkpoint COUNT:HASH` checks. A history recomputed after an edit, or entries cut off the end,
can only be told from the real one by such a copy kept outside the server.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select

from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerChain
from fundcircle.mail import send_mail
from fundcircle.unit_of_work import after_commit


class Recipient(Protocol):
    """A person who may be told (an `auth.models.User`)."""

    email: str
    email_notices: bool


def queue_notice(user: Recipient, subject: str, body: str, *, circle_id: int | None) -> None:
    """Tell `user` by e-mail after the commit, unless they turned notices off; one notice per person and subject,
    since a phase change tells thousands of people in a large circle. `circle_id` is the circle the notice is
    about, whose ledger checkpoint the mail carries (None: none)."""
    if not user.email_notices:
        return
    to = user.email
    after_commit(lambda: _send(to, subject, body, circle_id), key=("notice", to, subject))


def checkpoint_of(circle_id: int) -> tuple[int, str] | None:
    """The circle's ledger checkpoint as committed now: (entries in its chain, the last one's hash)."""
    row = db.session.execute(
        select(LedgerChain.head_seq, LedgerChain.head_hash).where(LedgerChain.circle_id == circle_id)
    ).one_or_none()
    return (row.head_seq, row.head_hash) if row is not None else None


def checkpoint_paragraph(checkpoint: tuple[int, str]) -> str:
    count, digest = checkpoint
    return (
        f"Ledger checkpoint: {count}:{digest}\n"
        "Keep this mail: the circle's ledger must always pass through this point, which anyone can check with\n"
        f"flask ledger verify --checkpoint {count}:{digest}\n"
    )


def _send(to: str, subject: str, body: str, circle_id: int | None) -> None:
    # Read after the commit, so the checkpoint includes the change this notice tells about.
    checkpoint = checkpoint_of(circle_id) if circle_id is not None else None
    if checkpoint is not None:
        body = f"{body.rstrip()}\n\n--\n{checkpoint_paragraph(checkpoint)}"
    send_mail(to, subject, body)
